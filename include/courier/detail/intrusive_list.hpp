// A doubly linked list threaded through its elements, for objects that must
// leave a queue from the middle in O(1) without a lookup.
//
// A channel keeps its deliveries in flight in deadline order (the timeout is
// one constant and its clock never runs back, so appending keeps the order);
// an ack, nack or extend takes a delivery out wherever it is, and the due
// ones are always at the front. A queue of (deadline, id) entries did the
// same with a hash lookup per entry and stale entries left behind; this
// needs neither. The element owns a list_hook; the list owns nothing.
// Not thread-safe.
#pragma once

namespace courier {
inline namespace v1 {
namespace detail {

template <class Node>
struct list_hook {
  Node* previous = nullptr;
  Node* next = nullptr;
  bool linked = false;
};

template <class Node, list_hook<Node> Node::*Hook>
class intrusive_list {
 public:
  bool empty() const noexcept { return first_ == nullptr; }
  Node* front() const noexcept { return first_; }

  void push_back(Node& node) noexcept {
    list_hook<Node>& hook = node.*Hook;
    hook.previous = last_;
    hook.next = nullptr;
    hook.linked = true;
    if (last_ != nullptr) {
      (last_->*Hook).next = &node;
    } else {
      first_ = &node;
    }
    last_ = &node;
  }

  // Takes node out if it is in the list; does nothing otherwise.
  void remove(Node& node) noexcept {
    list_hook<Node>& hook = node.*Hook;
    if (!hook.linked) return;
    if (hook.previous != nullptr) {
      (hook.previous->*Hook).next = hook.next;
    } else {
      first_ = hook.next;
    }
    if (hook.next != nullptr) {
      (hook.next->*Hook).previous = hook.previous;
    } else {
      last_ = hook.previous;
    }
    hook = list_hook<Node>{};
  }

 private:
  Node* first_ = nullptr;
  Node* last_ = nullptr;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
