// Applies each message's effect once, though the message may come again.
//
// SQS (and any at-least-once transport) can deliver a message twice: a
// consumer that crashed before deleting it, a visibility timeout that ran out
// under a slow handler. Its dedup id is the same each time, so a store of the
// ids already applied turns at-least-once delivery into an exactly-once
// effect:
//
//   courier::memory_idempotent_store applied;
//   auto outcome = applied.apply_once(message.dedup_id, [&] { ship(parcel); });
//   // applied: shipped now; already_applied: a redelivery, nothing done;
//   // busy: another consumer is applying it right now (nack, it comes back)
//
// The key is marked applied only after the effect returns: if the effect
// throws, the key is released and the exception propagates, so the
// redelivery applies it. (Claiming first and applying after would lose the
// effect of a consumer that dies in between.) A crash between the effect and
// the mark is the one gap an in-memory store cannot close; a durable store
// that records the key in the same transaction as the effect can (see the
// durability issue's SQLite store). idempotent_store is the interface such a
// store implements.
#pragma once

#include "courier/clock.hpp"
#include "courier/detail/expiring_map.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace courier {
inline namespace v1 {

enum class apply_outcome {
  applied,          // the effect ran now
  already_applied,  // the key was applied before: nothing ran
  busy,             // another caller is applying this key right now: nothing ran
};

class idempotent_store {
 public:
  virtual ~idempotent_store() = default;

  // Runs effect() unless key was applied (see the header comment).
  // Thread-safe when the store is.
  template <class Effect>
  apply_outcome apply_once(std::string_view key, Effect&& effect) {
    const apply_outcome claimed = begin(key);
    if (claimed != apply_outcome::applied) return claimed;
    try {
      effect();
    } catch (...) {
      abort(key);
      throw;
    }
    commit(key);
    return apply_outcome::applied;
  }

  // The steps apply_once takes, for stores to implement. begin returns
  // applied when the caller now holds key and must apply it, then commit or
  // abort.
  virtual apply_outcome begin(std::string_view key) = 0;
  virtual void commit(std::string_view key) = 0;
  virtual void abort(std::string_view key) = 0;
};

// Keeps applied keys in memory for retention after they were applied (SQS
// keeps a message at most 14 days; choose the longest redelivery you must
// survive). Thread-safe.
class memory_idempotent_store final : public idempotent_store {
 public:
  explicit memory_idempotent_store(std::chrono::milliseconds retention = std::chrono::hours(24),
                                   std::shared_ptr<const clock> time_source = nullptr)
      : clock_(time_source ? std::move(time_source) : steady_clock::shared()), applied_(retention) {}

  apply_outcome begin(std::string_view key) override {
    std::lock_guard lock(mutex_);
    applied_.expire(clock_->now());
    const std::string text(key);
    if (applied_.find(text) != nullptr) return apply_outcome::already_applied;
    if (!in_progress_.insert(text).second) return apply_outcome::busy;
    return apply_outcome::applied;
  }

  void commit(std::string_view key) override {
    std::lock_guard lock(mutex_);
    const std::string text(key);
    in_progress_.erase(text);
    applied_.insert(text, true, clock_->now());
  }

  void abort(std::string_view key) override {
    std::lock_guard lock(mutex_);
    in_progress_.erase(std::string(key));
  }

  // Keys applied within the retention (for tests and dashboards).
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return applied_.size();
  }

 private:
  const std::shared_ptr<const clock> clock_;
  mutable std::mutex mutex_;
  detail::expiring_map<std::string, bool> applied_;
  std::unordered_set<std::string> in_progress_;
};

}  // namespace v1
}  // namespace courier
