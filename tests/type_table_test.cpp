#include "courier/detail/type_table.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace {

using table = courier::detail::type_table<int>;

TEST(type_table, finds_only_what_was_inserted) {
  table types;
  EXPECT_EQ(types.find(0), nullptr);
  EXPECT_EQ(types.find(700), nullptr);
  types.insert(700, std::make_shared<int>(7));
  ASSERT_NE(types.find(700), nullptr);
  EXPECT_EQ(*types.find(700), 7);
  EXPECT_EQ(types.find(699), nullptr);
  EXPECT_EQ(*types.owner(700), 7);
  EXPECT_EQ(types.owner(1), nullptr);
}

TEST(type_table, refuses_an_index_beyond_its_size) {
  table types;
  const auto too_far = table::chunk_size * table::chunk_count;
  EXPECT_EQ(types.find(too_far), nullptr);
  try {
    types.insert(too_far, std::make_shared<int>(1));
    FAIL() << "insert beyond the table did not throw";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::too_many_event_types);
  }
}

TEST(type_table, readers_see_entries_inserted_concurrently) {
  table types;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      for (std::size_t i = 0; i < 1000; i += 37) {
        if (const int* value = types.find(i)) {
          ASSERT_EQ(*value, static_cast<int>(i));
        }
      }
    }
  });
  for (std::size_t i = 0; i < 1000; i += 37) types.insert(i, std::make_shared<int>(static_cast<int>(i)));
  done = true;
  reader.join();
  int count = 0;
  types.for_each([&](int) { ++count; });
  EXPECT_EQ(count, 28);
}

}  // namespace
