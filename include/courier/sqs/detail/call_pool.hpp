// Threads that make an sqs::channel's blocking SQS calls for its Asio
// operations (courier/sqs/asio.hpp), so that no io_context thread waits on
// HTTP. A thread starts when a call finds none idle, up to the limit; calls
// beyond it wait their turn, oldest first.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace detail {

class call_pool {
 public:
  explicit call_pool(std::size_t threads) : limit_(std::max<std::size_t>(threads, 1)) {}
  ~call_pool() { stop(); }
  call_pool(const call_pool&) = delete;
  call_pool& operator=(const call_pool&) = delete;

  // Runs call on a pool thread. Returns false, and runs nothing, once
  // stop() has begun. Thread-safe.
  bool submit(std::function<void()> call) {
    std::unique_lock lock(mutex_);
    if (stopping_) return false;
    calls_.push_back(std::move(call));
    if (idle_ == 0 && threads_.size() < limit_) {
      threads_.emplace_back([this] { run(); });
    } else {
      lock.unlock();
      ready_.notify_one();
    }
    return true;
  }

  // Refuses new calls, runs those already submitted, and joins the
  // threads. Idempotent; not from a pool thread.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      ready_.wait(lock, [this] { return stopping_ || !calls_.empty(); });
      --idle_;
      if (calls_.empty()) return;  // stopping, and nothing left to run
      auto call = std::move(calls_.front());
      calls_.pop_front();
      lock.unlock();
      call();
      lock.lock();
    }
  }

  const std::size_t limit_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> calls_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace detail
}  // namespace sqs
}  // namespace v1
}  // namespace courier
