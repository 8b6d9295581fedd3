// An open-addressing hash index: 64-bit hash -> 64-bit payload, without an
// allocation per entry.
//
// A channel looks up a record by id, a key in the dedup window and a settled
// receipt for every message, under its one lock. std::unordered_map makes
// each of those a node allocation and a pointer chase, and a rehash of
// millions of keys stalls every sender for milliseconds. This index keeps
// (hash, payload) pairs in one array with linear probing, so a lookup is
// usually one cache line, and it erases by shifting the following entries
// back (no tombstones, so it never degrades with churn). It grows, never
// shrinks: its size follows the peak number of entries. It does not own or
// compare keys: the caller passes a predicate that checks whether a payload
// is the one it wants (payload = a pointer or a position where the key
// lives), and the stored hash filters almost every other entry first.
// Not thread-safe.
#pragma once

#include "courier/detail/large_table_allocator.hpp"
#include "courier/detail/mix64.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

class flat_index {
 public:
  static constexpr std::uint64_t npos = ~std::uint64_t{0};

  // The payload of the first entry with this hash that is_it accepts, or npos.
  template <class Is>
  std::uint64_t find(std::uint64_t hash, Is&& is_it) const {
    if (slots_.empty()) return npos;
    const std::uint64_t stored = stored_hash(hash);
    for (std::size_t i = stored & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.hash == 0) return npos;
      if (s.hash == stored && is_it(s.payload)) return s.payload;
    }
  }

  // Adds an entry; does not check for an equal one (find first if needed).
  void insert(std::uint64_t hash, std::uint64_t payload) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(stored_hash(hash), payload);
    ++size_;
  }

  // Removes the entry with this hash that is_it accepts. Returns whether
  // there was one.
  template <class Is>
  bool erase(std::uint64_t hash, Is&& is_it) {
    if (slots_.empty()) return false;
    const std::uint64_t stored = stored_hash(hash);
    std::size_t i = stored & mask_;
    for (;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.hash == 0) return false;
      if (s.hash == stored && is_it(s.payload)) break;
    }
    // Backward-shift deletion: move each following entry of the same run
    // into the hole if its home slot allows, so probes never skip a gap.
    std::size_t hole = i;
    for (std::size_t next = (hole + 1) & mask_;; next = (next + 1) & mask_) {
      slot& candidate = slots_[next];
      if (candidate.hash == 0) break;
      // candidate may fill the hole when it sits at least as far from its
      // home as the hole is from it: then the hole is not before its home.
      const std::size_t home = candidate.hash & mask_;
      if (((next - home) & mask_) >= ((next - hole) & mask_)) {
        slots_[hole] = candidate;
        hole = next;
      }
    }
    slots_[hole] = slot{};
    --size_;
    return true;
  }

  std::size_t size() const noexcept { return size_; }

  // Starts loading the slot where hash's search begins into the cache. The
  // one member safe to call without the owner's lock, concurrently with
  // anything: it reads a copy of the table's address published with
  // atomics, and a prefetch of a stale address does no harm (it never
  // faults). A caller warms the line, then locks; a large table's cache
  // miss then no longer happens while the lock is held.
  void prefetch(std::uint64_t hash) const noexcept {
    const slot* base = published_slots_.load(std::memory_order_relaxed);
    if (base == nullptr) return;
    const std::size_t mask = published_mask_.load(std::memory_order_relaxed);
    __builtin_prefetch(base + (stored_hash(hash) & mask));
  }

  // Calls visit(payload) for every entry, in no particular order. visit must
  // not change the index.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const slot& s : slots_) {
      if (s.hash != 0) visit(s.payload);
    }
  }

 private:
  struct slot {
    std::uint64_t hash = 0;  // 0: empty
    std::uint64_t payload = 0;
  };

  // 0 marks an empty slot, so a real hash of 0 is stored as 1; the low bits
  // (the home slot) are the caller's hash otherwise.
  static constexpr std::uint64_t stored_hash(std::uint64_t hash) noexcept { return hash == 0 ? 1 : hash; }

  void place(std::uint64_t stored, std::uint64_t payload) {
    for (std::size_t i = stored & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].hash == 0) {
        slots_[i] = slot{stored, payload};
        return;
      }
    }
  }

  // Doubles the table (keeping it at most half full: linear probing's runs
  // stay short) and re-places every entry by its stored hash.
  void grow() {
    slot_vector old = std::move(slots_);
    const std::size_t capacity = old.empty() ? 64 : old.size() * 2;
    slots_.assign(capacity, slot{});
    mask_ = capacity - 1;
    published_slots_.store(slots_.data(), std::memory_order_relaxed);
    published_mask_.store(mask_, std::memory_order_relaxed);
    for (const slot& s : old) {
      if (s.hash != 0) place(s.hash, s.payload);
    }
  }

  using slot_vector = std::vector<slot, large_table_allocator<slot>>;
  slot_vector slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::atomic<const slot*> published_slots_{nullptr};  // for prefetch()
  std::atomic<std::size_t> published_mask_{0};
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
