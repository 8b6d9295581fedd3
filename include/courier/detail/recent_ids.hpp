// What became of recently settled messages, by id, in bounded memory.
//
// A channel answers a late ack ("already acked") and a stale receipt
// ("acked through another delivery") from what it remembers of settled
// messages. Remembering every settlement for a visibility timeout in a hash
// map cost a cache miss and ~50 bytes per message, and at millions of
// messages per second a 30 s timeout meant tens of millions of entries.
// Message ids are dense and settle roughly in id order, so this keeps a ring
// indexed by id: an insert writes one slot next to the previous one, a
// lookup reads one slot, nothing is allocated per entry. The ring doubles
// while the slot an insert needs still holds an entry younger than the
// lifetime, up to max_slots; past that the oldest answers are forgotten
// early (a lookup then finds nothing, and the channel says the receipt is
// unknown: a clear error, never a wrong answer). Not thread-safe.
#pragma once

#include "courier/clock.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Value>
class recent_ids {
 public:
  recent_ids(clock::duration lifetime, std::size_t max_slots) : lifetime_(lifetime), max_slots_(max_slots) {}

  // What was recorded for id within the lifetime, or nullptr.
  const Value* find(std::uint64_t id, clock::time_point now) const {
    if (slots_.empty()) return nullptr;
    const slot& s = slots_[id & mask_];
    if (s.id != id || now - s.at >= lifetime_) return nullptr;
    return &s.value;
  }

  // Records value for id (ids are never 0) at now.
  void insert(std::uint64_t id, Value value, clock::time_point now) {
    if (slots_.empty()) resize(first_slots);
    for (;;) {
      slot& s = slots_[id & mask_];
      const bool still_needed = s.id != 0 && s.id != id && now - s.at < lifetime_;
      if (!still_needed || slots_.size() * 2 > max_slots_) {
        s = slot{id, now, std::move(value)};
        return;
      }
      resize(slots_.size() * 2);
    }
  }

  std::size_t slot_count() const noexcept { return slots_.size(); }

 private:
  static constexpr std::size_t first_slots = 1024;

  struct slot {
    std::uint64_t id = 0;  // 0: empty
    clock::time_point at{};
    Value value{};
  };

  // Two ids that share a slot of the bigger ring shared one of the smaller,
  // where only one of them could live: moving entries never collides.
  void resize(std::size_t count) {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(count, slot{});
    mask_ = count - 1;
    for (slot& s : old) {
      if (s.id != 0) slots_[s.id & mask_] = std::move(s);
    }
  }

  clock::duration lifetime_;
  std::size_t max_slots_;
  std::vector<slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
