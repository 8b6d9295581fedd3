// A map whose entries expire a fixed time after insertion.
//
// Channels remember idempotency keys for the dedup window and settled
// receipts for as long, and must forget them afterwards or memory grows
// without bound. The clock never runs backwards and the lifetime is fixed,
// so insertion order is expiry order: a FIFO of (expiry, key) beside the
// hash map lets expire() drop the old entries in O(1) each. Not thread-safe:
// the channel's mutex guards it.
#pragma once

#include "courier/clock.hpp"

#include <deque>
#include <unordered_map>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Key, class Value>
class expiring_map {
 public:
  explicit expiring_map(clock::duration lifetime) : lifetime_(lifetime) {}

  // The value under key, or nullptr. Call expire(now) first.
  const Value* find(const Key& key) const {
    const auto found = entries_.find(key);
    return found == entries_.end() ? nullptr : &found->second;
  }

  // Adds key (which must be absent) until now + lifetime.
  void insert(const Key& key, Value value, clock::time_point now) {
    const auto [position, added] = entries_.emplace(key, std::move(value));
    if (added) order_.emplace_back(now + lifetime_, &position->first);
  }

  // Forgets entries whose time is up.
  void expire(clock::time_point now) {
    while (!order_.empty() && order_.front().first <= now) {
      entries_.erase(*order_.front().second);  // node-based: the key pointer is stable
      order_.pop_front();
    }
  }

  std::size_t size() const noexcept { return entries_.size(); }

 private:
  clock::duration lifetime_;
  std::unordered_map<Key, Value> entries_;
  std::deque<std::pair<clock::time_point, const Key*>> order_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
