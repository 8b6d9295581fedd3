// The ids of the events a ws::client handled lately, so an event that comes
// again in a new session (its ack was lost with the old one) is skipped, not
// handled twice. Bounded: the oldest of the last `capacity` ids is
// forgotten first. On the client's thread only.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class processed_events {
 public:
  explicit processed_events(std::size_t capacity) : capacity_(capacity) {}

  bool contains(const std::string& id) const { return ids_.count(id) != 0; }

  void remember(const std::string& id) {
    if (!ids_.insert(id).second) return;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }

  std::size_t size() const noexcept { return ids_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_set<std::string> ids_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
