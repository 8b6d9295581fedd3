// A lock-free-to-read table from type index to a per-type entry.
//
// Two levels of atomic pointers, allocated lazily, never moved: readers (every
// publish) load pointers without a lock; writers (the first subscribe or
// post of a type) insert under the owner's mutex. Entries live until the
// table dies, so a pointer read once stays valid for the table's lifetime.
// The first chunk (the first 256 event types a program uses) lives inside the
// table, so the common lookup is one load, not two dependent ones: that load
// was a measurable part of a publish's fixed cost (~6 KiB per bus).
#pragma once

#include "courier/error.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Entry>
class type_table {
 public:
  static constexpr std::size_t chunk_size = 256;
  static constexpr std::size_t chunk_count = 256;  // room for 65,536 event types

  type_table() = default;
  type_table(const type_table&) = delete;
  type_table& operator=(const type_table&) = delete;

  ~type_table() {
    for (std::size_t i = 1; i < chunk_count; ++i) {
      delete chunks_[i].load(std::memory_order_relaxed);
    }
  }

  // The entry at index, or nullptr. Thread-safe, wait-free.
  Entry* find(std::size_t index) const noexcept {
    if (index < chunk_size) [[likely]] {
      return first_chunk_.entries[index].load(std::memory_order_acquire);
    }
    if (index >= chunk_size * chunk_count) return nullptr;
    const chunk* c = chunks_[index / chunk_size].load(std::memory_order_acquire);
    if (c == nullptr) return nullptr;
    return c->entries[index % chunk_size].load(std::memory_order_acquire);
  }

  // Stores entry at index, which must be empty. The caller serializes inserts
  // (holds a mutex); readers may run concurrently. Throws courier::error
  // (too_many_event_types) when index is beyond the table.
  Entry* insert(std::size_t index, std::shared_ptr<Entry> entry) {
    if (index >= chunk_size * chunk_count) {
      throw error(errc::too_many_event_types,
                  "event type #" + std::to_string(index) + " does not fit the bus's type table");
    }
    auto& chunk_slot = chunks_[index / chunk_size];
    chunk* c = chunk_slot.load(std::memory_order_relaxed);
    if (c == nullptr) {
      c = new chunk;
      chunk_slot.store(c, std::memory_order_release);
    }
    Entry* raw = entry.get();
    c->owners[index % chunk_size] = std::move(entry);
    c->entries[index % chunk_size].store(raw, std::memory_order_release);
    return raw;
  }

  // The owning pointer of the entry at index, for handles that may outlive
  // the table (a reference: the caller copies it only if it keeps it).
  // Only once find(index) has returned the entry on this thread: an owner is
  // written once, before its entry is published, and never changes.
  const std::shared_ptr<Entry>& owner(std::size_t index) const noexcept {
    return chunks_[index / chunk_size].load(std::memory_order_acquire)->owners[index % chunk_size];
  }

  // Calls f(Entry&) for every entry. Same serialization rule as insert.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& chunk_ptr : chunks_) {
      const chunk* c = chunk_ptr.load(std::memory_order_relaxed);
      if (c == nullptr) continue;
      for (const auto& owner : c->owners) {
        if (owner) f(*owner);
      }
    }
  }

 private:
  struct chunk {
    std::array<std::atomic<Entry*>, chunk_size> entries{};
    std::array<std::shared_ptr<Entry>, chunk_size> owners{};
  };
  chunk first_chunk_;
  std::array<std::atomic<chunk*>, chunk_count> chunks_{&first_chunk_};
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
