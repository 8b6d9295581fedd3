// One message of a channel, as the channel's engine keeps it.
//
// Records stay put from send to settlement (group chains, the in-flight
// list and the id table point at them) and are recycled afterwards (see
// record_pool.hpp), so a record is default-made and its body put in place
// when it is used. Every piece of the engine reads the fields it owns; the
// record itself has no behaviour.
#pragma once

#include "courier/clock.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/message_id.hpp"
#include "courier/trace_context.hpp"

#include "courier/detail/channel/delivery_timers.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace courier {
inline namespace v1 {
namespace detail {

enum class record_state : std::uint8_t {
  queued,     // FIFO: behind its group's head
  delayed,    // waits for visible_at (a delay or a nack's delay)
  ready,      // in the ready queue, may be received
  in_flight,  // delivered, waits for ack, nack or its visibility timeout
  unsaved,    // durable channels: deliverable once its acceptance is durable
};

// The promise behind a sender's delivery_receipt; made only when asked for.
struct delivery_tracking {
  std::shared_ptr<delivery_receipt::state> outcome = std::make_shared<delivery_receipt::state>();
};

template <class T>
struct channel_record {
  std::optional<T> body;
  message_id id;
  std::uint64_t sequence = 0;
  std::string group;
  std::uint64_t group_hash = 0;             // FIFO only
  channel_record* next_in_group = nullptr;  // FIFO only: the next message of the group
  channel_record* group_tail = nullptr;     // FIFO only, kept in the group's head
  record_state status = record_state::queued;
  bool open = false;  // the current delivery may still settle it
  bool saved = true;  // durable channels: its acceptance is durable
  std::uint32_t receive_count = 0;
  std::uint64_t delivery = 0;  // the current delivery's number, 0 before the first
  clock::time_point visible_at;
  clock::time_point accepted_at;  // when the channel accepted it (stats: the age of the first in line)
  std::unique_ptr<delivery_tracking> tracked;
  // Shared with its deliveries: a message without one costs a null pointer.
  std::shared_ptr<const trace_context> trace;
  deadline_hook in_flight_hook;  // in delivery_timers' in-flight list

  std::uint64_t table_key() const noexcept { return id.value; }
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
