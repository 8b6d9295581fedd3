// The pause a polling loop takes after a failed receive
// (courier/sqs/detail/failure_pause.hpp): a sleeper that records instead
// of sleeping, so the test takes no time.
#include "courier/sqs/detail/failure_pause.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

namespace {

using namespace std::chrono_literals;
using courier::sqs::detail::failure_pause;

struct recorded {
  std::vector<std::chrono::milliseconds> slices;
  std::chrono::milliseconds total() const {
    std::chrono::milliseconds sum{0};
    for (auto s : slices) sum += s;
    return sum;
  }
};

TEST(failure_pause, doubles_while_receives_fail_up_to_its_cap_and_starts_again_after_a_success) {
  recorded slept;
  failure_pause pause(100ms, 1s, [&](std::chrono::milliseconds slice) { slept.slices.push_back(slice); });
  const std::atomic<bool> stop{false};
  std::vector<std::chrono::milliseconds> pauses;
  for (int i = 0; i < 6; ++i) pauses.push_back(pause.after_failure(stop));
  EXPECT_EQ(pauses, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms}));
  EXPECT_EQ(slept.total(), 3500ms);
  for (auto slice : slept.slices) EXPECT_LE(slice, 50ms);  // stop is looked at every 50 ms at most
  pause.after_success();
  EXPECT_EQ(pause.after_failure(stop), 100ms);
}

TEST(failure_pause, a_stop_ends_the_pause_at_the_next_slice) {
  recorded slept;
  std::atomic<bool> stop{false};
  failure_pause pause(1s, 5s, [&](std::chrono::milliseconds slice) {
    slept.slices.push_back(slice);
    if (slept.slices.size() == 2) stop = true;  // asked to stop while pausing
  });
  pause.after_failure(stop);
  EXPECT_EQ(slept.slices.size(), 2u);
}

}  // namespace
