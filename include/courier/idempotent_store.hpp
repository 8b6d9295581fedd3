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
// the mark is the one gap a store cannot close for effects elsewhere; a store
// that records the key in the same transaction as the effect can (SQLite's
// and DynamoDB's apply_in_transaction).
//
// What a claim can carry, for the stores that use it:
// - a payload (the message body): a store that keeps payload fingerprints
//   (memory, DynamoDB) refuses the same key with a different payload with
//   errc::idempotency_key_reused naming the key, never a silent skip;
// - a lease (the caller's visibility timeout): a store shared across
//   processes (DynamoDB) lets another caller take a key over once its lease
//   ran out, so a consumer that died does not hold it forever, and refuses
//   the old holder's commit or abort with errc::lease_lost; extend() keeps a
//   long handler's lease, as extend does for visibility;
// - a result (apply_once_with_result): kept with the applied key and handed
//   to a duplicate, so a retried request gets the first answer.
// Stores that do not keep something ignore it and say so in their header.
//
// idempotent_store is the interface a store implements (do_begin, do_commit,
// do_abort, do_extend); callers use the public functions.
#pragma once

#include "courier/clock.hpp"
#include "courier/detail/expiring_map.hpp"
#include "courier/error.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace courier {
inline namespace v1 {

enum class apply_outcome {
  applied,          // the effect ran now
  already_applied,  // the key was applied before: nothing ran
  busy,             // another caller is applying this key right now: nothing ran
};

// What a caller claims (see the header comment).
struct claim_request {
  std::string_view key;
  // Compared by stores that keep payload fingerprints; empty: not compared.
  std::string_view payload = {};
  // How long the caller may hold the key before another may take it over
  // (stores with leases); 0: the store's default.
  std::chrono::milliseconds lease{0};
};

// What begin() found.
struct claim {
  apply_outcome outcome = apply_outcome::applied;
  // already_applied: the result the first application stored ("" if none).
  std::string result = {};
};

// apply_once_with_result's answer: what happened, and the result (this
// application's, or the stored one of the first).
struct applied_result {
  apply_outcome outcome = apply_outcome::applied;
  std::string result = {};
};

class idempotent_store {
 public:
  virtual ~idempotent_store() = default;

  // Runs effect() unless key was applied (see the header comment). Throws
  // what effect throws (the key released), errc::idempotency_key_reused,
  // errc::lease_lost (the effect ran but another caller had taken the key
  // over; the mark is theirs), or the store's own errors. Thread-safe when
  // the store is.
  template <std::invocable Effect>
  apply_outcome apply_once(std::string_view key, Effect&& effect) {
    return apply_once(claim_request{.key = key}, std::forward<Effect>(effect));
  }

  template <std::invocable Effect>
  apply_outcome apply_once(const claim_request& request, Effect&& effect) {
    return run(request,
               [&] {
                 std::forward<Effect>(effect)();
                 return std::string();
               })
        .outcome;
  }

  // As apply_once, for an effect that returns its result as a string: the
  // store keeps it with the key (if it keeps results) and a duplicate gets
  // it back instead of running the effect.
  template <std::invocable Effect>
  requires std::convertible_to<std::invoke_result_t<Effect>, std::string> applied_result
  apply_once_with_result(const claim_request& request, Effect&& effect) {
    return run(request, [&] { return std::string(std::forward<Effect>(effect)()); });
  }

  // The steps apply_once takes, for callers that split them: begin returns
  // applied when the caller now holds key and must apply it, then commit
  // (with the result to keep) or abort. extend asks for lease more time on
  // a held key from now (stores without leases: nothing to do). Errors as
  // apply_once.
  claim begin(const claim_request& request) { return do_begin(request); }
  claim begin(std::string_view key) { return do_begin({.key = key}); }
  void commit(std::string_view key, std::string_view result = {}) { do_commit(key, result); }
  void abort(std::string_view key) { do_abort(key); }
  void extend(std::string_view key, std::chrono::milliseconds lease) { do_extend(key, lease); }

 protected:
  virtual claim do_begin(const claim_request& request) = 0;
  virtual void do_commit(std::string_view key, std::string_view result) = 0;
  virtual void do_abort(std::string_view key) = 0;
  virtual void do_extend(std::string_view /*key*/, std::chrono::milliseconds /*lease*/) {}

 private:
  template <class Effect>
  applied_result run(const claim_request& request, Effect&& effect) {
    claim claimed = do_begin(request);
    if (claimed.outcome != apply_outcome::applied) return {claimed.outcome, std::move(claimed.result)};
    std::string result;
    try {
      result = effect();
    } catch (...) {
      // The effect's failure is the one to report; a release that fails
      // (a lease already taken over, a store out of reach) leaves a claim
      // that expires or was never ours.
      try {
        do_abort(request.key);
      } catch (...) {
      }
      throw;
    }
    do_commit(request.key, result);
    return {apply_outcome::applied, std::move(result)};
  }
};

// Keeps applied keys in memory for retention after they were applied (SQS
// keeps a message at most 14 days; choose the longest redelivery you must
// survive), with a fingerprint of their payload and their result. Claims
// do not expire (one process: a holder that dies takes the store with it).
// Thread-safe.
class memory_idempotent_store final : public idempotent_store {
 public:
  explicit memory_idempotent_store(std::chrono::milliseconds retention = std::chrono::hours(24),
                                   std::shared_ptr<const clock> time_source = nullptr)
      : clock_(time_source ? std::move(time_source) : steady_clock::shared()), applied_(retention) {}

  // Keys applied within the retention (for tests and dashboards).
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return applied_.size();
  }

 private:
  // A payload's fingerprint: 0 for none. Not cryptographic: it tells a
  // reused key from a redelivery, and the keys are the caller's own.
  static std::uint64_t fingerprint(std::string_view payload) noexcept {
    return payload.empty() ? 0 : std::hash<std::string_view>{}(payload) | 1;
  }

  static void check_payload(std::string_view key, std::uint64_t stored, std::uint64_t given) {
    if (stored != 0 && given != 0 && stored != given) {
      throw error(errc::idempotency_key_reused, "memory_idempotent_store: key " + std::string(key) +
                                                    " came again with a different payload");
    }
  }

  struct record {
    std::uint64_t payload = 0;
    std::string result;
  };

  claim do_begin(const claim_request& request) override {
    const std::uint64_t payload = fingerprint(request.payload);
    std::lock_guard lock(mutex_);
    applied_.expire(clock_->now());
    const std::string key(request.key);
    if (const record* done = applied_.find(key)) {
      check_payload(key, done->payload, payload);
      return {apply_outcome::already_applied, done->result};
    }
    const auto [held, fresh] = in_progress_.try_emplace(key, payload);
    if (!fresh) {
      check_payload(key, held->second, payload);
      return {apply_outcome::busy, {}};
    }
    return {};
  }

  void do_commit(std::string_view key, std::string_view result) override {
    std::lock_guard lock(mutex_);
    const auto held = in_progress_.find(std::string(key));
    const std::uint64_t payload = held == in_progress_.end() ? 0 : held->second;
    if (held != in_progress_.end()) in_progress_.erase(held);
    if (applied_.find(std::string(key)) != nullptr) return;  // committed twice: the first stays
    applied_.insert(std::string(key), record{payload, std::string(result)}, clock_->now());
  }

  void do_abort(std::string_view key) override {
    std::lock_guard lock(mutex_);
    in_progress_.erase(std::string(key));
  }

  const std::shared_ptr<const clock> clock_;
  mutable std::mutex mutex_;
  detail::expiring_map<std::string, record> applied_;
  std::unordered_map<std::string, std::uint64_t> in_progress_;  // key -> payload fingerprint
};

}  // namespace v1
}  // namespace courier
