// The receipt inbox (see courier/sqs/receipt_inbox.hpp): a thread reading
// the reply queue, a thread closing tracked messages at their deadlines.
#include "courier/sqs/receipt_inbox.hpp"

#include "courier/aws/random_id.hpp"
#include "courier/error.hpp"
#include "courier/sqs/detail/failure_pause.hpp"
#include "receipt_tracking.hpp"

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace courier {
inline namespace v1 {
namespace sqs {

const std::string& delivery_receipts::id() const { return state_->id; }
delivery_receipt delivery_receipts::first() const { return state_->first(); }
delivery_receipt delivery_receipts::from(const std::string& consumer) const { return state_->from(consumer); }
std::map<std::string, delivery_outcome> delivery_receipts::wait_all(
    const std::vector<std::string>& consumers) const {
  return state_->wait_all(consumers);
}
std::vector<remote_receipt> delivery_receipts::received() const { return state_->received(); }

struct receipt_inbox::impl {
  client& sqs;
  receipt_inbox_options options;
  bool own_queue = false;
  std::string url;

  mutable std::mutex mutex;
  std::condition_variable deadline_moved;
  mutable std::condition_variable counted;  // after each message read: wait_for_stats()
  std::unordered_map<std::string, std::shared_ptr<detail::receipt_tracking>> tracked;
  std::multimap<std::chrono::steady_clock::time_point, std::string> deadlines;
  counters seen;
  bool stopping = false;

  std::atomic<bool> stop_reading{false};
  std::thread reader;
  std::thread closer;

  impl(client& c, receipt_inbox_options o) : sqs(c), options(std::move(o)) {
    own_queue = options.queue_name.empty();
    if (own_queue) options.queue_name = "courier-receipts-" + aws::random_id();
    url = sqs.create_queue(
        options.queue_name,
        {{"MessageRetentionPeriod", std::to_string(std::max<long long>(60, options.retention.count()))}});
    reader = std::thread([this] { read(); });
    closer = std::thread([this] { close_at_deadlines(); });
  }

  ~impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    stop_reading.store(true, std::memory_order_release);
    deadline_moved.notify_all();
    reader.join();
    closer.join();
    for (auto& [id, state] : tracked) state->close(delivery_outcome::abandoned);
    if (own_queue) {
      try {
        sqs.delete_queue(url);
      } catch (const std::exception& e) {
        fmt::print(stderr, "courier: receipt inbox could not delete its queue {}: {}\n", url, e.what());
      }
    }
  }

  delivery_receipts track(const std::string& id, std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) timeout = options.default_timeout;
    std::unique_lock lock(mutex);
    if (auto found = tracked.find(id); found != tracked.end()) return delivery_receipts(found->second);
    if (tracked.size() >= options.max_tracked) {
      throw courier::error(
          errc::channel_full,
          fmt::format("sqs::receipt_inbox: {} messages tracked already (max_tracked); {} not sent",
                      tracked.size(), id));
    }
    auto state = std::make_shared<detail::receipt_tracking>(id);
    tracked.emplace(id, state);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const bool earliest = deadlines.empty() || deadline < deadlines.begin()->first;
    deadlines.emplace(deadline, id);
    lock.unlock();
    if (earliest) deadline_moved.notify_all();
    return delivery_receipts(std::move(state));
  }

  // The reader thread: long polls, each receipt to its tracked message,
  // every message read deleted (a receipt is read once, whatever it was).
  void read() {
    // Between receives that fail: a server that is down is not asked in a loop.
    detail::failure_pause pause;
    while (!stop_reading.load(std::memory_order_acquire)) {
      std::vector<received_message> batch;
      try {
        batch = sqs.receive_message(
            url, {.max_messages = 10, .wait = std::chrono::seconds(20), .cancel = &stop_reading});
        pause.after_success();
      } catch (const std::exception& e) {
        if (stop_reading.load(std::memory_order_acquire)) return;
        fmt::print(stderr, "courier: receipt inbox could not read {}: {}\n", url, e.what());
        pause.after_failure(stop_reading);
        continue;
      }
      std::vector<receipt_entry> done;
      for (const auto& message : batch) {
        take(message);
        done.push_back({std::to_string(done.size()), message.receipt_handle, {}});
      }
      if (done.empty()) continue;
      try {
        sqs.delete_message_batch(url, done);
      } catch (const std::exception& e) {
        // Read again after the visibility timeout: the first receipt of
        // each consumer is kept, so reading one twice changes nothing.
        fmt::print(stderr, "courier: receipt inbox could not delete what it read: {}\n", e.what());
      }
    }
  }

  void take(const received_message& message) {
    count(message);
    counted.notify_all();
  }

  void count(const received_message& message) {
    const auto receipt = decode_receipt(message);
    // Counted under the same lock as the receipt is added: whoever its
    // receipt wakes reads counters that include it. (A state's lock is
    // never held while this one is taken.)
    std::lock_guard lock(mutex);
    if (!receipt) {
      ++seen.malformed;
      return;
    }
    const auto found = tracked.find(receipt->id);
    if (found == tracked.end()) {
      ++seen.unknown;
      return;
    }
    ++(found->second->add(*receipt) ? seen.receipts : seen.repeated);
  }

  // The counters now. Caller holds mutex.
  counters snapshot() const {
    counters out = seen;
    out.tracked = tracked.size();
    return out;
  }

  // The closer thread: at each deadline, what is still awaited resolves
  // timed_out and the id is forgotten.
  void close_at_deadlines() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (deadlines.empty()) {
        deadline_moved.wait(lock);
        continue;
      }
      const auto next = deadlines.begin()->first;
      if (std::chrono::steady_clock::now() < next) {
        deadline_moved.wait_until(lock, next);
        continue;
      }
      const std::string id = deadlines.begin()->second;
      deadlines.erase(deadlines.begin());
      auto found = tracked.find(id);
      if (found == tracked.end()) continue;
      auto state = std::move(found->second);
      tracked.erase(found);
      lock.unlock();
      state->close(delivery_outcome::timed_out);
      lock.lock();
    }
  }
};

receipt_inbox::receipt_inbox(client& sqs, receipt_inbox_options options)
    : impl_(std::make_unique<impl>(sqs, std::move(options))) {}

receipt_inbox::~receipt_inbox() = default;

const std::string& receipt_inbox::queue_url() const noexcept { return impl_->url; }

delivery_receipts receipt_inbox::track(const std::string& id, std::chrono::milliseconds timeout) {
  return impl_->track(id, timeout);
}

receipt_inbox::counters receipt_inbox::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->snapshot();
}

bool receipt_inbox::wait_for_stats(const std::function<bool(const counters&)>& condition,
                                   std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->counted.wait_for(lock, timeout, [&] { return condition(impl_->snapshot()); });
}

}  // namespace sqs
}  // namespace v1
}  // namespace courier
