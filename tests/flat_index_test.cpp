#include "courier/detail/flat_index.hpp"

#include "courier/detail/expiring_map.hpp"
#include "courier/detail/large_table_allocator.hpp"
#include "courier/detail/recent_ids.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>

namespace {

using courier::detail::flat_index;
using namespace std::chrono_literals;

// A deliberately bad hash: many keys share a home slot, so runs are long and
// erase has to shift entries back across them (and across the table's end).
std::uint64_t clustered(std::uint64_t key) { return (key % 7) * 0x9e3779b97f4a7c15ULL + (key % 3); }

TEST(flat_index, agrees_with_unordered_map_under_random_inserts_and_erases) {
  flat_index index;
  std::unordered_map<std::uint64_t, std::uint64_t> truth;  // key -> payload
  std::mt19937_64 random(42);
  for (int step = 0; step < 200'000; ++step) {
    const std::uint64_t key = random() % 3000;
    const auto is_key = [&](std::uint64_t payload) { return payload / 10 == key; };
    const bool present = truth.contains(key);
    if (random() % 3 != 0 && !present) {
      const std::uint64_t payload = key * 10 + random() % 10;
      index.insert(clustered(key), payload);
      truth[key] = payload;
    } else if (present) {
      ASSERT_TRUE(index.erase(clustered(key), is_key));
      truth.erase(key);
    } else {
      ASSERT_FALSE(index.erase(clustered(key), is_key));
    }
    if (step % 97 == 0) {
      for (std::uint64_t probe = 0; probe < 3000; probe += 13) {
        const auto found = index.find(clustered(probe), [&](std::uint64_t p) { return p / 10 == probe; });
        const auto expected = truth.find(probe);
        ASSERT_EQ(found, expected == truth.end() ? flat_index::npos : expected->second) << "key " << probe;
      }
    }
  }
  EXPECT_EQ(index.size(), truth.size());
  std::size_t visited = 0;
  index.for_each([&](std::uint64_t) { ++visited; });
  EXPECT_EQ(visited, truth.size());
}

// Past 2 MiB the table moves to memory placed for huge pages (see
// large_table_allocator.hpp): every entry survives each move.
TEST(flat_index, a_table_grown_past_two_megabytes_keeps_every_entry) {
  flat_index index;
  constexpr std::uint64_t entries = 300'000;  // 1 Mi slots of 16 bytes: 16 MiB
  for (std::uint64_t key = 1; key <= entries; ++key) index.insert(courier::detail::mix64(key), key);
  for (std::uint64_t key = 1; key <= entries; key += 7) {
    ASSERT_EQ(index.find(courier::detail::mix64(key), [&](std::uint64_t p) { return p == key; }), key);
  }
  EXPECT_EQ(index.size(), entries);
  courier::detail::large_table_allocator<std::uint64_t> allocator;
  const std::size_t large = (std::size_t{4} << 20) / sizeof(std::uint64_t);
  std::uint64_t* block = allocator.allocate(large);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % (std::size_t{2} << 20), 0u) << "on a 2 MiB boundary";
  block[0] = 1;
  block[large - 1] = 2;
  allocator.deallocate(block, large);
}

TEST(flat_index, a_hash_of_zero_is_a_real_entry) {
  flat_index index;
  index.insert(0, 5);
  EXPECT_EQ(index.find(0, [](std::uint64_t p) { return p == 5; }), 5U);
  EXPECT_TRUE(index.erase(0, [](std::uint64_t p) { return p == 5; }));
  EXPECT_EQ(index.find(0, [](std::uint64_t) { return true; }), flat_index::npos);
}

TEST(expiring_map, forgets_entries_after_their_lifetime_and_keeps_the_rest) {
  courier::detail::expiring_map<std::string, int> map(10s);
  const courier::clock::time_point start{};
  for (int i = 0; i < 5000; ++i)
    map.insert("key-" + std::to_string(i), i, start + std::chrono::milliseconds(i));
  map.expire(start + 10s + 2499ms);  // entries 0..2499 are due
  EXPECT_EQ(map.size(), 2500U);
  EXPECT_EQ(map.find("key-2499"), nullptr);
  ASSERT_NE(map.find("key-2500"), nullptr);
  EXPECT_EQ(*map.find("key-2500"), 2500);
  EXPECT_EQ(*map.find("key-4999"), 4999);
  map.expire(start + 1h);
  EXPECT_EQ(map.size(), 0U);
  EXPECT_EQ(map.find("key-4999"), nullptr);
}

TEST(recent_ids, remembers_for_its_lifetime_and_grows_to_keep_what_is_young) {
  courier::detail::recent_ids<int> recent(30s, 1 << 16);
  const courier::clock::time_point start{};
  for (std::uint64_t id = 1; id <= 20'000; ++id) recent.insert(id, static_cast<int>(id), start);
  // All 20,000 are younger than the lifetime, so the ring grew to hold them.
  EXPECT_GE(recent.slot_count(), 20'000U);
  ASSERT_NE(recent.find(1, start + 1s), nullptr);
  EXPECT_EQ(*recent.find(1, start + 1s), 1);
  EXPECT_EQ(*recent.find(20'000, start + 1s), 20'000);
  EXPECT_EQ(recent.find(20'001, start + 1s), nullptr);  // never recorded
  EXPECT_EQ(recent.find(1, start + 30s), nullptr);      // its lifetime is over
}

TEST(recent_ids, past_its_size_limit_it_forgets_the_oldest_instead_of_growing) {
  courier::detail::recent_ids<int> recent(30s, 4096);
  const courier::clock::time_point start{};
  for (std::uint64_t id = 1; id <= 100'000; ++id) recent.insert(id, 7, start);
  EXPECT_LE(recent.slot_count(), 4096U);
  EXPECT_EQ(recent.find(1, start), nullptr);  // overwritten: unknown, never a wrong answer
  ASSERT_NE(recent.find(100'000, start), nullptr);
  EXPECT_EQ(*recent.find(100'000, start), 7);
}

}  // namespace
