// The dedup window: idempotency keys (or content hashes) accepted within the
// last `window`, each with the message it was accepted for.
//
// A send whose key is in the window queues nothing and is answered with the
// first send's id. Keys are hashed before the channel's lock is taken
// (dedup_key), so the critical section is a probe. Nothing here reads a
// clock: the caller says what time it is. Not thread-safe.
#pragma once

#include "courier/clock.hpp"
#include "courier/detail/expiring_map.hpp"
#include "courier/message_id.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

// The send a key was first accepted for.
struct first_send {
  message_id id;
  std::uint64_t sequence;
};

using dedup_table = expiring_map<std::string, first_send>;

// A key and its hash; empty when the message has none.
struct dedup_key {
  dedup_key() = default;
  explicit dedup_key(std::string text) : key(std::move(text)), hash(dedup_table::hash_of(key)) {}
  bool empty() const noexcept { return key.empty(); }
  std::string key;
  std::uint64_t hash = 0;
};

class dedup_window {
 public:
  explicit dedup_window(clock::duration window) : window_(window), keys_(window) {}

  // False for a window of zero: then keys are not kept at all.
  bool enabled() const noexcept { return window_ > clock::duration::zero(); }

  // Starts loading key's slot (a large window's cache miss, taken before the lock).
  void prefetch(const dedup_key& key) const noexcept { keys_.prefetch(key.hash); }

  // The first send of key, if it was accepted within the window before now.
  const first_send* find(const dedup_key& key, clock::time_point now) {
    keys_.expire(now);
    return keys_.find(key.key, key.hash);
  }

  // key was accepted at `at` for first.
  void remember(dedup_key key, first_send first, clock::time_point at) {
    keys_.insert(std::move(key.key), key.hash, first, at);
  }

  // The acceptance of key was undone (it never became durable).
  void forget(const dedup_key& key) { keys_.erase(key.key, key.hash); }

  void expire(clock::time_point now) { keys_.expire(now); }

  std::size_t size() const noexcept { return keys_.size(); }

 private:
  clock::duration window_;
  dedup_table keys_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
