// courier::consumer: the threads behind channel<T>::consume().
//
// Move-only RAII: destroying it (or stop()) asks its threads to finish the
// message in hand, wakes them if they wait for messages, and joins them. It
// knows nothing of the channel's message type: the channel hands it the
// thread bodies and a way to wake its waiting receivers.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {

class consumer {
 public:
  consumer() = default;  // runs nothing

  // Starts count threads running body(stop_flag); wake() must make a thread
  // blocked in a receive notice the flag.
  consumer(std::size_t count, std::function<void(const std::atomic<bool>&)> body, std::function<void()> wake)
      : state_(std::make_unique<state>()) {
    state_->wake = std::move(wake);
    state_->threads.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      state_->threads.emplace_back([body, flag = &state_->stop] { body(*flag); });
    }
  }

  consumer(consumer&&) noexcept = default;
  consumer& operator=(consumer&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;
  ~consumer() { stop(); }

  // Stops and joins the threads; each finishes (acks or nacks) the message it
  // is handling first. Idempotent. Not thread-safe on one consumer; must not
  // be called from one of its own handlers.
  void stop() noexcept {
    if (!state_) return;
    state_->stop.store(true, std::memory_order_release);
    state_->wake();
    for (auto& thread : state_->threads) {
      if (thread.joinable()) thread.join();
    }
    state_.reset();
  }

  // True until stop(). Not thread-safe on one consumer.
  bool running() const noexcept { return state_ != nullptr; }

 private:
  struct state {
    std::atomic<bool> stop{false};
    std::function<void()> wake;
    std::vector<std::thread> threads;
  };
  std::unique_ptr<state> state_;  // stable address for the threads' flag
};

}  // namespace v1
}  // namespace courier
