// The state machine of courier::channel<T>: every message from send to
// settlement, as bookkeeping.
//
// No locks, no threads, no clock: the façade (channel.hpp) holds its lock
// around each call, passes the time in, and wakes whoever the call's
// progress() concerns. So the whole of a channel's behaviour can be driven
// step by step in a test. The engine composes the pieces, each with its own
// job and test: record_pool (records by id, recycled), fifo_groups (group
// chains), delivery_timers (visibility and timers), receipt_ledger (may this
// receipt settle?), dedup_window, sender_receipts, durable_bridge (the
// journal), and a dead_letter_sink for messages past max_receives.
//
// Deliverable records (a standard channel's visible messages, a FIFO group's
// visible head) wait in one ready queue, so a receive never scans groups.
// Every operation first applies what is due (advance()): nothing depends on
// a background thread, and a manual clock makes it all deterministic.
//
// One exception to "under the façade's lock": the dedup window (dedup()).
// An in-memory channel checks and remembers the key of a plain send under a
// lock of its own, without the channel's (see channel::send_plain_once), so
// every call here that reads or writes the window (duplicate(), enqueue()
// of a keyed message) must also hold that lock when plain sends may run.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/channel_options.hpp"
#include "courier/channel_stats.hpp"
#include "courier/clock.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/detail/channel/dead_letter_sink.hpp"
#include "courier/detail/channel/dedup_window.hpp"
#include "courier/detail/channel/delivery_timers.hpp"
#include "courier/detail/channel/durable_bridge.hpp"
#include "courier/detail/channel/fifo_groups.hpp"
#include "courier/detail/channel/receipt_ledger.hpp"
#include "courier/detail/channel/record.hpp"
#include "courier/detail/channel/record_pool.hpp"
#include "courier/detail/channel/sender_receipts.hpp"
#include "courier/detail/sha256.hpp"
#include "courier/message_id.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

template <class T>
class channel_engine {
 public:
  using record = channel_record<T>;

  // A new message, as enqueue() takes it in. Made from its body, the rest
  // set member by member: not an aggregate, because aggregate-initializing
  // it made GCC zero all of its 192 bytes with a rep stos first, ~20 ns a
  // send on AMD EPYC (BM_one_by_one).
  struct new_message {
    // The strings are moved in here, not assigned after: a move-assignment
    // costs more than a move-construction.
    new_message(T&& message, std::string&& group_name, dedup_key&& dedup)
        : body(std::move(message)), group(std::move(group_name)), key(std::move(dedup)) {}
    T body;
    std::string group = {};
    std::uint64_t group_hash = 0;  // FIFO channels: fifo_groups::hash_of(group)
    dedup_key key = {};
    std::chrono::milliseconds delay = {};
    bool track = false;
    std::chrono::milliseconds receipt_timeout = {};
    std::uint64_t id = 0;        // 0: the next one; else numbered by the caller (send_intake)
    std::uint64_t sequence = 0;  // 0: the next one; else numbered by the caller, or a dead letter's
    std::string encoded = {};    // durable channels: the body as stored
    bool by_send = false;        // durable channels: see channel_journal::record_accepted
    channel_journal* dead_letter_from = nullptr;  // durable: a dead letter moved from this journal
    std::uint64_t dead_letter_of = 0;
    std::shared_ptr<const trace_context> trace = {};
  };

  // What a send produced: its result, and (durable channels) the journal
  // ticket to wait for before telling the sender.
  struct accepted {
    send_result result;
    std::uint64_t ticket = 0;
  };

  // Counts that only grow; the façade compares them before and after a
  // call to know whom to wake.
  struct progress {
    std::uint64_t readied = 0;  // messages that became ready to receive
    std::uint64_t settled = 0;  // messages that left (room for senders)
  };

  // A receipt checked against the message it names.
  struct checked {
    receipt_check check;
    record* held = nullptr;  // the message, when check.verdict is open
  };

  channel_engine(const channel_options<T>& options, dead_letter_sink<T>& dead_letters)
      : options_(options),
        dead_letters_(dead_letters),
        dedup_(options.dedup_window),
        ledger_(options.visibility_timeout, remembered_settlements),
        sender_receipts_(std::max<clock::duration>(options.dedup_window, options.visibility_timeout)) {}

  channel_engine(const channel_engine&) = delete;
  channel_engine& operator=(const channel_engine&) = delete;

  // A send's message with what can be worked out before the lock is taken:
  // its key and group hashed, its body encoded for the journal. Reads only
  // what never changes, so it needs no lock.
  new_message prepare(T&& message, send_options&& options) const {
    check_trace(options.trace, "send_options::trace");
    dedup_key key = key_of(message, std::move(options.idempotency_key));
    if (!key.empty()) dedup_.prefetch(key);  // a large window's cache miss, taken now
    const std::uint64_t group_hash =
        options_.ordering == ordering::fifo ? fifo_groups<record>::hash_of(options.group) : 0;
    new_message out(std::move(message), std::move(options.group), std::move(key));
    out.group_hash = group_hash;
    out.delay = options.delay;
    out.track = options.track_delivery;
    out.receipt_timeout = options.receipt_timeout;
    if (options_.durable) out.encoded = options_.durable.encode(out.body);
    out.by_send = true;
    if (!options.trace.empty()) [[unlikely]]
      out.trace = share_trace(std::move(options.trace));
    return out;
  }

  // A plain send: one that needs nothing from the channel's state to be
  // answered (no key to look up, no delay, no delivery receipt, no journal).
  // The channel queues these without its lock (send_intake.hpp).
  // What few plain sends carry besides their message: the intake keeps it
  // apart (send_intake.hpp).
  struct plain_extras {
    std::string group;
    std::uint64_t group_hash = 0;
    std::shared_ptr<const trace_context> trace;

    bool empty() const noexcept { return group.empty() && trace == nullptr; }
  };
  struct plain_message {
    T body;
    plain_extras extras;
  };

  // Whether a send with options is plain: it may carry a key (the channel
  // checks it in the dedup window without its main lock), but nothing else
  // that needs the channel's state. Reads only what never changes.
  bool is_plain(const send_options& options) const noexcept {
    return !options_.durable && !options.track_delivery && options.delay <= std::chrono::milliseconds::zero();
  }

  // prepare() for a plain send.
  plain_message prepare_plain(T&& message, send_options&& options) const {
    check_trace(options.trace, "send_options::trace");
    plain_message out{std::move(message), {std::move(options.group), 0, nullptr}};
    if (options_.ordering == ordering::fifo)
      out.extras.group_hash = fifo_groups<record>::hash_of(out.extras.group);
    if (!options.trace.empty()) [[unlikely]]
      out.extras.trace = share_trace(std::move(options.trace));
    return out;
  }

  // A plain send (and its key, if any) as enqueue() takes it, with the
  // numbers it was given.
  static new_message from_plain(plain_message&& plain, std::uint64_t id, std::uint64_t sequence,
                                dedup_key key = {}) {
    new_message out(std::move(plain.body), std::move(plain.extras.group), std::move(key));
    out.group_hash = plain.extras.group_hash;
    out.trace = std::move(plain.extras.trace);
    out.id = id;
    out.sequence = sequence;
    out.by_send = true;
    return out;
  }

  // Out of line and cold: an untraced send's path stays small enough to
  // inline into send().
  [[gnu::cold]] [[gnu::noinline]] static std::shared_ptr<const trace_context> share_trace(
      trace_context&& trace) {
    return std::make_shared<const trace_context>(std::move(trace));
  }

  // A dead letter of the channel this one holds the dead letters of, as a
  // message here (it keeps its group and sequence).
  static new_message from_dead_letter(dead_letter<T> letter) {
    new_message out(std::move(letter.body), std::move(letter.group), dedup_key());
    out.group_hash = letter.group_hash;
    out.sequence = letter.sequence;
    out.encoded = std::move(letter.encoded);
    out.dead_letter_from = letter.from;
    out.dead_letter_of = letter.of;
    out.trace = std::move(letter.trace);
    return out;
  }

  // The key message is deduplicated by, hashed (call before taking the lock).
  dedup_key key_of(const T& message, std::string&& idempotency_key) const {
    if (!dedup_.enabled()) return {};
    if (!idempotency_key.empty()) return dedup_key(std::move(idempotency_key));
    if (options_.content_dedup) return dedup_key(sha256::hex(options_.content_dedup(message)));
    return {};
  }

  // The time as this channel sees it, never earlier than a reading it has
  // acted on (callers read the clock before locking, so two may lock in the
  // other order than they read), with everything due by then applied.
  clock::time_point advance(clock::time_point read) {
    if (read > latest_now_) latest_now_ = read;
    const auto now = latest_now_;
    while (record* expired = timers_.expired_in_flight(now)) {
      ++stats_.visibility_expired;
      give_back(*expired, now);
    }
    while (const auto due = timers_.pop_due(now)) apply(*due, now);
    return now;
  }

  // The latest time advance() saw.
  clock::time_point latest_now() const noexcept { return latest_now_; }

  // The dedup window, for a plain send's key: guarded by the channel's dedup
  // lock, not its main one (see the top of this file).
  dedup_window& dedup() noexcept { return dedup_; }

  // The answer to a send whose key was accepted within the window, if it was.
  std::optional<accepted> duplicate(const dedup_key& key, bool track, clock::time_point now) {
    if (key.empty()) return std::nullopt;
    const first_send* seen = dedup_.find(key, now);
    if (seen == nullptr) return std::nullopt;
    ++stats_.duplicates;
    // The first send may not be durable yet: wait for everything so far.
    return accepted{{seen->id, seen->sequence, true, track ? receipt_of(seen->id, now) : delivery_receipt()},
                    bridge_ ? bridge_->last_ticket() : 0};
  }

  bool has_room() const noexcept { return records_.size() < options_.capacity; }
  std::size_t size() const noexcept { return records_.size(); }

  // A new record, holding body and what came with it (from a plain send or
  // a new_message), counted as accepted; not yet in any queue.
  record& add_record(T&& body, std::string&& group, std::uint64_t group_hash,
                     std::shared_ptr<const trace_context>&& trace, std::uint64_t id, std::uint64_t sequence,
                     clock::time_point visible_at, clock::time_point now) {
    std::unique_ptr<record> owned = records_.make();
    owned->id = message_id{id};
    owned->body.emplace(std::move(body));
    owned->group = std::move(group);
    owned->group_hash = group_hash;
    owned->trace = std::move(trace);
    record& fresh = records_.add(std::move(owned));
    last_id_ = std::max(last_id_, id);
    fresh.sequence = sequence;
    fresh.visible_at = visible_at;
    fresh.accepted_at = now;
    ++stats_.accepted;
    return fresh;
  }

  // Queues a plain send (see plain_message) numbered by the caller: what
  // enqueue() does for one, without building a new_message first.
  void enqueue_plain(T&& body, plain_extras&& extras, std::uint64_t id, std::uint64_t sequence,
                     clock::time_point now) {
    record& fresh = add_record(std::move(body), std::move(extras.group), extras.group_hash,
                               std::move(extras.trace), id, sequence, now, now);
    join_queue(fresh, now);
  }

  // Queues a new message.
  accepted enqueue(new_message&& message, clock::time_point now) {
    record& fresh = add_record(std::move(message.body), std::move(message.group), message.group_hash,
                               std::move(message.trace), message.id != 0 ? message.id : last_id_ + 1,
                               message.sequence != 0 ? message.sequence : last_sequence_ + 1,
                               now + std::max(message.delay, std::chrono::milliseconds::zero()), now);
    if (message.sequence == 0) last_sequence_ = fresh.sequence;
    accepted out{{fresh.id, fresh.sequence, false, {}}};
    if (bridge_) {
      fresh.saved = false;
      out.ticket = bridge_->accepted(
          stored_message{
              .id = fresh.id.value,
              .sequence = fresh.sequence,
              .group = fresh.group,
              .key = message.key.key,
              .body = std::move(message.encoded),
              .sent_at = bridge_->to_stored(now),
              .visible_at = bridge_->to_stored(fresh.visible_at),
              .traceparent = fresh.trace ? fresh.trace->traceparent : std::string(),
              .tracestate = fresh.trace ? fresh.trace->tracestate : std::string(),
          },
          message.key, message.by_send, message.dead_letter_from, message.dead_letter_of);
    }
    if (!message.key.empty())
      dedup_.remember(std::move(message.key), first_send{fresh.id, fresh.sequence}, now);
    if (message.track) {
      out.result.receipt = sender_receipts::of_held(fresh.tracked);
      if (message.receipt_timeout > clock::duration::zero()) {
        timers_.schedule({now + message.receipt_timeout, fresh.id.value, 0, timer_kind::receipt_deadline});
      }
    }
    join_queue(fresh, now);
    return out;
  }

  // Hands out up to max ready messages: emit(record, receipt) for each, in
  // order, before anything else may change the record.
  template <class Emit>
  void hand_out(std::size_t max, clock::time_point now, Emit&& emit) {
    for (std::size_t taken = 0; taken < max && !ready_.empty();) {
      const std::uint64_t id = ready_.front();
      ready_.pop_front();
      record* found = records_.find(id);
      if (found == nullptr || found->status != record_state::ready) continue;  // settled meanwhile
      record& item = *found;
      item.status = record_state::in_flight;
      item.open = true;
      ++item.receive_count;
      if (item.receive_count > 1) ++stats_.redeliveries;
      item.delivery = ++last_delivery_;
      item.visible_at = now + options_.visibility_timeout;
      if (options_.acknowledge) {
        timers_.track_in_flight(item);
        if (bridge_) bridge_->delivered(item.id.value, item.receive_count, item.visible_at);
      }
      ++in_flight_;
      ++stats_.deliveries;
      ++taken;
      emit(std::as_const(item), receipt{item.id, item.delivery});
      if (!options_.acknowledge) {
        ++stats_.acked;
        settle(item, delivery_outcome::acked, item.delivery, now);
      }
    }
  }

  // Whether a plain send may go straight to a receiver, never queued: on a
  // channel that asks for no acks and keeps no order or journal, when
  // nothing ready waits before it (so it is the oldest deliverable
  // message). It then costs no record at all.
  bool may_hand_out_plain() const noexcept {
    return !options_.acknowledge && options_.ordering == ordering::none && !bridge_ && ready_.empty();
  }

  // The receipt a plain send handed straight out gets (see
  // handed_out_plain); nothing changes until then.
  receipt plain_receipt(std::uint64_t id) const noexcept {
    return receipt{message_id{id}, last_delivery_ + 1};
  }

  // Counts a plain send handed straight to a receiver with handle as what
  // enqueue(), hand_out() and the settle that follows on a channel without
  // acks would have counted.
  void handed_out_plain(const receipt& handle, clock::time_point accepted_at, clock::time_point now) {
    last_id_ = std::max(last_id_, handle.message.value);
    last_delivery_ = handle.delivery;
    ++stats_.accepted;
    ++stats_.deliveries;
    ++stats_.acked;
    stats_.send_to_ack.record(now - std::min(accepted_at, now));
    ledger_.settled(handle.message.value, handle.delivery, delivery_outcome::acked, now);
    ++progress_.settled;
  }

  // Undoes the hand-out of item's open delivery, which never reached a
  // receiver (an Asio receive cancelled while it took the message): the
  // message is visible at once, first in line, with the receive count it
  // had before, and the delivery's receipt is stale.
  void release(record& item, clock::time_point now) {
    item.open = false;
    leave_flight(item);
    --item.receive_count;
    --stats_.deliveries;
    if (item.receive_count > 0) --stats_.redeliveries;
    item.visible_at = now;
    if (bridge_) bridge_->delivered(item.id.value, item.receive_count, item.visible_at);
    item.status = record_state::ready;
    ready_.push_front(item.id.value);
    ++progress_.readied;
  }

  // Whether a receive would find something now (or a settled entry it skips).
  bool has_ready() const noexcept { return !ready_.empty(); }

  // When something is next due (a visibility, a delay, a receipt deadline).
  std::optional<clock::time_point> next_due() const { return timers_.next_due(); }

  // Whether handle may settle its message. allow_expired: see receipt_ledger.
  checked check(const receipt& handle, bool allow_expired, clock::time_point now) {
    record* found = records_.find(handle.message.value);
    std::optional<live_delivery> current;
    if (found != nullptr) {
      current = live_delivery{found->delivery, found->open, found->status == record_state::in_flight};
    }
    const receipt_check verdict = ledger_.check(handle, current, allow_expired, now);
    return {verdict, verdict.verdict == receipt_verdict::open ? found : nullptr};
  }

  // item's open delivery (by_delivery) is done: the message is settled.
  void ack(record& item, std::uint64_t by_delivery, clock::time_point now) {
    ++stats_.acked;
    settle(item, delivery_outcome::acked, by_delivery, now);
  }

  // Gives item's open delivery back, to be delivered again after delay.
  void nack(record& item, std::chrono::milliseconds delay, clock::time_point now) {
    item.open = false;
    ++stats_.nacked;
    item.visible_at = now + std::max(delay, std::chrono::milliseconds::zero());
    if (bridge_) bridge_->delivered(item.id.value, item.receive_count, item.visible_at);
    give_back(item, now);
  }

  // Keeps item's open delivery hidden for visibility from now.
  void extend(record& item, std::chrono::milliseconds visibility, clock::time_point now) {
    item.visible_at = now + std::max(visibility, std::chrono::milliseconds::zero());
    if (bridge_) bridge_->delivered(item.id.value, item.receive_count, item.visible_at);
    timers_.untrack_in_flight(item);  // its deadline is no longer in delivery order
    timers_.schedule({item.visible_at, item.id.value, item.delivery, timer_kind::visibility});
  }

  // No more sends or receives: a message not in flight can never be
  // received again, so its sender is told now.
  void close() {
    if (closed_) return;
    closed_ = true;
    records_.for_each([](record& item) {
      if (item.status != record_state::in_flight)
        sender_receipts::resolve(item.tracked, delivery_outcome::abandoned);
    });
  }
  bool closed() const noexcept { return closed_; }

  // The channel is going away: every sender still waiting is told.
  void abandon_all() {
    records_.for_each(
        [](record& item) { sender_receipts::resolve(item.tracked, delivery_outcome::abandoned); });
  }

  // Durable channels: starts recording into durable.journal, first taking
  // in what it kept. Throws courier::error (invalid_option, invalid_store).
  void open_durable(const durability<T>& durable, clock::time_point clock_now) {
    bridge_.emplace(durable, clock_now);
    recover(bridge_->journal().recover(options_.dedup_window), clock_now);
  }

  // The journal decided every change up to write.last_ticket.
  void journal_wrote(const journal_write& write, clock::time_point now) {
    bridge_->wrote(
        write,
        [&](std::uint64_t id) {
          record* found = records_.find(id);
          if (found == nullptr) return;
          found->saved = true;
          if (found->status == record_state::unsaved) make_deliverable(*found, now);
        },
        [&](const typename durable_bridge<T>::unsaved& entry) { drop_unsaved(entry, now); });
  }

  // The counts, and the gauges as of now.
  channel_stats stats(clock::time_point now) const {
    channel_stats copy = stats_;
    copy.waiting = records_.size();
    copy.in_flight = in_flight_;
    copy.groups = groups_.size();
    for (const std::uint64_t id : ready_) {  // the first that is still ready (settled ones are skipped later)
      const record* found = records_.find(id);
      if (found == nullptr || found->status != record_state::ready) continue;
      copy.oldest_ready_age = std::max(now - found->accepted_at, clock::duration::zero());
      break;
    }
    return copy;
  }

  progress progress_so_far() const noexcept { return progress_; }

  // The last id and sequence number this engine gave out or recovered.
  std::pair<std::uint64_t, std::uint64_t> last_numbers() const noexcept { return {last_id_, last_sequence_}; }

 private:
  // Settled deliveries are remembered for one visibility timeout, or for
  // this many ids if that is shorter (see recent_ids.hpp).
  static constexpr std::size_t remembered_settlements = std::size_t{1} << 18;

  // A new record's place: at the back of its group, or deliverable.
  void join_queue(record& item, clock::time_point now) {
    if (options_.ordering == ordering::fifo && !groups_.append(item)) return;  // behind its group's head
    make_deliverable(item, now);
  }

  void apply(const timer& due, clock::time_point now) {
    record* found = records_.find(due.id);
    if (found == nullptr) return;  // settled since
    record& item = *found;
    // Each timer checks that its record is still in the state it was set for:
    // one made stale by a later change (an ack, an extend, a redelivery) does nothing.
    switch (due.kind) {
      case timer_kind::visible:
        if (item.status == record_state::delayed && item.visible_at <= now) push_ready(item);
        break;
      case timer_kind::visibility:
        if (item.status == record_state::in_flight && item.delivery == due.delivery &&
            item.visible_at <= now) {
          ++stats_.visibility_expired;
          give_back(item, now);
        }
        break;
      case timer_kind::receipt_deadline:
        sender_receipts::resolve(item.tracked, delivery_outcome::timed_out);
        break;
    }
  }

  void push_ready(record& item) {
    item.status = record_state::ready;
    ready_.push_back(item.id.value);
    ++progress_.readied;
  }

  // A standard message, or a FIFO group's new head: ready now, or at visible_at.
  void make_deliverable(record& item, clock::time_point now) {
    if (!item.saved) {
      item.status = record_state::unsaved;  // journal_wrote() comes back for it
      return;
    }
    if (item.visible_at <= now) {
      push_ready(item);
    } else {
      item.status = record_state::delayed;
      timers_.schedule({item.visible_at, item.id.value, item.delivery, timer_kind::visible});
    }
  }

  void leave_flight(record& item) {
    if (item.status != record_state::in_flight) return;
    --in_flight_;
    timers_.untrack_in_flight(item);
  }

  // The delivery ended without an ack (nack or timeout): deliver again or
  // dead-letter. A FIFO record stays its group's head either way until settled.
  void give_back(record& item, clock::time_point now) {
    if (item.status == record_state::in_flight) {
      leave_flight(item);
      item.status = record_state::delayed;  // until make_deliverable or settle below decides
    }
    if (options_.max_receives != 0 && item.receive_count >= options_.max_receives) {
      ++stats_.dead_lettered;
      dead_letters_.take(
          dead_letter<T>{
              .body = T(*item.body),
              .group = item.group,
              .group_hash = item.group_hash,
              .sequence = item.sequence,
              .trace = item.trace,
              .encoded = bridge_ ? options_.durable.encode(*item.body) : std::string(),
              .from = bridge_ ? &bridge_->journal() : nullptr,
              .of = item.id.value,
          },
          now);
      settle(item, delivery_outcome::dead_lettered, item.delivery, now);
      return;
    }
    if (closed_)
      sender_receipts::resolve(item.tracked, delivery_outcome::abandoned);  // nobody can receive it
    make_deliverable(item, now);
  }

  // Removes a record for good; a FIFO group moves on to its next message.
  void settle(record& item, delivery_outcome outcome, std::uint64_t by_delivery, clock::time_point now) {
    leave_flight(item);
    if (outcome == delivery_outcome::acked) stats_.send_to_ack.record(now - item.accepted_at);
    // (A dead letter's move was journaled with the letter, see give_back.)
    if (bridge_ && item.saved && outcome == delivery_outcome::acked) bridge_->acked(item.id.value);
    ledger_.settled(item.id.value, by_delivery, outcome, now);
    if (outcome == delivery_outcome::dead_lettered) sender_receipts_.dead_lettered(item.id.value, now);
    sender_receipts::resolve(item.tracked, outcome);
    if (options_.ordering == ordering::fifo) {
      // Only the head is ever delivered or made unsaved-deliverable, so item is its group's head.
      if (record* next = groups_.pop_head(item)) make_deliverable(*next, now);
    }
    ++progress_.settled;
    records_.remove(item);
  }

  // The receipt of a message that was sent before (a duplicate send).
  delivery_receipt receipt_of(message_id id, clock::time_point now) {
    if (record* found = records_.find(id.value)) return sender_receipts::of_held(found->tracked);
    return sender_receipts_.of_settled(id.value, now);
  }

  void recover(recovered_channel state, clock::time_point now) {
    last_id_ = state.last_id;
    last_sequence_ = state.last_sequence;
    // Keys go in in id order, which is the order they expire in; a wall
    // clock that stepped back must not make them run backwards.
    clock::time_point previous{};
    for (auto& key : state.keys) {
      const auto sent = std::max(previous, bridge_->from_stored(key.sent_at));
      previous = sent;
      if (dedup_.enabled())
        dedup_.remember(dedup_key(std::move(key.key)), first_send{message_id{key.id}, key.sequence}, sent);
      if (key.state == stored_state::dead_lettered) sender_receipts_.dead_lettered(key.id, sent);
    }
    latest_now_ = std::max(latest_now_, now);
    dedup_.expire(latest_now_);
    for (stored_message& kept : state.waiting) {
      std::unique_ptr<record> owned = records_.make();
      owned->id = message_id{kept.id};
      owned->body.emplace(bridge_->decode(kept));
      owned->group_hash = options_.ordering == ordering::fifo ? fifo_groups<record>::hash_of(kept.group) : 0;
      owned->group = std::move(kept.group);
      if (!kept.traceparent.empty()) {
        owned->trace = std::make_shared<const trace_context>(accept_trace(kept.traceparent, kept.tracestate));
      }
      record& item = records_.add(std::move(owned));
      item.sequence = kept.sequence;
      item.receive_count = kept.receive_count;
      // A delivery in flight at the crash comes back when its visibility
      // would have run out; a delayed message when its delay ends; one
      // never delivered nor delayed is due at once. That last case is not
      // left to the clock mapping: the stored times carry the mapping's
      // error (a coarse clock reads up to a tick behind the wall clock it
      // is paired with), so a message sent just before the store closed
      // could otherwise map a few milliseconds into the future and stay
      // hidden behind one sent before it.
      const bool was_due = kept.receive_count == 0 && kept.visible_at <= kept.sent_at;
      item.visible_at = was_due ? latest_now_ : std::max(latest_now_, bridge_->from_stored(kept.visible_at));
      item.accepted_at = std::min(latest_now_, bridge_->from_stored(kept.sent_at));
      join_queue(item, latest_now_);
    }
  }

  // Forgets a message whose acceptance could not be made durable: its
  // sender was told so, and may send it again with the same key.
  void drop_unsaved(const typename durable_bridge<T>::unsaved& entry, clock::time_point now) {
    record* found = records_.find(entry.id);
    if (found == nullptr) return;
    record& item = *found;
    if (!entry.key.empty()) dedup_.forget(entry.key);
    --stats_.accepted;
    if (item.status == record_state::unsaved) {
      // Deliverable but for this: a standard message or a FIFO group's head.
      settle(item, delivery_outcome::abandoned, 0, now);
      return;
    }
    groups_.unlink(item);  // a FIFO message behind its group's head
    sender_receipts::resolve(item.tracked, delivery_outcome::abandoned);
    records_.remove(item);
  }

  // Read without the channel's lock, by senders (prepare, is_plain): on a
  // line apart from the state below, which the lock's holder writes.
  const channel_options<T>& options_;
  dead_letter_sink<T>& dead_letters_;

  alignas(128) record_pool<record> records_;
  fifo_groups<record> groups_;  // FIFO only
  std::deque<std::uint64_t> ready_;
  delivery_timers<record> timers_;
  // Written by senders under the dedup lock, not the lock's holder: lines of
  // its own (see the top of this file).
  alignas(128) dedup_window dedup_;
  alignas(128) receipt_ledger ledger_;
  sender_receipts sender_receipts_;
  std::optional<durable_bridge<T>> bridge_;  // durable channels only

  clock::time_point latest_now_{};
  std::uint64_t last_id_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::uint64_t last_delivery_ = 0;
  std::size_t in_flight_ = 0;
  bool closed_ = false;
  progress progress_;
  channel_stats stats_;  // its histograms last: the counts stay near the rest
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
