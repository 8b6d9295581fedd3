// Runs a bus's posted events when the test says so.
//
// Code that post()s is asynchronous; testing it with a worker thread means
// waiting and hoping. Build the bus with executor_kind::manual and hand it
// to a stepper: nothing posted runs until the test calls run_one() or
// run_all(), on the test's own thread, so each step can be checked.
//
//   courier::bus bus({.executor = courier::executor_kind::manual});
//   courier::testing::stepper steps(bus);
//   bus.post(pickup{7});
//   EXPECT_EQ(steps.run_one(), true);   // the pickup's observers ran, nothing else
//   steps.run_all();                    // and whatever they posted in turn
#pragma once

#include "courier/error.hpp"

#include <fmt/format.h>

#include <cstddef>

namespace courier {
inline namespace v1 {
namespace testing {

template <class Bus>
class stepper {
 public:
  // bus must use executor_kind::manual (run_one() says so otherwise).
  explicit stepper(Bus& bus) : bus_(bus) {}

  // Runs the oldest queued event's observers. Returns false when nothing
  // was queued.
  bool run_one() { return bus_.run_pending(1) == 1; }

  // Runs queued events, and the ones their observers post, until the queue
  // is empty; returns how many ran. Throws courier::error (would_deadlock)
  // past limit events: observers that keep posting each other forever are a
  // bug the test should see, not hang on.
  std::size_t run_all(std::size_t limit = 1'000'000) {
    std::size_t ran = 0;
    while (run_one()) {
      if (++ran > limit) {
        throw error(errc::would_deadlock,
                    fmt::format("stepper::run_all(): still running after {} events; do observers post "
                                "each other in a loop?",
                                limit));
      }
    }
    return ran;
  }

 private:
  Bus& bus_;
};

}  // namespace testing
}  // namespace v1
}  // namespace courier
