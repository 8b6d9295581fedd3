// fifo_groups: send order per group, only the head deliverable, one place
// that links and unlinks.
#include "courier/detail/channel/fifo_groups.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct member {
  std::string group;
  std::uint64_t group_hash = 0;
  member* next_in_group = nullptr;
  member* group_tail = nullptr;
};

using groups = courier::detail::fifo_groups<member>;

member in(std::string group) {
  const std::uint64_t hash = groups::hash_of(group);
  return member{std::move(group), hash};
}

// The group's members from its head, in order.
std::vector<const member*> chain(const groups& table, const member& any) {
  std::vector<const member*> out;
  for (const member* at = table.head_of(any); at != nullptr; at = at->next_in_group) out.push_back(at);
  return out;
}

TEST(fifo_groups, the_first_member_of_a_group_is_its_head_and_the_rest_queue_behind_in_order) {
  groups table;
  member a1 = in("a"), a2 = in("a"), b1 = in("b"), a3 = in("a");
  EXPECT_TRUE(table.append(a1));
  EXPECT_FALSE(table.append(a2));
  EXPECT_TRUE(table.append(b1));
  EXPECT_FALSE(table.append(a3));
  EXPECT_EQ(chain(table, a1), (std::vector<const member*>{&a1, &a2, &a3}));
  EXPECT_EQ(chain(table, b1), (std::vector<const member*>{&b1}));
  EXPECT_EQ(table.head_of(a3)->group_tail, &a3);
  EXPECT_EQ(table.size(), 2u);
}

TEST(fifo_groups, popping_the_head_hands_over_to_the_next_member_with_the_tail) {
  groups table;
  member a1 = in("a"), a2 = in("a"), a3 = in("a");
  table.append(a1);
  table.append(a2);
  table.append(a3);
  EXPECT_EQ(table.pop_head(a1), &a2);
  EXPECT_EQ(table.head_of(a3), &a2);
  EXPECT_EQ(a2.group_tail, &a3);
  // A new member goes behind the tail the new head knows.
  member a4 = in("a");
  EXPECT_FALSE(table.append(a4));
  EXPECT_EQ(chain(table, a2), (std::vector<const member*>{&a2, &a3, &a4}));
  EXPECT_EQ(table.pop_head(a2), &a3);
  EXPECT_EQ(table.pop_head(a3), &a4);
  EXPECT_EQ(table.pop_head(a4), nullptr);
  EXPECT_EQ(table.head_of(a4), nullptr);
  EXPECT_EQ(table.size(), 0u);
  // The group starts over.
  member a5 = in("a");
  EXPECT_TRUE(table.append(a5));
}

TEST(fifo_groups, unlinking_a_member_behind_the_head_keeps_the_rest_in_order_and_the_tail_right) {
  groups table;
  member a1 = in("a"), a2 = in("a"), a3 = in("a");
  table.append(a1);
  table.append(a2);
  table.append(a3);
  table.unlink(a3);  // the tail
  EXPECT_EQ(chain(table, a1), (std::vector<const member*>{&a1, &a2}));
  EXPECT_EQ(a1.group_tail, &a2);
  member a4 = in("a");
  table.append(a4);
  table.unlink(a2);  // the middle
  EXPECT_EQ(chain(table, a1), (std::vector<const member*>{&a1, &a4}));
  EXPECT_EQ(a1.group_tail, &a4);
}

TEST(fifo_groups, groups_whose_hashes_collide_stay_apart) {
  groups table;
  member a = in("a"), b = in("b");
  b.group_hash = a.group_hash;  // force the collision
  EXPECT_TRUE(table.append(a));
  EXPECT_TRUE(table.append(b));
  EXPECT_EQ(table.head_of(a), &a);
  EXPECT_EQ(table.head_of(b), &b);
  EXPECT_EQ(table.pop_head(a), nullptr);
  EXPECT_EQ(table.head_of(b), &b);
}

}  // namespace
