// How long a consumer's handlers took, recorded without a lock: each
// consumer thread records into a histogram of its own (single writer,
// relaxed atomics), and a reader adds them up. A thread that ends hands its
// counts to the total, so the histogram never goes backwards and its
// memory does not grow with the threads a program ever started.
#pragma once

#include "courier/latency_histogram.hpp"

#include <chrono>
#include <list>
#include <mutex>

namespace courier {
inline namespace v1 {
namespace detail {

class handler_timings {
 public:
  // One consumer thread's histogram while it lives: made by the thread as
  // it starts. Thread-safe to make and destroy.
  class recorder {
   public:
    explicit recorder(handler_timings& owner) : owner_(owner) {
      std::lock_guard lock(owner_.mutex_);
      entry_ = owner_.live_.emplace(owner_.live_.end());
    }
    recorder(const recorder&) = delete;
    recorder& operator=(const recorder&) = delete;
    ~recorder() {
      std::lock_guard lock(owner_.mutex_);
      entry_->add_to(owner_.retired_);
      owner_.live_.erase(entry_);
    }

    void record(std::chrono::nanoseconds duration) noexcept { entry_->record(duration); }

   private:
    handler_timings& owner_;
    std::list<single_writer_histogram>::iterator entry_;
  };

  // Adds every thread's counts so far to out. Thread-safe.
  void add_to(latency_histogram& out) const {
    std::lock_guard lock(mutex_);
    out.merge(retired_);
    for (const auto& live : live_) live.add_to(out);
  }

 private:
  mutable std::mutex mutex_;
  std::list<single_writer_histogram> live_;
  latency_histogram retired_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
