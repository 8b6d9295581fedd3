// What the passing of time changes in a channel: deliveries whose
// visibility runs out, delayed messages becoming visible, receipt deadlines.
//
// Deliveries in flight with the channel's own visibility timeout sit in a
// list in deadline order (the timeout is one constant and the channel's
// clock never runs back, so appending keeps the order); an ack takes one out
// wherever it is in O(1), and the due ones are always at the front. The
// rarer timers (delays, nack delays, extends, receipt deadlines) wait in a
// min-heap; an entry made stale by a later change stays there and the
// channel skips it when it comes due. Nothing here reads a clock: the
// caller says what time it is. Not thread-safe.
#pragma once

#include "courier/clock.hpp"

#include <boost/intrusive/list.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

// The in-flight list's hook in a record; auto_unlink, so a record can leave
// the list wherever it is, and leaving when not in it does nothing.
using deadline_hook =
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

enum class timer_kind : std::uint8_t {
  visible,           // a delayed message becomes deliverable
  visibility,        // an extended delivery's visibility runs out
  receipt_deadline,  // a sender's receipt_timeout passes
};

struct timer {
  clock::time_point at;
  std::uint64_t id;        // the message's
  std::uint64_t delivery;  // the delivery it was set for (visibility)
  timer_kind kind;
  bool operator>(const timer& other) const noexcept { return at > other.at; }
};

template <class R>
concept timed_delivery = requires(R& r) {
  { r.visible_at } -> std::convertible_to<clock::time_point>;
  { r.in_flight_hook } -> std::same_as<deadline_hook&>;
};

template <timed_delivery Record>
class delivery_timers {
 public:
  // item was just delivered with the channel's visibility timeout: its
  // visible_at is no earlier than any tracked one's.
  void track_in_flight(Record& item) { in_flight_.push_back(item); }

  // item's delivery ended (settled, given back, or extended onto a timer).
  static void untrack_in_flight(Record& item) noexcept { item.in_flight_hook.unlink(); }

  // The in-flight delivery whose visibility ran out first, if it ran out by now.
  Record* expired_in_flight(clock::time_point now) {
    if (in_flight_.empty() || in_flight_.front().visible_at > now) return nullptr;
    return &in_flight_.front();
  }

  void schedule(const timer& due) { timers_.push(due); }

  // The earliest timer, taken off the heap if it is due by now.
  std::optional<timer> pop_due(clock::time_point now) {
    if (timers_.empty() || timers_.top().at > now) return std::nullopt;
    timer due = timers_.top();
    timers_.pop();
    return due;
  }

  // When the next thing is due: the first visibility deadline or timer.
  std::optional<clock::time_point> next_due() const {
    std::optional<clock::time_point> next;
    if (!timers_.empty()) next = timers_.top().at;
    if (!in_flight_.empty() && (!next || in_flight_.front().visible_at < *next))
      next = in_flight_.front().visible_at;
    return next;
  }

 private:
  using in_flight_list =
      boost::intrusive::list<Record,
                             boost::intrusive::member_hook<Record, deadline_hook, &Record::in_flight_hook>,
                             boost::intrusive::constant_time_size<false>>;
  in_flight_list in_flight_;
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
