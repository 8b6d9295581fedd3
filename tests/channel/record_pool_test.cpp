// record_pool: records found by id, and settled ones reused clean, up to a bound.
#include "courier/detail/channel/record_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct item {
  std::uint64_t id = 0;
  std::string body;
  std::uint64_t table_key() const noexcept { return id; }
};

using pool = courier::detail::record_pool<item>;

TEST(record_pool, records_are_found_by_id_until_removed) {
  pool records;
  auto fresh = records.make();
  fresh->id = 7;
  item& added = records.add(std::move(fresh));
  EXPECT_EQ(records.find(7), &added);
  EXPECT_EQ(records.find(8), nullptr);
  EXPECT_EQ(records.size(), 1u);
  records.remove(added);
  EXPECT_EQ(records.find(7), nullptr);
  EXPECT_EQ(records.size(), 0u);
}

TEST(record_pool, a_removed_record_comes_back_from_make_reset_to_its_default) {
  pool records;
  auto fresh = records.make();
  item* const memory = fresh.get();
  fresh->id = 1;
  fresh->body = std::string(1000, 'x');
  records.remove(records.add(std::move(fresh)));
  EXPECT_EQ(records.spare(), 1u);
  auto reused = records.make();
  EXPECT_EQ(reused.get(), memory);
  EXPECT_EQ(reused->id, 0u);
  EXPECT_TRUE(reused->body.empty());
  EXPECT_EQ(records.spare(), 0u);
}

TEST(record_pool, at_most_max_spare_records_are_kept) {
  pool records;
  std::vector<item*> added;
  for (std::uint64_t id = 1; id <= pool::max_spare + 10; ++id) {
    auto fresh = records.make();
    fresh->id = id;
    added.push_back(&records.add(std::move(fresh)));
  }
  for (item* each : added) records.remove(*each);
  EXPECT_EQ(records.spare(), pool::max_spare);
}

TEST(record_pool, for_each_visits_every_record) {
  pool records;
  for (std::uint64_t id = 1; id <= 5; ++id) {
    auto fresh = records.make();
    fresh->id = id;
    records.add(std::move(fresh));
  }
  std::uint64_t sum = 0;
  records.for_each([&](const item& each) { sum += each.id; });
  EXPECT_EQ(sum, 15u);
}

}  // namespace
