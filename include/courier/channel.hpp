// courier::channel<T>: an in-process queue with the guarantees of an SQS
// FIFO queue: FIFO per message group, exactly-once effect through idempotency
// keys and a dedup window, receipts, acks, visibility timeouts, redelivery
// and dead letters, and delivery receipts a sender can await.
//
// When to use it: work that must not be lost or done twice inside one
// process, or as the in-process stand-in for an SQS queue (same options, same
// semantics). For fire-and-forget notification, courier::bus is lighter.
//
// Design. One lock guards the channel's state; every operation is a few
// flat-table steps under it (hashing and clock reads happen before it is
// taken, settled records are recycled instead of freed), and the work a
// consumer does happens outside it. Messages live in records found by id. A FIFO
// channel links each group's records in send order and lets only the head
// be delivered: the group is held while its head is in flight, as SQS does,
// so a redelivery cannot overtake. Deliverable records (a standard channel's
// visible messages, a FIFO group's visible head) wait in one ready queue, so
// receive() never scans groups. Time-driven changes: deliveries in flight
// sit in a list in deadline order (one timeout, a clock that never runs
// back), which an ack leaves in O(1); the rarer timers (delays, extends,
// receipt deadlines) wait in a min-heap. Every operation first applies what
// is due: nothing depends on a background thread, and a manual clock makes
// it all deterministic.
//
// Receipts. Each delivery gets a new receipt; only the newest one settles the
// message. After its visibility timeout a delivery can still be acked until
// the message is delivered again (nobody else holds it yet); after that the
// old receipt is stale and every use of it fails with errc::stale_receipt and
// changes nothing. Acking the same delivery twice returns already_acked.
//
// Dead letters. With max_receives set, a message whose visibility runs out (or
// that is nacked) after its max_receives-th delivery moves to dead_letters(),
// a standard channel whose deliveries keep the original group and sequence.
// Its FIFO group then moves on to the next message: a poisoned head does not
// block its group forever, and the dead-letter channel shows what was skipped.
//
// Durability. With channel_options::durable set (courier::sqlite::durable<T>),
// the channel recovers its messages and keys from the store when it is
// made and journals every change; send() returns once its message is
// durable, and a message is delivered only once it is. The state itself
// stays in memory, so receives and acks never wait for the disk (see
// channel_journal.hpp). Delivery receipts (track_delivery) live in memory
// only: they do not survive a restart.
//
// Thread-safety: every public member function is thread-safe.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/channel_options.hpp"
#include "courier/clock.hpp"
#include "courier/consumer.hpp"
#include "courier/delivery.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/detail/call_handler.hpp"
#include "courier/detail/expiring_map.hpp"
#include "courier/detail/flat_index.hpp"
#include "courier/detail/id_table.hpp"
#include "courier/detail/intrusive_list.hpp"
#include "courier/detail/recent_ids.hpp"
#include "courier/detail/sha256.hpp"
#include "courier/detail/spin_then_block.hpp"
#include "courier/error.hpp"
#include "courier/message_id.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {

// What channel::ack(span of receipts) did, receipt by receipt.
struct ack_batch_result {
  std::size_t acked = 0;          // settled by this call
  std::size_t already_acked = 0;  // these very deliveries were acked before; nothing changed
  // Receipts ack() would have refused (stale_receipt, unknown_receipt), with
  // the error it would have thrown; nothing changed for them.
  std::vector<std::pair<receipt, error>> failed;

  bool ok() const noexcept { return failed.empty(); }
};

// Counters for tests, dashboards and the benchmark.
struct channel_stats {
  std::uint64_t accepted = 0;    // sends that queued a new message
  std::uint64_t duplicates = 0;  // sends answered from the dedup window
  std::uint64_t deliveries = 0;  // messages handed to consumers, redeliveries included
  std::uint64_t acked = 0;
  std::uint64_t dead_lettered = 0;
  std::size_t waiting = 0;  // accepted, not yet acked or dead-lettered
  std::size_t in_flight = 0;
};

template <class T>
class channel {
 public:
  using value_type = T;

 private:
  static_assert(std::is_copy_constructible_v<T>,
                "channel<T>: T must be copyable, since a message is delivered again until acked");

 public:
  // Throws courier::error (invalid_option) for options that cannot work.
  explicit channel(channel_options<T> options = {})
      : options_(std::move(options)),
        clock_(options_.time_source ? options_.time_source : steady_clock::shared()),
        dedup_(options_.dedup_window),
        settled_(options_.visibility_timeout, remembered_settlements),
        dead_lettered_ids_(std::max<clock::duration>(options_.dedup_window, options_.visibility_timeout)) {
    if (options_.visibility_timeout <= clock::duration::zero()) {
      throw error(errc::invalid_option, "channel_options::visibility_timeout must be positive");
    }
    if (options_.capacity == 0) throw error(errc::invalid_option, "channel_options::capacity must not be 0");
    if (options_.durable) open_durable();
  }

  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Closes the channel (see close()) and waits until every caller it woke
  // has left. Stop consumers before destroying their channel.
  ~channel() {
    // First: the journal's thread calls back into this channel until stopped.
    if (journal_) journal_->stop();
    std::unique_lock lock(mutex_);
    close_locked();
    records_.for_each([this](record& item) { resolve(item, delivery_outcome::abandoned); });
    left_cv_.wait(lock, [this] { return blocked_ == 0; });
  }

  // Refuses all further sends and receives (they throw channel_closed), wakes
  // every caller blocked in send or receive with that error, and resolves
  // the tracked receipts of messages not in flight as abandoned. Acks, nacks
  // and extends of receipts already handed out still work, so a consumer can
  // finish what it holds (a nacked or expired one is then abandoned).
  // Closing twice is harmless. Thread-safe.
  void close() {
    std::unique_lock lock(mutex_);
    close_locked();
  }

  bool closed() const {
    std::unique_lock lock(mutex_);
    return closed_;
  }

  // Queues message, or answers from the dedup window when its key (or
  // content hash) was accepted within it: then nothing new is queued and the
  // result carries the first send's id with duplicate = true. Blocks while
  // the channel is full, up to send_timeout. Throws courier::error:
  // missing_group (FIFO channel, no group), channel_full, channel_closed.
  // A durable channel returns once the message (or, for a duplicate, the
  // first send's) is durable, and throws storage_failed when it could not be
  // made durable: then nothing was accepted, and sending again with the same
  // key is safe.
  send_result send(T message, send_options options = {}) {
    std::uint64_t ticket = 0;
    send_result result = *send_impl(std::move(message), std::move(options), true, &ticket);
    if (journal_) journal_->wait_durable(ticket);
    return result;
  }

  // As send(), but returns nothing at once instead of waiting when full.
  std::optional<send_result> try_send(T message, send_options options = {}) {
    std::uint64_t ticket = 0;
    auto result = send_impl(std::move(message), std::move(options), false, &ticket);
    if (result && journal_) journal_->wait_durable(ticket);
    return result;
  }

  // Sends each message in turn as send() would, then waits once until all of
  // them are durable: on a durable channel, a producer that has many messages
  // at hand pays for one commit, not one per message. Returns the results in
  // order. Throws like send(); when it throws, some of the messages may have
  // been accepted: send them all again with their keys.
  std::vector<send_result> send_batch(std::vector<std::pair<T, send_options>> messages) {
    std::vector<send_result> results;
    results.reserve(messages.size());
    std::uint64_t last_ticket = 0;
    for (auto& [message, options] : messages) {
      std::uint64_t ticket = 0;
      results.push_back(*send_impl(std::move(message), std::move(options), true, &ticket));
      last_ticket = std::max(last_ticket, ticket);
    }
    if (journal_ && !results.empty()) journal_->wait_durable(last_ticket);
    return results;
  }

  // Takes up to max visible messages (FIFO: at most one per group, the
  // group's oldest), waiting up to wait for the first. Each comes with a
  // receipt and stays hidden from other receivers for the visibility timeout.
  // Returns an empty vector when nothing came in time. Throws courier::error
  // (channel_closed).
  std::vector<delivery<T>> receive(std::size_t max = 1, std::chrono::milliseconds wait = {}) {
    return receive_impl(max, wait, nullptr);
  }

  // Settles the delivery: the message is done and will not be delivered
  // again. Returns already_acked when this delivery was acked before. Throws
  // courier::error: stale_receipt (the message was delivered again, nacked,
  // dead-lettered or acked through another delivery), unknown_receipt.
  ack_result ack(const receipt& handle) {
    const auto read = clock_->now();
    std::unique_lock lock(mutex_);
    const auto now = monotonic(read);
    apply_due_timers(now);
    record* found = find_open(handle, "ack", /*allow_expired=*/true, now);
    if (found == nullptr) return ack_result::already_acked;
    ++stats_.acked;
    settle(*found, delivery_outcome::acked, handle.delivery, now);
    return ack_result::acked;
  }

  // Acks several deliveries under one lock, like SQS DeleteMessageBatch: a
  // consumer that receives in batches pays for the lock and the clock once
  // per batch, not once per message. Each receipt is handled as ack() would
  // handle it; one that ack() would refuse (stale, unknown) is reported in
  // the result with its error and does not stop the others.
  ack_batch_result ack(std::span<const receipt> handles) {
    ack_batch_result result;
    const auto read = clock_->now();
    std::unique_lock lock(mutex_);
    const auto now = monotonic(read);
    apply_due_timers(now);
    for (const receipt& handle : handles) {
      try {
        record* found = find_open(handle, "ack", /*allow_expired=*/true, now);
        if (found == nullptr) {
          ++result.already_acked;
          continue;
        }
        ++stats_.acked;
        ++result.acked;
        settle(*found, delivery_outcome::acked, handle.delivery, now);
      } catch (const error& refused) {
        result.failed.emplace_back(handle, refused);
      }
    }
    return result;
  }

  // Gives the message back: it is delivered again after delay (to any
  // consumer; a FIFO group stays held meanwhile), or dead-lettered if it
  // reached max_receives. Throws like ack(); nacking an acked delivery is
  // stale_receipt.
  void nack(const receipt& handle, std::chrono::milliseconds delay = {}) {
    std::unique_lock lock(mutex_);
    const auto now = monotonic(clock_->now());
    apply_due_timers(now);
    record* found = find_open(handle, "nack", /*allow_expired=*/false, now);
    if (found == nullptr) throw already_acked_error(handle, "nack");
    found->open = false;
    found->visible_at = now + std::max(delay, std::chrono::milliseconds::zero());
    if (journal_) journal_->record_delivered(found->id.value, found->receive_count, to_stored(found->visible_at));
    give_back(*found, now);
  }

  // Keeps the delivery hidden for visibility from now (SQS
  // ChangeMessageVisibility). Throws like nack().
  void extend(const receipt& handle, std::chrono::milliseconds visibility) {
    std::unique_lock lock(mutex_);
    const auto now = monotonic(clock_->now());
    apply_due_timers(now);
    record* found = find_open(handle, "extend", /*allow_expired=*/false, now);
    if (found == nullptr) throw already_acked_error(handle, "extend");
    found->visible_at = now + std::max(visibility, std::chrono::milliseconds::zero());
    if (journal_) journal_->record_delivered(found->id.value, found->receive_count, to_stored(found->visible_at));
    in_flight_by_deadline_.remove(*found);  // its deadline is no longer in delivery order
    timers_.push({found->visible_at, found->id.value, found->delivery, timer_kind::visibility});
  }

  // Where messages go after max_receives deliveries: a standard channel of
  // the same type. Receive from it to inspect them; redrive() to retry them.
  channel& dead_letters() {
    std::call_once(dead_letters_made_, [this] {
      durability<T> durable;
      if (journal_) durable = {journal_->dead_letter_journal(), options_.durable.encode, options_.durable.decode};
      dead_letters_ = std::make_unique<channel>(channel_options<T>{
          .dedup_window = std::chrono::milliseconds::zero(),
          .visibility_timeout = options_.visibility_timeout,
          .time_source = clock_,
          .durable = std::move(durable),
      });
    });
    return *dead_letters_;
  }

  // Moves up to max dead letters back into this channel as new messages of
  // their original groups (at the back of each group), bypassing the dedup
  // window. Returns how many moved.
  std::size_t redrive(std::size_t max = static_cast<std::size_t>(-1)) {
    std::size_t moved = 0;
    channel& dead = dead_letters();
    while (moved < max) {
      auto batch = dead.receive(std::min<std::size_t>(max - moved, 64));
      if (batch.empty()) break;
      for (auto& letter : batch) {
        std::uint64_t ticket = 0;
        {
          const std::uint64_t group_hash = group_hash_of(letter.group());
          std::string encoded = journal_ ? options_.durable.encode(letter.message()) : std::string();
          std::unique_lock lock(mutex_);
          enqueue(make_record(std::move(letter.message()), letter.group(), group_hash),
                  {.encoded = std::move(encoded), .ticket = &ticket}, monotonic(clock_->now()));
        }
        // Durable here before it leaves the dead letters: never in neither.
        if (journal_) journal_->wait_durable(ticket);
        letter.ack();
        ++moved;
      }
    }
    return moved;
  }

  // Runs handler on options.concurrency threads for every message, until the
  // returned consumer is stopped or destroyed. handler(delivery<T>&) or
  // handler(const T&): returning acks the delivery (unless the handler
  // settled it), throwing nacks it (delivered again, or dead-lettered). Errors
  // the threads cannot hand to anyone (the exception, a stale ack after the
  // visibility ran out) go to on_error, by default a line on stderr.
  template <class Handler>
  requires std::invocable < Handler&, delivery<T>
  & > || std::invocable<Handler&, const T&> [[nodiscard]] consumer consume(
             Handler handler, consume_options options = {},
             std::function<void(message_id, std::exception_ptr)> on_error = {}) {
    if (!on_error) on_error = log_consumer_error;
    // One handler shared by all the threads (not a copy each), so its state is
    // the application's one; with concurrency > 1 it must be thread-safe.
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto body = [this, shared, options, on_error](const std::atomic<bool>& stop) {
      while (!stop.load(std::memory_order_acquire)) {
        std::vector<delivery<T>> batch;
        try {
          batch = receive_impl(options.batch, options.poll, &stop);
        } catch (const error&) {
          return;  // the channel is closing
        }
        for (auto& item : batch) handle_one(*shared, item, on_error);
      }
    };
    return consumer(std::max<std::size_t>(options.concurrency, 1), std::move(body),
                    [this] { wake_receivers(); });
  }

  channel_stats stats() const {
    std::unique_lock lock(mutex_);
    channel_stats copy = stats_;
    copy.waiting = records_.size();
    copy.in_flight = in_flight_;
    return copy;
  }

  const channel_options<T>& options() const noexcept { return options_; }

 private:
  enum class state : std::uint8_t {
    queued,     // FIFO: behind its group's head
    delayed,    // waits for visible_at (a delay or a nack's delay)
    ready,      // in ready_, may be received
    in_flight,  // delivered, waits for ack, nack or its visibility timeout
    unsaved,    // durable channels: deliverable once its acceptance is durable
  };

  struct tracking {
    std::promise<delivery_outcome> promise;
    std::shared_future<delivery_outcome> future = promise.get_future().share();
    bool resolved = false;
  };

  // Records are recycled (see make_record), so a record is default-made and
  // its body put in place when it is used.
  struct record {
    std::optional<T> body;
    message_id id;
    std::uint64_t sequence = 0;
    std::string group;
    std::uint64_t group_hash = 0;     // FIFO only
    record* next_in_group = nullptr;  // FIFO only: the next message of the group
    record* group_tail = nullptr;     // FIFO only, kept in the group's head
    state status = state::queued;
    bool open = false;  // the current delivery may still settle it
    bool saved = true;  // durable channels: its acceptance is durable
    std::uint32_t receive_count = 0;
    std::uint64_t delivery = 0;  // the current delivery's number, 0 before the first
    clock::time_point visible_at;
    std::unique_ptr<tracking> tracked;
    detail::list_hook<record> deadline_hook;  // in in_flight_by_deadline_

    std::uint64_t table_key() const noexcept { return id.value; }
  };

  enum class timer_kind : std::uint8_t { visible, visibility, receipt_deadline };
  struct timer {
    clock::time_point at;
    std::uint64_t id;
    std::uint64_t delivery;
    timer_kind kind;
    bool operator>(const timer& other) const noexcept { return at > other.at; }
  };

  struct dedup_entry {
    message_id id;
    std::uint64_t sequence;
  };
  // An idempotency key (or a content hash), hashed before the lock is taken.
  using dedup_table = detail::expiring_map<std::string, dedup_entry>;
  struct dedup_key {
    dedup_key() = default;
    explicit dedup_key(std::string text) : key(std::move(text)), hash(dedup_table::hash_of(key)) {}
    bool empty() const noexcept { return key.empty(); }
    std::string key;
    std::uint64_t hash = 0;
  };
  // Durable channels: an accepted message not yet durable.
  struct unsaved_message {
    std::uint64_t ticket;
    std::uint64_t id;
    dedup_key key;  // by send() only: forgotten again if the write fails
  };
  struct settled_entry {
    std::uint64_t delivery;  // the delivery that settled it (0: dead-lettered via nack)
    delivery_outcome outcome;
  };

  void close_locked() {
    if (closed_) return;
    closed_ = true;
    // A message in flight may still be acked by the consumer holding it; the
    // rest can never be received again.
    records_.for_each([this](record& item) {
      if (item.status != state::in_flight) resolve(item, delivery_outcome::abandoned);
    });
    ready_pushes_.store(ready_pushes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    ready_cv_.notify_all();
    space_cv_.notify_all();
  }

  // Counts a caller blocked on one of the channel's condition variables, so
  // the destructor can wait until it has left.
  struct blocked_scope {
    explicit blocked_scope(channel& owner) : owner_(owner) { ++owner_.blocked_; }
    ~blocked_scope() {
      if (--owner_.blocked_ == 0 && owner_.closed_) owner_.left_cv_.notify_all();
    }
    channel& owner_;
  };

  // ticket: the journal ticket to wait for before send() returns.
  std::optional<send_result> send_impl(T message, send_options options, bool wait_for_room,
                                       std::uint64_t* ticket) {
    if (options_.ordering == ordering::fifo && options.group.empty()) {
      throw error(errc::missing_group, "send() on a FIFO channel: send_options::group is empty");
    }
    dedup_key dedup;
    if (options_.dedup_window > clock::duration::zero()) {
      if (!options.idempotency_key.empty()) {
        dedup = dedup_key(std::move(options.idempotency_key));
      } else if (options_.content_dedup) {
        dedup = dedup_key(detail::sha256::hex(options_.content_dedup(message)));
      }
    }
    // Hashing happens before the lock is taken, so the critical section is
    // only the channel's bookkeeping.
    const std::uint64_t group_hash = options_.ordering == ordering::fifo ? group_hash_of(options.group) : 0;
    if (!dedup.empty()) dedup_.prefetch(dedup.hash);  // a large window's miss, taken before the lock
    std::string encoded = journal_ ? options_.durable.encode(message) : std::string();
    auto read = clock_->now();
    std::unique_lock lock(mutex_);
    std::optional<std::chrono::steady_clock::time_point> real_deadline;  // read only if the channel is full
    for (;;) {
      if (closed_) throw error(errc::channel_closed, "send()");
      const auto now = monotonic(read);
      apply_due_timers(now);
      if (!dedup.empty()) {
        dedup_.expire(now);
        if (const dedup_entry* seen = dedup_.find(dedup.key, dedup.hash)) {
          ++stats_.duplicates;
          // The first send may not be durable yet: wait for everything so far.
          if (journal_) *ticket = journal_->last_ticket();
          return send_result{seen->id, seen->sequence, true,
                             options.track_delivery ? receipt_of(seen->id) : delivery_receipt()};
        }
      }
      if (records_.size() < options_.capacity) {
        return enqueue(make_record(std::move(message), std::move(options.group), group_hash),
                       {.key = std::move(dedup),
                        .delay = options.delay,
                        .track = options.track_delivery,
                        .receipt_timeout = options.receipt_timeout,
                        .encoded = std::move(encoded),
                        .by_send = true,
                        .ticket = ticket},
                       now);
      }
      if (!wait_for_room) return std::nullopt;
      if (!real_deadline) real_deadline = std::chrono::steady_clock::now() + options_.send_timeout;
      if (std::chrono::steady_clock::now() >= *real_deadline) {
        throw error(errc::channel_full,
                    fmt::format("send(): {} messages waiting, capacity {}, waited {} ms", records_.size(),
                                options_.capacity, options_.send_timeout.count()));
      }
      blocked_scope blocked(*this);
      ++sleeping_senders_;
      space_cv_.wait_until(lock, *real_deadline);
      --sleeping_senders_;
      read = clock_->now();
    }
  }

  // How enqueue() takes a new message in.
  struct enqueue_request {
    dedup_key key = {};
    std::chrono::milliseconds delay = {};
    bool track = false;
    std::chrono::milliseconds receipt_timeout = {};
    std::uint64_t sequence = 0;  // 0: the next one; else kept (a dead letter keeps its original)
    std::string encoded = {};    // durable channels: the body as stored
    bool by_send = false;        // durable channels: see channel_journal::record_accepted
    // Durable channels: the message is a dead letter of this journal's
    // message dead_letter_of, moved in one write (record_dead_lettered).
    channel_journal* dead_letter_from = nullptr;
    std::uint64_t dead_letter_of = 0;
    std::uint64_t* ticket = nullptr;  // durable channels: receives the acceptance's ticket
  };

  // Queues a new message (its body and group set). Caller holds mutex_.
  send_result enqueue(std::unique_ptr<record> owned, enqueue_request request, clock::time_point now) {
    record& fresh = records_.insert([&] {
      owned->id = message_id{++last_id_};
      return std::move(owned);
    }());
    fresh.sequence = request.sequence != 0 ? request.sequence : ++last_sequence_;
    fresh.visible_at = now + std::max(request.delay, std::chrono::milliseconds::zero());
    ++stats_.accepted;
    if (journal_) journal_accepted(fresh, request, now);
    dedup_key& key = request.key;
    if (!key.empty()) dedup_.insert(std::move(key.key), key.hash, dedup_entry{fresh.id, fresh.sequence}, now);
    send_result result{fresh.id, fresh.sequence, false, {}};
    const bool track = request.track;
    const auto receipt_timeout = request.receipt_timeout;
    if (track) {
      fresh.tracked = std::make_unique<tracking>();
      result.receipt = delivery_receipt(fresh.tracked->future);
      if (receipt_timeout > clock::duration::zero()) {
        timers_.push({now + receipt_timeout, fresh.id.value, 0, timer_kind::receipt_deadline});
      }
    }
    if (options_.ordering == ordering::fifo) {
      if (record* head = group_head(fresh)) {
        head->group_tail->next_in_group = &fresh;
        head->group_tail = &fresh;
      } else {
        become_group_head(fresh);
        make_deliverable(fresh, now);
      }
    } else {
      make_deliverable(fresh, now);
    }
    return result;
  }

  std::vector<delivery<T>> receive_impl(std::size_t max, std::chrono::milliseconds wait,
                                        const std::atomic<bool>* stop) {
    std::vector<delivery<T>> out;
    if (max == 0) return out;
    out.reserve(std::min<std::size_t>(max, 256));  // allocate before the lock, not while holding it
    const auto real_deadline = std::chrono::steady_clock::now() + wait;
    bool spun = false;
    std::unique_lock lock(mutex_);
    for (;;) {
      if (closed_) throw error(errc::channel_closed, "receive()");
      const auto now = monotonic(clock_->now());
      apply_due_timers(now);
      while (out.size() < max && !ready_.empty()) {
        const std::uint64_t id = ready_.front();
        ready_.pop_front();
        record* found = records_.find(id);
        if (found == nullptr || found->status != state::ready) continue;  // settled meanwhile
        out.push_back(hand_out(*found, now));
        if (!options_.acknowledge) {
          ++stats_.acked;
          settle(*found, delivery_outcome::acked, out.back().receipt().delivery, now);
        }
      }
      if (!out.empty() || (stop != nullptr && stop->load(std::memory_order_acquire))) return out;
      const auto real_now = std::chrono::steady_clock::now();
      if (real_now >= real_deadline) return out;
      auto wake_at = real_deadline;
      if (!timers_.empty()) wake_at = std::min(wake_at, real_now + (timers_.top().at - now));
      if (!in_flight_by_deadline_.empty()) {
        wake_at = std::min(wake_at, real_now + (in_flight_by_deadline_.front()->visible_at - now));
      }
      if (!spun) {
        // Most waits end within microseconds, when the producer's next send
        // lands: spin for it before paying for a sleep and a wake-up.
        spun = true;
        const std::uint64_t seen = ready_pushes_.load(std::memory_order_relaxed);
        lock.unlock();
        detail::spin_until(
            [&] {
              return ready_pushes_.load(std::memory_order_relaxed) != seen ||
                     (stop != nullptr && stop->load(std::memory_order_relaxed));
            },
            receive_spin);
        lock.lock();
        continue;
      }
      blocked_scope blocked(*this);
      ++sleeping_receivers_;
      ready_cv_.wait_until(lock, wake_at);
      --sleeping_receivers_;
    }
  }

  delivery<T> hand_out(record& item, clock::time_point now) {
    item.status = state::in_flight;
    item.open = true;
    ++item.receive_count;
    item.delivery = ++last_delivery_;
    item.visible_at = now + options_.visibility_timeout;
    if (options_.acknowledge) {
      in_flight_by_deadline_.push_back(item);
      if (journal_) journal_->record_delivered(item.id.value, item.receive_count, to_stored(item.visible_at));
    }
    ++in_flight_;
    ++stats_.deliveries;
    return delivery<T>(*this, *item.body, item.id, item.group, item.sequence, item.receive_count,
                       receipt{item.id, item.delivery});
  }

  void push_ready(record& item) {
    item.status = state::ready;
    ready_.push_back(item.id.value);
    wake_a_receiver();
  }

  // Caller holds mutex_.
  void wake_a_receiver() {
    ready_pushes_.store(ready_pushes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (sleeping_receivers_ != 0) ready_cv_.notify_one();
  }

  // A standard message, or a FIFO group's new head: ready now, or at visible_at.
  void make_deliverable(record& item, clock::time_point now) {
    if (!item.saved) {
      item.status = state::unsaved;  // on_journal_write() comes back for it
      return;
    }
    if (item.visible_at <= now) {
      push_ready(item);
    } else {
      item.status = state::delayed;
      timers_.push({item.visible_at, item.id.value, item.delivery, timer_kind::visible});
    }
  }

  // The delivery ended without an ack (nack or timeout): deliver again or
  // dead-letter. A FIFO record stays its group's head either way until settled.
  void give_back(record& item, clock::time_point now) {
    if (item.status == state::in_flight) {
      --in_flight_;
      in_flight_by_deadline_.remove(item);
      item.status = state::delayed;  // until make_deliverable or settle below decides
    }
    if (options_.max_receives != 0 && item.receive_count >= options_.max_receives) {
      ++stats_.dead_lettered;
      channel& dead = dead_letters();
      {
        std::lock_guard dead_lock(dead.mutex_);  // lock order: a channel, then its dead letters
        // It keeps its sequence, so the original order stays visible.
        dead.enqueue(dead.make_record(T(*item.body), std::string(item.group), item.group_hash),
                     {.sequence = item.sequence,
                      .encoded = journal_ ? options_.durable.encode(*item.body) : std::string(),
                      .dead_letter_from = journal_.get(),
                      .dead_letter_of = item.id.value},
                     now);
      }
      settle(item, delivery_outcome::dead_lettered, item.delivery, now);
      return;
    }
    if (closed_) resolve(item, delivery_outcome::abandoned);  // nobody can receive it again
    make_deliverable(item, now);
  }

  // Removes a record for good; a FIFO group moves on to its next message.
  void settle(record& item, delivery_outcome outcome, std::uint64_t by_delivery, clock::time_point now) {
    if (item.status == state::in_flight) {
      --in_flight_;
      in_flight_by_deadline_.remove(item);
    }
    // (A dead letter's move was journaled with the letter, see give_back.)
    if (journal_ && item.saved && outcome == delivery_outcome::acked) {
      journal_->record_settled(item.id.value, stored_state::acked);
    }
    settled_.insert(item.id.value, settled_entry{by_delivery, outcome}, now);
    if (outcome == delivery_outcome::dead_lettered) {
      dead_lettered_ids_.expire(now);
      dead_lettered_ids_.insert(item.id.value, true, now);
    }
    resolve(item, outcome);
    if (options_.ordering == ordering::fifo) {
      // Only the head is ever delivered, so item is its group's head.
      groups_.erase(item.group_hash, [&](std::uint64_t head) { return head == address_of(item); });
      if (record* next = item.next_in_group) {
        next->group_tail = item.group_tail;
        become_group_head(*next);
        make_deliverable(*next, now);
      }
    }
    if (sleeping_senders_ != 0) space_cv_.notify_one();
    recycle(records_.take(item));
  }

  // A record for a new message, from the spare ones when there are any.
  // Recycling them under the lock the channel holds anyway keeps the
  // allocator out of the hot path: a record made on the producer's thread
  // and freed on the consumer's cost glibc a cross-thread free each (an
  // arena lock both threads contended for). Caller holds mutex_.
  std::unique_ptr<record> make_record(T&& body, std::string group, std::uint64_t group_hash) {
    std::unique_ptr<record> fresh;
    if (spare_records_.empty()) {
      fresh = std::make_unique<record>();
    } else {
      fresh = std::move(spare_records_.back());
      spare_records_.pop_back();
    }
    fresh->body.emplace(std::move(body));
    fresh->group = std::move(group);
    fresh->group_hash = group_hash;
    return fresh;
  }

  // Keeps a settled record for reuse (up to a bound), its body released.
  void recycle(std::unique_ptr<record> done) {
    if (spare_records_.size() >= max_spare_records) return;  // done frees it
    std::destroy_at(done.get());
    std::construct_at(done.get());
    spare_records_.push_back(std::move(done));
  }

  // FIFO groups: each group's records form a list in send order
  // (next_in_group); groups_ finds a group's head by the group's hash, and
  // the head knows the tail. No allocation per group or per message.
  record* group_head(const record& member) const {
    const std::uint64_t head = groups_.find(member.group_hash, [&](std::uint64_t candidate) {
      return record_at(candidate)->group == member.group;
    });
    return head == detail::flat_index::npos ? nullptr : record_at(head);
  }
  void become_group_head(record& head) {
    if (head.group_tail == nullptr) head.group_tail = &head;
    groups_.insert(head.group_hash, address_of(head));
  }
  static std::uint64_t group_hash_of(const std::string& group) {
    return detail::mix64(std::hash<std::string>{}(group));
  }
  static std::uint64_t address_of(const record& item) noexcept {
    return reinterpret_cast<std::uint64_t>(&item);
  }
  static record* record_at(std::uint64_t address) noexcept { return reinterpret_cast<record*>(address); }

  // Durable channels. Recovers what the journal kept, then starts it.
  void open_durable() {
    journal_ = options_.durable.journal;
    if (!options_.durable.encode || !options_.durable.decode) {
      throw error(errc::invalid_option, "channel_options::durable needs both encode and decode");
    }
    // Stored times are wall-clock times; this channel's clock may be a
    // steady or a manual one. The offset between them is taken once, so
    // times keep their order.
    const auto clock_now = clock_->now();
    stored_offset_ = std::chrono::duration_cast<clock::duration>(
        std::chrono::system_clock::now().time_since_epoch() - clock_now.time_since_epoch());
    recover(journal_->recover(options_.dedup_window), clock_now);
    if (options_.max_receives != 0) dead_letters();  // recovers the dead letters now, not at first use
    journal_->start([this](const journal_write& write) { on_journal_write(write); });
  }

  stored_time to_stored(clock::time_point at) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch() + stored_offset_).count();
  }
  clock::time_point from_stored(stored_time at) const {
    return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(at)) -
                             stored_offset_);
  }

  void recover(recovered_channel state, clock::time_point now) {
    std::unique_lock lock(mutex_);
    last_id_ = state.last_id;
    last_sequence_ = state.last_sequence;
    // Keys go in in id order, which is the order they expire in; a wall
    // clock that stepped back must not make them run backwards.
    clock::time_point previous{};
    for (auto& key : state.keys) {
      const auto sent = std::max(previous, from_stored(key.sent_at));
      previous = sent;
      if (options_.dedup_window > clock::duration::zero()) {
        const dedup_key hashed(std::move(key.key));
        dedup_.insert(hashed.key, hashed.hash, dedup_entry{message_id{key.id}, key.sequence}, sent);
      }
      if (key.state == stored_state::dead_lettered) dead_lettered_ids_.insert(key.id, true, sent);
    }
    latest_now_ = std::max(latest_now_, now);
    dedup_.expire(latest_now_);
    dead_lettered_ids_.expire(latest_now_);
    for (stored_message& kept : state.waiting) {
      std::optional<T> body;
      try {
        body.emplace(options_.durable.decode(kept.body));
      } catch (const std::exception& e) {
        throw error(errc::invalid_store,
                    fmt::format("recovering message {} (group '{}'): its stored body does not decode: {}",
                                kept.id, kept.group, e.what()));
      }
      const std::uint64_t group_hash = options_.ordering == ordering::fifo ? group_hash_of(kept.group) : 0;
      auto owned = make_record(std::move(*body), std::move(kept.group), group_hash);
      owned->id = message_id{kept.id};
      record& item = records_.insert(std::move(owned));
      item.sequence = kept.sequence;
      item.receive_count = kept.receive_count;
      // A delivery in flight at the crash comes back when its visibility
      // would have run out; a delayed message when its delay ends.
      item.visible_at = std::max(latest_now_, from_stored(kept.visible_at));
      if (options_.ordering == ordering::fifo) {
        if (record* head = group_head(item)) {
          head->group_tail->next_in_group = &item;
          head->group_tail = &item;
          continue;
        }
        become_group_head(item);
      }
      make_deliverable(item, latest_now_);
    }
  }

  // Records a new message in the journal. Caller holds mutex_.
  void journal_accepted(record& fresh, enqueue_request& request, clock::time_point now) {
    fresh.saved = false;
    stored_message stored{
        .id = fresh.id.value,
        .sequence = fresh.sequence,
        .group = fresh.group,
        .key = request.key.key,
        .body = std::move(request.encoded),
        .sent_at = to_stored(now),
        .visible_at = to_stored(fresh.visible_at),
    };
    const std::uint64_t ticket =
        request.dead_letter_from != nullptr
            ? request.dead_letter_from->record_dead_lettered(request.dead_letter_of, *journal_, std::move(stored))
            : journal_->record_accepted(std::move(stored), request.by_send);
    unsaved_.push_back(unsaved_message{ticket, fresh.id.value, request.by_send ? request.key : dedup_key{}});
    if (request.ticket != nullptr) *request.ticket = ticket;
  }

  // The journal wrote (or failed to write) every change up to
  // write.last_ticket: release the messages it made durable, drop the ones
  // whose send failed. Runs on the journal's thread.
  void on_journal_write(const journal_write& write) {
    const auto read = clock_->now();
    std::unique_lock lock(mutex_);
    const auto now = monotonic(read);
    if (!write.failed_ids.empty()) {
      // Rare: a failed write. Drop its sends' messages; the rest stay
      // unsaved until the journal writes them again.
      const auto failed = [&](const unsaved_message& entry) {
        return entry.ticket <= write.last_ticket &&
               std::find(write.failed_ids.begin(), write.failed_ids.end(), entry.id) != write.failed_ids.end();
      };
      for (unsaved_message& entry : unsaved_) {
        if (failed(entry)) drop_unsaved(entry, now);
      }
      std::erase_if(unsaved_, failed);
      return;
    }
    if (!write.failure.empty()) return;  // a failed write that held no send: all of it is written again
    while (!unsaved_.empty() && unsaved_.front().ticket <= write.last_ticket) {
      record* found = records_.find(unsaved_.front().id);
      unsaved_.pop_front();
      if (found == nullptr) continue;
      found->saved = true;
      if (found->status == state::unsaved) make_deliverable(*found, now);
    }
  }

  // Forgets a message whose acceptance could not be made durable: its
  // sender was told so, and may send it again with the same key.
  void drop_unsaved(const unsaved_message& entry, clock::time_point now) {
    record* found = records_.find(entry.id);
    if (found == nullptr) return;
    record& item = *found;
    if (!entry.key.empty()) dedup_.erase(entry.key.key, entry.key.hash);
    --stats_.accepted;
    if (item.status == state::unsaved) {
      // Deliverable but for this: a standard message or a FIFO group's head.
      settle(item, delivery_outcome::abandoned, 0, now);
      return;
    }
    // A FIFO message behind its group's head: unlink it from the group.
    record* previous = group_head(item);
    while (previous != nullptr && previous->next_in_group != &item) previous = previous->next_in_group;
    if (previous != nullptr) {
      previous->next_in_group = item.next_in_group;
      record* head = group_head(item);
      if (head->group_tail == &item) head->group_tail = previous;
    }
    resolve(item, delivery_outcome::abandoned);
    recycle(records_.take(item));
  }

  // The clock as this channel sees it: never earlier than a reading it has
  // already acted on. The clock is read before the lock is taken (reading it
  // is not free), so two callers may lock in the other order than they read;
  // the timers rely on time never running back. Caller holds mutex_.
  clock::time_point monotonic(clock::time_point read) {
    if (read > latest_now_) latest_now_ = read;
    return latest_now_;
  }

  void resolve(record& item, delivery_outcome outcome) {
    if (item.tracked && !item.tracked->resolved) {
      item.tracked->resolved = true;
      item.tracked->promise.set_value(outcome);
    }
  }

  // The receipt of a message that was sent before (a duplicate send).
  delivery_receipt receipt_of(message_id id) {
    if (record* found = records_.find(id.value)) {
      record& item = *found;
      if (!item.tracked) item.tracked = std::make_unique<tracking>();
      return delivery_receipt(item.tracked->future);
    }
    std::promise<delivery_outcome> known;
    // Settled: dead letters are remembered as long as keys are; the rest was acked.
    dead_lettered_ids_.expire(monotonic(clock_->now()));
    known.set_value(dead_lettered_ids_.find(id.value) != nullptr ? delivery_outcome::dead_lettered
                                                                 : delivery_outcome::acked);
    return delivery_receipt(known.get_future().share());
  }

  // Applies the timers that are due at now. Each checks that its record is
  // still in the state it was set for; a timer made stale by a later change
  // (an ack, an extend, a redelivery) does nothing.
  void apply_due_timers(clock::time_point now) {
    // Deliveries in flight, in deadline order: the due ones are at the front.
    while (!in_flight_by_deadline_.empty() && in_flight_by_deadline_.front()->visible_at <= now) {
      give_back(*in_flight_by_deadline_.front(), now);
    }
    while (!timers_.empty() && timers_.top().at <= now) {
      const timer due = timers_.top();
      timers_.pop();
      record* found = records_.find(due.id);
      if (found == nullptr) continue;
      record& item = *found;
      switch (due.kind) {
        case timer_kind::visible:
          if (item.status == state::delayed && item.visible_at <= now) {
            push_ready(item);
          }
          break;
        case timer_kind::visibility:
          if (item.status == state::in_flight && item.delivery == due.delivery && item.visible_at <= now) {
            give_back(item, now);
          }
          break;
        case timer_kind::receipt_deadline:
          resolve(item, delivery_outcome::timed_out);
          break;
      }
    }
  }

  // The record whose current delivery handle names, or nullptr when that very
  // delivery was acked before. Throws stale_receipt / unknown_receipt.
  record* find_open(const receipt& handle, const char* operation, bool allow_expired, clock::time_point now) {
    record* found = records_.find(handle.message.value);
    if (found == nullptr) {
      const settled_entry* settled = settled_.find(handle.message.value, now);
      if (settled == nullptr) {
        throw error(errc::unknown_receipt,
                    fmt::format("{}({}): no such message in this channel (or settled too long ago)",
                                operation, handle));
      }
      if (settled->delivery == handle.delivery && settled->outcome == delivery_outcome::acked) return nullptr;
      throw error(errc::stale_receipt,
                  fmt::format("{}({}): the message was already {}", operation, handle, settled->outcome));
    }
    record& item = *found;
    if (item.delivery != handle.delivery) {
      throw error(errc::stale_receipt,
                  fmt::format("{}({}): the message was delivered again since (delivery {})", operation,
                              handle, item.delivery));
    }
    if (!item.open) {
      throw error(errc::stale_receipt, fmt::format("{}({}): this delivery was nacked", operation, handle));
    }
    if (!allow_expired && item.status != state::in_flight) {
      throw error(errc::stale_receipt,
                  fmt::format("{}({}): the visibility timeout has passed", operation, handle));
    }
    return &item;
  }

  static error already_acked_error(const receipt& handle, const char* operation) {
    return error(errc::stale_receipt,
                 fmt::format("{}({}): this delivery was already acked", operation, handle));
  }

  template <class Handler>
  void handle_one(Handler& handler, delivery<T>& item,
                  const std::function<void(message_id, std::exception_ptr)>& on_error) {
    if (!detail::run_or_nack([&] { detail::call_handler(handler, item); }, item, on_error)) return;
    try {
      item.ack();
    } catch (...) {
      on_error(item.id(), std::current_exception());
    }
  }

  static void log_consumer_error(message_id id, std::exception_ptr failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "courier: consumer of {}: {}\n", id, e.what());
    } catch (...) {
      fmt::print(stderr, "courier: consumer of {}: an exception not derived from std::exception\n", id);
    }
  }

  void wake_receivers() {
    std::unique_lock lock(mutex_);
    ready_pushes_.store(ready_pushes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    ready_cv_.notify_all();
  }

  const channel_options<T> options_;
  const std::shared_ptr<const clock> clock_;

  // Waits on these are rare (a receiver sleeps only after spinning, a
  // sender only when the channel is full), so condition_variable_any's
  // extra cost over std::condition_variable does not matter here.
  mutable detail::spin_mutex mutex_;
  std::condition_variable_any ready_cv_;  // a message may have become ready
  std::condition_variable_any space_cv_;  // a message was settled
  std::condition_variable_any left_cv_;   // a blocked caller left (destructor waits)
  bool closed_ = false;
  int blocked_ = 0;
  // How long an idle receiver spins before it sleeps (see receive_impl):
  // long enough to catch a producer's next send at rates where sleeping
  // and waking per message would cost more than the spin (measured: p50
  // send->receive 0.4 us with it, about 10 us without).
  static constexpr std::chrono::nanoseconds receive_spin = std::chrono::microseconds(50);
  int sleeping_receivers_ = 0;
  int sleeping_senders_ = 0;  // in space_cv_.wait  // in ready_cv_.wait: only then is a notify worth its cost
  // Bumped (under mutex_) whenever a message becomes ready or receivers must
  // look again; receivers spinning without the lock watch it.
  std::atomic<std::uint64_t> ready_pushes_{0};

  detail::id_table<record> records_;
  static constexpr std::size_t max_spare_records = 1024;
  std::vector<std::unique_ptr<record>> spare_records_;
  detail::flat_index groups_;  // FIFO only: group hash -> its head record
  clock::time_point latest_now_{};
  std::deque<std::uint64_t> ready_;
  // Every other time-driven change: delays, nack delays, extends, receipt
  // deadlines. A min-heap; entries made stale by later changes are skipped.
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
  // Deliveries in flight with the channel's own visibility timeout, in
  // deadline order (extended ones move to timers_).
  detail::intrusive_list<record, &record::deadline_hook> in_flight_by_deadline_;
  dedup_table dedup_;
  // Settled deliveries, for "already acked" and stale-receipt answers; kept
  // for one visibility timeout, or for the last remembered_settlements ids
  // if that is shorter (then a receipt of them is unknown_receipt).
  static constexpr std::size_t remembered_settlements = std::size_t{1} << 18;
  detail::recent_ids<settled_entry> settled_;
  // Dead-lettered ids, kept as long as keys are, so a late duplicate's
  // receipt can say dead_lettered rather than acked.
  detail::expiring_map<std::uint64_t, bool> dead_lettered_ids_;
  std::uint64_t last_id_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::uint64_t last_delivery_ = 0;
  std::size_t in_flight_ = 0;
  channel_stats stats_;

  // Durable channels only.
  std::shared_ptr<channel_journal> journal_;
  clock::duration stored_offset_{};  // wall clock minus clock_, taken once
  std::deque<unsaved_message> unsaved_;  // accepted, not yet durable, in ticket order

  std::once_flag dead_letters_made_;
  std::unique_ptr<channel> dead_letters_;
};

}  // namespace v1
}  // namespace courier
