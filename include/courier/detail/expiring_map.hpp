// A map whose entries expire a fixed time after insertion.
//
// Channels remember idempotency keys for the dedup window and settled
// receipts for as long, and must forget them afterwards or memory grows
// without bound. The clock never runs backwards and the lifetime is fixed,
// so insertion order is expiry order: entries live in a FIFO in insertion
// order, expire() drops them from its front in O(1) each, and a flat hash
// index (no allocation per entry, see flat_index.hpp) finds them by key.
// Not thread-safe: the channel's mutex guards it.
#pragma once

#include "courier/clock.hpp"
#include "courier/detail/flat_index.hpp"

#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Key, class Value>
class expiring_map {
 public:
  explicit expiring_map(clock::duration lifetime) : lifetime_(lifetime) {}

  // The value under key, or nullptr. Call expire(now) first.
  const Value* find(const Key& key) const { return find(key, hash_of(key)); }

  // As find(key), with hash = hash_of(key) computed by the caller (outside a
  // lock, say).
  const Value* find(const Key& key, std::uint64_t hash) const {
    const std::uint64_t position =
        index_.find(hash, [&](std::uint64_t at) { return entry_at(at).key == key; });
    return position == flat_index::npos ? nullptr : &entry_at(position).value;
  }

  // Adds key (which must be absent) until now + lifetime.
  void insert(Key key, Value value, clock::time_point now) {
    const std::uint64_t hash = hash_of(key);
    insert(std::move(key), hash, std::move(value), now);
  }

  // As insert(), with hash = hash_of(key).
  void insert(Key key, std::uint64_t hash, Value value, clock::time_point now) {
    index_.insert(hash, first_position_ + entries_.size());
    entries_.push_back(entry{std::move(key), std::move(value), now + lifetime_, hash});
  }

  // Forgets key before its time (a durable channel whose write of it
  // failed). Its slot in the FIFO stays until it would have expired.
  void erase(const Key& key, std::uint64_t hash) {
    index_.erase(hash, [&](std::uint64_t at) { return entry_at(at).key == key; });
  }

  // Forgets entries whose time is up.
  void expire(clock::time_point now) {
    while (!entries_.empty() && entries_.front().expires <= now) {
      const std::uint64_t position = first_position_;
      index_.erase(entries_.front().hash, [&](std::uint64_t at) { return at == position; });
      entries_.pop_front();
      ++first_position_;
    }
  }

  std::size_t size() const noexcept { return entries_.size(); }

  // See flat_index::prefetch: safe without the owner's lock.
  void prefetch(std::uint64_t hash) const noexcept { index_.prefetch(hash); }

  static std::uint64_t hash_of(const Key& key) {
    if constexpr (std::integral<Key>) {
      return mix64(static_cast<std::uint64_t>(key));
    } else {
      return mix64(std::hash<Key>{}(key));
    }
  }

 private:
  struct entry {
    Key key;
    Value value;
    clock::time_point expires;
    std::uint64_t hash;
  };

  // Entries are numbered from the first ever inserted; the FIFO holds the
  // numbers [first_position_, first_position_ + size()).
  const entry& entry_at(std::uint64_t position) const { return entries_[position - first_position_]; }

  clock::duration lifetime_;
  std::deque<entry> entries_;
  std::uint64_t first_position_ = 0;
  flat_index index_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
