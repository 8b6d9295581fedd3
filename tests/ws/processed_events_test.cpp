// processed_events: remembers what was handled, forgets the oldest first.
#include "processed_events.hpp"

#include <gtest/gtest.h>

namespace {

using courier::ws::detail::processed_events;

TEST(processed_events, a_handled_id_is_known_until_capacity_newer_ones_push_it_out) {
  processed_events seen(3);
  seen.remember("a");
  seen.remember("b");
  seen.remember("a");  // known already: not counted twice
  seen.remember("c");
  EXPECT_TRUE(seen.contains("a"));
  seen.remember("d");
  EXPECT_FALSE(seen.contains("a"));
  EXPECT_TRUE(seen.contains("b"));
  EXPECT_TRUE(seen.contains("d"));
  EXPECT_EQ(seen.size(), 3u);
}

}  // namespace
