// FIFO message groups: each group's messages in send order, only the head
// deliverable.
//
// A group's records form a list through next_in_group; the index finds a
// group's head by the group's hash, and the head knows the tail. No
// allocation per group or per message. The head stays the head while it is
// in flight or waits for redelivery, so a redelivery cannot be overtaken;
// it leaves only when settled (acked or dead-lettered). This is the one
// place that links and unlinks group members. Not thread-safe.
#pragma once

#include "courier/detail/flat_index.hpp"
#include "courier/detail/mix64.hpp"

#include <concepts>
#include <cstdint>
#include <functional>
#include <string>

namespace courier {
inline namespace v1 {
namespace detail {

// What fifo_groups needs of a record (channel_record<T> has it).
template <class R>
concept group_member = requires(R& r) {
  { r.group } -> std::convertible_to<const std::string&>;
  { r.group_hash } -> std::convertible_to<std::uint64_t>;
  { r.next_in_group } -> std::convertible_to<R*>;
  { r.group_tail } -> std::convertible_to<R*>;
};

template <group_member Record>
class fifo_groups {
 public:
  static std::uint64_t hash_of(const std::string& group) { return mix64(std::hash<std::string>{}(group)); }

  // Puts item (its group and group_hash set) at the back of its group.
  // Returns true when it is the group's head: the group was empty, so item
  // may be delivered now.
  bool append(Record& item) {
    if (Record* head = head_of(item)) {
      head->group_tail->next_in_group = &item;
      head->group_tail = &item;
      return false;
    }
    item.group_tail = &item;
    heads_.insert(item.group_hash, address_of(item));
    return true;
  }

  // head, its group's head, leaves for good. Returns the group's new head
  // (to be made deliverable), or nullptr when the group is now empty.
  Record* pop_head(Record& head) {
    heads_.erase(head.group_hash, [&](std::uint64_t candidate) { return candidate == address_of(head); });
    Record* next = head.next_in_group;
    if (next == nullptr) return nullptr;
    next->group_tail = head.group_tail;
    heads_.insert(next->group_hash, address_of(*next));
    return next;
  }

  // Takes item, a member behind its group's head, out of the group.
  void unlink(Record& item) {
    Record* head = head_of(item);
    Record* previous = head;
    while (previous != nullptr && previous->next_in_group != &item) previous = previous->next_in_group;
    if (previous == nullptr) return;
    previous->next_in_group = item.next_in_group;
    if (head->group_tail == &item) head->group_tail = previous;
  }

  // The head of item's group, or nullptr when the group has no messages.
  Record* head_of(const Record& item) const {
    const std::uint64_t head = heads_.find(
        item.group_hash, [&](std::uint64_t candidate) { return record_at(candidate)->group == item.group; });
    return head == flat_index::npos ? nullptr : record_at(head);
  }

  // Groups with at least one message.
  std::size_t size() const noexcept { return heads_.size(); }

 private:
  static std::uint64_t address_of(const Record& item) noexcept {
    return reinterpret_cast<std::uint64_t>(&item);
  }
  static Record* record_at(std::uint64_t address) noexcept { return reinterpret_cast<Record*>(address); }

  flat_index heads_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
