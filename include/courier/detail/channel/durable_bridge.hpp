// Between a channel's state in memory and its journal (channel_journal.hpp):
// stored times, bodies as bytes, and the messages accepted but not yet
// durable.
//
// The channel records every change here under its lock (the journal only
// buffers); the journal's thread reports each write back, and the bridge
// says which messages became durable (deliverable now) and which sends
// failed (to be forgotten: their senders were told). Stored times are wall
// clock times; the channel's clock may be a steady or a manual one, so the
// offset between them is taken once and times keep their order.
// Not thread-safe.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/clock.hpp"
#include "courier/detail/channel/dedup_window.hpp"
#include "courier/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

template <class T>
class durable_bridge {
 public:
  // An accepted message not yet durable.
  struct unsaved {
    std::uint64_t ticket;
    std::uint64_t id;
    dedup_key key;  // by send() only: forgotten again if the write fails
  };

  // Throws courier::error (invalid_option) without both encode and decode.
  durable_bridge(const durability<T>& durable, clock::time_point clock_now) : durable_(durable) {
    if (!durable_.encode || !durable_.decode) {
      throw error(errc::invalid_option, "channel_options::durable needs both encode and decode");
    }
    stored_offset_ = std::chrono::duration_cast<clock::duration>(
        std::chrono::system_clock::now().time_since_epoch() - clock_now.time_since_epoch());
  }

  channel_journal& journal() const noexcept { return *durable_.journal; }

  stored_time to_stored(clock::time_point at) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch() + stored_offset_)
        .count();
  }
  clock::time_point from_stored(stored_time at) const {
    return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(at)) -
                             stored_offset_);
  }

  // A recovered message's body. Throws courier::error (invalid_store) when
  // it does not decode: the store holds something this T cannot be.
  T decode(const stored_message& kept) const {
    try {
      return durable_.decode(kept.body);
    } catch (const std::exception& e) {
      throw error(errc::invalid_store,
                  fmt::format("recovering message {} (group '{}'): its stored body does not decode: {}",
                              kept.id, kept.group, e.what()));
    }
  }

  // Records a new message (or a dead letter moved from journal `from`);
  // returns the ticket to wait for. The message is unsaved until written.
  std::uint64_t accepted(stored_message stored, const dedup_key& key, bool by_send, channel_journal* from,
                         std::uint64_t of) {
    const std::uint64_t id = stored.id;
    const std::uint64_t ticket = from != nullptr
                                     ? from->record_dead_lettered(of, journal(), std::move(stored))
                                     : journal().record_accepted(std::move(stored), by_send);
    unsaved_.push_back(unsaved{ticket, id, by_send ? key : dedup_key{}});
    return ticket;
  }

  void delivered(std::uint64_t id, std::uint32_t receive_count, clock::time_point visible_until) {
    journal().record_delivered(id, receive_count, to_stored(visible_until));
  }

  void acked(std::uint64_t id) { journal().record_settled(id, stored_state::acked); }

  std::uint64_t last_ticket() const { return journal().last_ticket(); }

  // The journal decided every change up to write.last_ticket. Calls
  // made_durable(id) for each message now durable, in ticket order, or
  // send_failed(entry) for each send whose write failed.
  template <class MadeDurable, class SendFailed>
  void wrote(const journal_write& write, MadeDurable&& made_durable, SendFailed&& send_failed) {
    if (!write.failed_ids.empty()) {
      // Rare: a failed write. Its sends' messages are dropped; the rest
      // stay unsaved until the journal writes them again.
      const auto failed = [&](const unsaved& entry) {
        return entry.ticket <= write.last_ticket &&
               std::find(write.failed_ids.begin(), write.failed_ids.end(), entry.id) !=
                   write.failed_ids.end();
      };
      for (const unsaved& entry : unsaved_) {
        if (failed(entry)) send_failed(entry);
      }
      std::erase_if(unsaved_, failed);
      return;
    }
    if (!write.failure.empty()) return;  // a failed write that held no send: all of it is written again
    while (!unsaved_.empty() && unsaved_.front().ticket <= write.last_ticket) {
      const std::uint64_t id = unsaved_.front().id;
      unsaved_.pop_front();
      made_durable(id);
    }
  }

 private:
  durability<T> durable_;
  clock::duration stored_offset_{};  // wall clock minus the channel's clock, taken once
  std::deque<unsaved> unsaved_;      // in ticket order
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
