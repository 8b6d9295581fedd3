// The interface through which a courier::channel<T> keeps its messages in a
// durable store (courier::sqlite implements it), and the option that turns
// it on.
//
// Why the channel stays in memory. A durable channel keeps all of its state
// in memory, exactly as the in-memory channel does, and writes every change
// to a journal: the journal is how the state survives a crash, not where it
// is read from. Receives, dedup look-ups and acks never wait for the disk;
// only a sender waits, until its message is durable. That is what lets a
// store commit many changes in one transaction (group commit).
//
// The rules a journal and its channel keep between them:
//  - Changes are recorded under the channel's lock, in the order they
//    happened, and must not block there: a journal buffers them and writes
//    them later on its own thread, in the same order.
//  - Every recorded change gets a ticket, increasing. wait_durable(t)
//    returns once every change up to t is durable (per the store's sync
//    policy), or throws when the write that held t failed.
//  - A message becomes deliverable only once its acceptance is durable: a
//    consumer must never act on a message whose send may still fail, or the
//    sender's retry after a crash would be applied a second time. The
//    journal reports each write's outcome through the callback given to
//    start(); the channel then releases (or drops) the messages.
//  - A write that fails loses nothing that was durable before it. Messages
//    accepted by send() in the failed write are reported as failed (their
//    senders get the error); every other change is kept and written again
//    with the next write.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier {
inline namespace v1 {

// A time as stored: milliseconds since the Unix epoch (system clock), so it
// means the same after a restart or a reboot.
using stored_time = std::int64_t;

enum class stored_state : std::uint8_t {
  waiting = 0,        // accepted, not settled: ready, delayed, queued or in flight
  acked = 1,          // settled; kept while its key may still deduplicate
  dead_lettered = 2,  // moved to the dead-letter channel; kept like acked
};

// One message as the journal keeps it.
struct stored_message {
  std::uint64_t id = 0;
  std::uint64_t sequence = 0;
  std::string group = {};
  std::string key = {};   // idempotency key or content hash; empty: none
  std::string body = {};  // as encoded by the channel's codec
  stored_time sent_at = 0;
  stored_time visible_at = 0;  // not delivered before; in flight until, if receive_count > 0
  std::uint32_t receive_count = 0;
  stored_state state = stored_state::waiting;
  std::string traceparent = {};  // the W3C trace context it carries; empty: none
  std::string tracestate = {};
};

// What a journal hands a channel when it opens: the unsettled messages in
// id order, and every key still inside the dedup window (of settled and
// unsettled messages alike) in id order.
struct recovered_channel {
  std::vector<stored_message> waiting = {};  // body decoded by the channel
  struct key_entry {
    std::string key;
    std::uint64_t id = 0;
    std::uint64_t sequence = 0;
    stored_time sent_at = 0;
    stored_state state = stored_state::waiting;
  };
  std::vector<key_entry> keys = {};  // oldest first
  std::uint64_t last_id = 0;         // the highest id ever accepted (never reused)
  std::uint64_t last_sequence = 0;
};

// The outcome of one write, reported to the channel.
struct journal_write {
  std::uint64_t last_ticket = 0;  // every change up to here is now decided
  // Ids of the messages accepted by send() whose acceptance this write held,
  // if it failed; empty when it succeeded.
  std::vector<std::uint64_t> failed_ids = {};
  std::string failure = {};  // what went wrong, for the senders' error
};

class channel_journal {
 public:
  virtual ~channel_journal() = default;

  // Reads the state last made durable. Called once, before start().
  virtual recovered_channel recover(std::chrono::milliseconds dedup_window) = 0;

  // Starts writing; on_write is called from the journal's thread after each
  // write, without any lock of the journal held. Called once.
  virtual void start(std::function<void(const journal_write&)> on_write) = 0;

  // Stops writing after what was recorded so far is written (or failed),
  // and stops calling on_write. Called from the channel's destructor.
  virtual void stop() = 0;

  // Record changes. Called under the channel's lock: they only buffer.
  // by_send: the message comes from send() (its failure is reported back);
  // otherwise from inside the channel (a dead letter, a redrive), and a
  // failed write keeps it to write again like any other change.
  virtual std::uint64_t record_accepted(stored_message message, bool by_send) = 0;
  virtual std::uint64_t record_delivered(std::uint64_t id, std::uint32_t receive_count,
                                         stored_time visible_until) = 0;
  virtual std::uint64_t record_settled(std::uint64_t id, stored_state outcome) = 0;
  // Moves message id of this journal's channel to dead_letters (this
  // journal's dead_letter_journal()) as letter, in one write: after a crash
  // the message is in one of them, never in both or neither. Returns the
  // ticket of the letter's acceptance.
  virtual std::uint64_t record_dead_lettered(std::uint64_t id, channel_journal& dead_letters,
                                             stored_message letter) = 0;
  // The newest ticket handed out (0 before any).
  virtual std::uint64_t last_ticket() const = 0;

  // Blocks until every change up to ticket is durable. Throws courier::error
  // (errc::storage_failed) naming the cause when the write holding it failed.
  // Returns at once when the store's policy does not wait (sync off).
  virtual void wait_durable(std::uint64_t ticket) = 0;

  // The journal of this channel's dead letters (in the same store, written in
  // the same transactions, so a message is never in both or in neither).
  virtual std::shared_ptr<channel_journal> dead_letter_journal() = 0;
};

// channel_options<T>::durable: where the channel keeps its messages and how
// it turns them into bytes and back. Made by courier::sqlite::durable<T>().
template <class T>
struct durability {
  std::shared_ptr<channel_journal> journal = {};
  std::function<std::string(const T&)> encode = {};
  std::function<T(std::string_view)> decode = {};

  explicit operator bool() const noexcept { return journal != nullptr; }
};

}  // namespace v1
}  // namespace courier
