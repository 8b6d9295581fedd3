// courier::channel<T>: an in-process queue with the guarantees of an SQS
// FIFO queue: FIFO per message group, exactly-once effect through idempotency
// keys and a dedup window, receipts, acks, visibility timeouts, redelivery
// and dead letters, and delivery receipts a sender can await.
//
// When to use it: work that must not be lost or done twice inside one
// process, or as the in-process stand-in for an SQS queue (same options, same
// semantics). For fire-and-forget notification, courier::bus is lighter.
//
// Design. This class is a façade: it checks options, takes one lock, calls
// the engine (detail/channel/engine.hpp, the bookkeeping of every message,
// with no locks, threads or clock of its own), wakes whoever the call
// concerns, and returns. Hashing and clock reads happen before the lock is
// taken, and the work a consumer does happens outside it. A plain send (no
// delay, delivery receipt or journal) does not take that lock: it is
// numbered and queued in a send_intake under a short lock of its own, and
// the next call that holds the channel's lock moves it into the engine
// (see detail/channel/send_intake.hpp for why and how wake-ups stay right);
// its key, if it has one, is checked and remembered under the dedup
// window's own lock, which only senders take. Locks rank: the channel's,
// the dedup window's, the intake's; none is taken while holding a later
// one. A FIFO channel
// delivers only each group's head: the group is held while its head is in
// flight, as SQS does, so a redelivery cannot overtake. Every operation
// first applies what is due: nothing depends on a background thread, and a
// manual clock makes it all deterministic.
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
// Asio. async_receive and async_send are the same operations without a
// blocked thread: an operation that cannot finish parks in the channel and
// is woken by the progress that would have woken a blocked caller, and
// completes on its handler's executor. They are declared here
// and defined in <courier/asio.hpp>, so code that does not use them does not
// compile Asio.
//
// Thread-safety: every public member function is thread-safe.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/channel_options.hpp"
#include "courier/channel_stats.hpp"
#include "courier/clock.hpp"
#include "courier/consumer.hpp"
#include "courier/delivery.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/detail/call_handler.hpp"
#include "courier/detail/channel/channel_metrics.hpp"
#include "courier/detail/channel/engine.hpp"
#include "courier/detail/channel/parked_operations.hpp"
#include "courier/detail/channel/send_intake.hpp"
#include "courier/detail/channel/waiters.hpp"
#include "courier/detail/channel_anchor.hpp"
#include "courier/detail/handler_timings.hpp"
#include "courier/detail/spin_then_block.hpp"
#include "courier/error.hpp"
#include "courier/message_id.hpp"
#include "courier/trace_scope.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

namespace detail {
// Specialised in <courier/asio.hpp>; the primary template says where.
template <class Channel, class Token>
struct asio_channel_ops {
  static_assert(sizeof(Token) == 0, "channel::async_receive and async_send need #include <courier/asio.hpp>");
};
template <class T, class Handler>
class async_receive_op;
template <class T, class Handler>
class async_send_op;
}  // namespace detail

template <class T>
class channel {
  static_assert(std::is_copy_constructible_v<T>,
                "channel<T>: T must be copyable, since a message is delivered again until acked");
  using engine = detail::channel_engine<T>;

 public:
  using value_type = T;

  // Throws courier::error (invalid_option) for options that cannot work.
  explicit channel(channel_options<T> options = {})
      : options_(std::move(options)),
        clock_(options_.time_source ? options_.time_source : coarse_clock::shared()),
        dead_letter_port_(*this),
        engine_(options_, dead_letter_port_),
        intake_(options_.capacity) {
    if (options_.visibility_timeout <= clock::duration::zero()) {
      throw error(errc::invalid_option, "channel_options::visibility_timeout must be positive");
    }
    if (options_.capacity == 0) throw error(errc::invalid_option, "channel_options::capacity must not be 0");
    if (options_.metrics && options_.name.empty()) {
      throw error(errc::invalid_option, "channel_options::metrics needs channel_options::name");
    }
    if (options_.durable) open_durable();
    if (options_.metrics) {
      metrics_ = options_.metrics->add([this](metric_set& out) {
        detail::report_channel(out, options_.name, options_.ordering == ordering::fifo, stats());
      });
    }
  }

  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Closes the channel (see close()) and waits until every caller it woke
  // has left. Stop consumers before destroying their channel.
  // Pending Asio operations complete with channel_closed (on their
  // executors, later).
  ~channel() {
    metrics_.reset();                // first: a scrape in progress reads this channel
    if (journal_) journal_->stop();  // first: the journal's thread calls back into this channel until stopped
    {
      std::unique_lock lock(mutex_);
      close_locked();
      engine_.abandon_all();
      // The journal has stopped: a write not reported by now never will be.
      for (auto& waiting : write_waiters_) {
        *waiting.failure = "the channel was destroyed before its write was reported";
        waiting.waiter->wake();
      }
      write_waiters_.clear();
      waiters_.wait_until_all_left(lock);
    }
    anchor_->abandon();  // the woken Asio operations find the channel gone
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
    return engine_.closed();
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
  send_result send(T message, send_options options) {
    return when_durable(std::move(*send_or_wait(std::move(message), std::move(options), true)));
  }

  // send(message, {}), without building a send_options: the caller's
  // zero-filled ~160 bytes were a third of a plain send's time
  // (courier_channel_bench). The same answer and the same errors.
  send_result send(T message) { return when_durable(std::move(*send_or_wait(std::move(message), true))); }

  // As send(), but returns nothing at once instead of waiting when full.
  std::optional<send_result> try_send(T message, send_options options) {
    auto accepted = send_or_wait(std::move(message), std::move(options), false);
    if (!accepted) return std::nullopt;
    return when_durable(std::move(*accepted));
  }

  // try_send(message, {}), as send(message) is to send(message, {}).
  std::optional<send_result> try_send(T message) {
    auto accepted = send_or_wait(std::move(message), false);
    if (!accepted) return std::nullopt;
    return when_durable(std::move(*accepted));
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
      auto accepted = std::move(*send_or_wait(std::move(message), std::move(options), true));
      last_ticket = std::max(last_ticket, accepted.ticket);
      results.push_back(std::move(accepted.result));
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
    auto taken = receive_or_wait(max, wait, nullptr);
    if (options_.tracer) trace_received(taken);
    return taken;
  }

  // receive() as an Asio asynchronous operation: completes with up to max
  // messages once at least one is visible, or with an error, never with
  // none. Signature void(boost::system::error_code, std::vector<delivery<T>>);
  // the handler runs on the token's associated executor (the first look
  // may run on the calling thread; every later one on that executor). Any
  // completion token (a callback,
  // use_awaitable, use_future, deferred). Errors: channel_closed (as a
  // courier error code) once the channel is closed or destroyed;
  // operation_aborted when cancelled (Asio per-operation cancellation,
  // every type): a cancelled receive has taken nothing. A message is taken
  // only in the step that completes the operation, and a cancellation that
  // arrives while it is being taken puts it back, visible at once, its
  // receive count as before; so `co_await (ch.async_receive(1, use_awaitable)
  // || timer.async_wait(use_awaitable))` never loses a message (see
  // docs/guarantees.md for the one case this cannot cover). Needs
  // <courier/asio.hpp>. Thread-safe.
  template <class CompletionToken>
  auto async_receive(std::size_t max, CompletionToken&& token) {
    return detail::asio_channel_ops<channel, CompletionToken>::receive(*this, max,
                                                                       std::forward<CompletionToken>(token));
  }

  // send() as an Asio asynchronous operation: completes once the message is
  // accepted (waiting for room while the channel is full, with no timeout:
  // cancel it to stop waiting) and, on a durable channel, durable.
  // Signature void(boost::system::error_code, send_result). Errors (courier
  // error codes): missing_group, channel_closed, storage_failed; and
  // operation_aborted when cancelled while waiting for room (then nothing
  // was sent). Once accepted, a cancellation changes nothing: the send
  // completes with its result. Needs <courier/asio.hpp>. Thread-safe.
  template <class CompletionToken>
  auto async_send(T message, send_options options, CompletionToken&& token) {
    return detail::asio_channel_ops<channel, CompletionToken>::send(
        *this, std::move(message), std::move(options), std::forward<CompletionToken>(token));
  }

  // Settles the delivery: the message is done and will not be delivered
  // again. Returns already_acked when this delivery was acked before. Throws
  // courier::error: stale_receipt (the message was delivered again, nacked,
  // dead-lettered or acked through another delivery), unknown_receipt.
  ack_result ack(const receipt& handle) {
    std::shared_ptr<const trace_context> trace;
    {
      const auto read = clock_->now();
      std::unique_lock lock(mutex_);
      const detail::wake_on_exit wake(waiters_, engine_);
      const auto now = engine_.advance(read);
      const auto found = engine_.check(handle, /*allow_expired=*/true, now);
      if (found.check.verdict == detail::receipt_verdict::already_acked) return ack_result::already_acked;
      if (found.held == nullptr) throw detail::receipt_ledger::refusal(found.check, handle, "ack");
      if (options_.tracer) trace = found.held->trace;
      engine_.ack(*found.held, handle.delivery, now);
    }
    if (options_.tracer)
      trace_step(&message_tracer::on_settle, messaging_operation::settle, "ack", handle.message, trace.get());
    return ack_result::acked;
  }

  // Acks several deliveries under one lock, like SQS DeleteMessageBatch: a
  // consumer that receives in batches pays for the lock and the clock once
  // per batch, not once per message. Each receipt is handled as ack() would
  // handle it; one that ack() would refuse (stale, unknown) is reported in
  // the result with its error and does not stop the others.
  ack_batch_result ack(std::span<const receipt> handles) {
    ack_batch_result result;
    std::vector<std::pair<message_id, std::shared_ptr<const trace_context>>> traced;  // with a tracer
    {
      const auto read = clock_->now();
      std::unique_lock lock(mutex_);
      const detail::wake_on_exit wake(waiters_, engine_);
      const auto now = engine_.advance(read);
      ack_each(handles, now, result, options_.tracer ? &traced : nullptr);
    }
    for (const auto& [id, trace] : traced)
      trace_step(&message_tracer::on_settle, messaging_operation::settle, "ack", id, trace.get());
    return result;
  }

  // Gives the message back: it is delivered again after delay (to any
  // consumer; a FIFO group stays held meanwhile), or dead-lettered if it
  // reached max_receives. Throws like ack(); nacking an acked delivery is
  // stale_receipt.
  void nack(const receipt& handle, std::chrono::milliseconds delay = {}) {
    std::shared_ptr<const trace_context> trace;
    with_open_delivery(handle, "nack", [&](auto& held, auto now) {
      if (options_.tracer) trace = held.trace;
      engine_.nack(held, delay, now);
    });
    if (options_.tracer)
      trace_step(&message_tracer::on_settle, messaging_operation::settle, "nack", handle.message,
                 trace.get());
  }

  // Keeps the delivery hidden for visibility from now (SQS
  // ChangeMessageVisibility). Throws like nack().
  void extend(const receipt& handle, std::chrono::milliseconds visibility) {
    with_open_delivery(handle, "extend",
                       [&](auto& held, auto now) { engine_.extend(held, visibility, now); });
  }

  // Where messages go after max_receives deliveries: a standard channel of
  // the same type. Receive from it to inspect them; redrive() to retry them.
  channel& dead_letters() {
    std::call_once(dead_letters_made_, [this] {
      durability<T> durable;
      if (journal_)
        durable = {journal_->dead_letter_journal(), options_.durable.encode, options_.durable.decode};
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
        typename engine::new_message again(std::move(letter.message()), std::string(letter.group()), {});
        again.group_hash = group_hash_of(letter.group());
        if (journal_) again.encoded = options_.durable.encode(again.body);
        std::uint64_t ticket = 0;
        {
          std::unique_lock lock(mutex_);
          const detail::wake_on_exit wake(waiters_, engine_);
          number(again, *admit_own(/*check_room=*/false));
          ticket = engine_.enqueue(std::move(again), engine_.advance(clock_->now())).ticket;
        }
        if (journal_) journal_->wait_durable(ticket);  // durable here before it leaves the dead letters
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
  template <detail::delivery_handler<delivery<T>> Handler>
  [[nodiscard]] consumer consume(Handler handler, consume_options options = {},
                                 std::function<void(message_id, std::exception_ptr)> on_error = {}) {
    if (!on_error) {
      on_error = [](message_id id, std::exception_ptr failure) {
        detail::print_consumer_error("consumer", id, failure);
      };
    }
    // One handler shared by all the threads (not a copy each), so its state is
    // the application's one; with concurrency > 1 it must be thread-safe.
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto body = [this, shared, options, on_error](const std::atomic<bool>& stop) {
      // Timed only when someone can read it: two clock reads per message.
      const bool metered = options_.metrics != nullptr;
      std::optional<detail::handler_timings::recorder> timing;
      if (metered) timing.emplace(handler_timings_);
      while (!stop.load(std::memory_order_acquire)) {
        std::vector<delivery<T>> batch;
        try {
          batch = receive_or_wait(options.batch, options.poll, &stop);
        } catch (const error&) {
          return;  // the channel is closing
        }
        if (!metered && !options_.tracer) {
          for (auto& item : batch) {
            if (item.trace().empty()) {
              detail::handle_then_ack(*shared, item, on_error);
            } else {
              const trace_scope scope(item.trace());  // what the handler publishes carries it on
              detail::handle_then_ack(*shared, item, on_error);
            }
          }
          continue;
        }
        if (options_.tracer) trace_received(batch);
        for (auto& item : batch) {
          const auto started =
              metered ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
          const trace_scope scope(item.trace());
          if (options_.tracer) {
            std::exception_ptr failure;
            auto traced = [&](delivery<T>& each) {
              try {
                detail::call_handler(*shared, each);
              } catch (...) {
                failure = std::current_exception();
                throw;
              }
            };
            trace_step(&message_tracer::on_process_start, messaging_operation::process, "process", item.id(),
                       &item.trace());
            detail::handle_then_ack(traced, item, on_error);
            trace_step(&message_tracer::on_process_end, messaging_operation::process, "process", item.id(),
                       &item.trace(), failure);
          } else {
            detail::handle_then_ack(*shared, item, on_error);
          }
          if (metered) timing->record(std::chrono::steady_clock::now() - started);
        }
      }
    };
    return consumer(std::max<std::size_t>(options.concurrency, 1), std::move(body), [this] {
      std::unique_lock lock(mutex_);
      waiters_.wake_receivers();
    });
  }

  // The channel's counts, and its gauges as of now: like every call, it
  // first applies what is due (visibility timeouts that ran out, delays
  // that ended). Thread-safe.
  channel_stats stats() {
    const auto read = clock_->now();
    channel_stats out;
    {
      std::unique_lock lock(mutex_);
      const detail::wake_on_exit wake(waiters_, engine_);
      absorb_intake();
      out = engine_.stats(engine_.advance(read));
    }
    {
      const std::lock_guard keys_held(dedup_mutex_);
      out.duplicates += plain_duplicates_;
    }
    handler_timings_.add_to(out.handler_duration);
    return out;
  }

  const channel_options<T>& options() const noexcept { return options_; }

 private:
  // Calls hook of the tracer for one step of message id (trace: what it
  // carries, null for none). Only with a tracer.
  using tracer_hook = void (message_tracer::*)(const message_span&);
  // The tracer paths are out of line: the untraced hot paths stay small
  // enough to inline.
  [[gnu::noinline]] void trace_step(tracer_hook hook, messaging_operation operation,
                                    std::string_view operation_name, message_id id,
                                    const trace_context* trace, std::exception_ptr error = {}) const {
    trace_context carried = trace != nullptr ? *trace : trace_context{};
    const message_span span{.operation = operation,
                            .operation_name = operation_name,
                            .system = "courier",
                            .destination = options_.name,
                            .message_id = std::to_string(id.value),
                            .context = &carried,
                            .error = std::move(error)};
    detail::call_tracer([&] { (options_.tracer.get()->*hook)(span); });
  }

  // A send without a trace of its own carries the thread's current one
  // (trace_scope): a traced message's handler that sends on passes it on.
  static void inherit_trace(send_options& options) {
    if (detail::current_trace_context != nullptr) [[unlikely]]
      inherit_current_trace(options);
  }
  [[gnu::cold]] [[gnu::noinline]] static void inherit_current_trace(send_options& options) {
    if (options.trace.empty()) options.trace = *detail::current_trace_context;
  }

  // The tracer's on_send, which may set the context the message carries.
  [[gnu::noinline]] void trace_send(send_options& options) const {
    message_span span{.operation = messaging_operation::send,
                      .operation_name = "send",
                      .system = "courier",
                      .destination = options_.name,
                      .context = &options.trace};
    detail::call_tracer([&] { options_.tracer->on_send(span); });
  }

  [[gnu::noinline]] void trace_received(const std::vector<delivery<T>>& taken) const {
    for (const auto& item : taken)
      trace_step(&message_tracer::on_receive, messaging_operation::receive, "receive", item.id(),
                 &item.trace());
  }

  // ack(span) under the lock: each receipt as ack() would; with traced,
  // the acked messages' trace contexts for on_settle after the lock.
  void ack_each(std::span<const receipt> handles, clock::time_point now, ack_batch_result& result,
                std::vector<std::pair<message_id, std::shared_ptr<const trace_context>>>* traced) {
    for (const receipt& handle : handles) {
      const auto found = engine_.check(handle, /*allow_expired=*/true, now);
      if (found.held != nullptr) {
        if (traced != nullptr) traced->emplace_back(handle.message, found.held->trace);
        engine_.ack(*found.held, handle.delivery, now);
        ++result.acked;
      } else if (found.check.verdict == detail::receipt_verdict::already_acked) {
        ++result.already_acked;
      } else {
        result.failed.emplace_back(handle, detail::receipt_ledger::refusal(found.check, handle, "ack"));
      }
    }
  }

  template <class, class>
  friend struct detail::asio_channel_ops;
  template <class, class>
  friend class detail::async_receive_op;
  template <class, class>
  friend class detail::async_send_op;

  // ---- The Asio operations' way in (<courier/asio.hpp>) ----

  // What an asynchronous receive's attempt found.
  struct async_take {
    bool closed = false;
    std::vector<delivery<T>> taken;
    // Parked with nothing taken: when something becomes due (a visibility
    // timeout, a delay) that no other call may be there to apply.
    std::optional<std::chrono::steady_clock::time_point> retry_at;
  };

  // Hands out up to max messages, or parks waiter (taking nothing) to be
  // woken when a message may be ready or the channel closes.
  async_take take_or_park(std::size_t max, const std::shared_ptr<detail::parked_operation>& waiter) {
    async_take out;
    out.taken.reserve(std::min<std::size_t>(max, 256));
    const auto read = clock_->now();
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    if (engine_.closed()) {
      out.closed = true;
      return out;
    }
    const auto now = engine_.advance(read);
    take_deliveries(out.taken, max, now);
    if (!out.taken.empty()) return out;
    waiters_.parked_receivers().park(waiter);
    waiters_.publish_waiting();
    // The last look, now that a plain send would see this receive waiting
    // (see send_intake.hpp): what came meanwhile wakes it as the lock ends.
    if (!intake_.is_empty()) absorb_intake();
    if (const auto due = engine_.next_due()) out.retry_at = std::chrono::steady_clock::now() + (*due - now);
    return out;
  }

  // Takes a parked receive back; false when it was woken meanwhile.
  bool unpark_receiver(const detail::parked_operation* waiter) {
    std::unique_lock lock(mutex_);
    const bool unparked = waiters_.parked_receivers().unpark(waiter);
    waiters_.publish_waiting();
    return unparked;
  }

  // A receive that was woken but will not take (it was cancelled) hands
  // its wake-up to the next parked one, so a ready message is not left.
  void pass_on_wake() {
    std::unique_lock lock(mutex_);
    absorb_intake();
    if (engine_.has_ready()) waiters_.parked_receivers().wake(1);
    waiters_.publish_waiting();
  }

  // Undoes the hand-out of deliveries no receiver saw (see
  // channel_engine::release); a delivery no longer open is left alone.
  void put_back(std::vector<delivery<T>>& taken) {
    const auto read = clock_->now();
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    const auto now = engine_.advance(read);
    for (auto it = taken.rbegin(); it != taken.rend(); ++it) {  // each goes to the front: last first
      const auto found = engine_.check(it->receipt(), /*allow_expired=*/true, now);
      if (found.held != nullptr) engine_.release(*found.held, now);
      it->let_expire();
    }
  }

  using prepared_send = typename engine::new_message;

  // A send's message made ready for the lock (see send_or_wait). Throws
  // courier::error (missing_group).
  prepared_send prepare_send(T&& message, send_options&& options) const {
    if (options_.ordering == ordering::fifo && options.group.empty()) {
      throw error(errc::missing_group, "async_send() on a FIFO channel: send_options::group is empty");
    }
    inherit_trace(options);
    if (options_.tracer) trace_send(options);
    return engine_.prepare(std::move(message), std::move(options));
  }

  // What an asynchronous send's attempt did.
  struct async_offer {
    enum class outcome { closed, parked, done, awaiting_write } what = outcome::closed;
    send_result result = {};
  };

  // Accepts fresh (or answers it from the dedup window), or parks waiter
  // until there is room. On a durable channel an accepted message waits
  // for its write: waiter is woken once the write is decided, with
  // *failure set when it failed.
  async_offer send_or_park(prepared_send& fresh, const std::shared_ptr<detail::parked_operation>& waiter,
                           std::string* failure) {
    async_offer out;
    const auto read = clock_->now();
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    if (engine_.closed()) return out;
    absorb_intake();
    std::optional<typename engine::accepted> accepted =
        engine_.duplicate(fresh.key, fresh.track, engine_.advance(read));
    if (!accepted) {
      const auto numbers = admit_own(/*check_room=*/true);
      if (!numbers) {
        waiters_.parked_senders().park(waiter);
        out.what = async_offer::outcome::parked;
        return out;
      }
      number(fresh, *numbers);
      accepted = engine_.enqueue(std::move(fresh), engine_.advance(read));
    }
    out.result = std::move(accepted->result);
    out.what = async_offer::outcome::done;
    if (journal_ && accepted->ticket > written_through_) {
      write_waiters_.push_back({accepted->ticket, out.result.id.value, waiter, failure});
      out.what = async_offer::outcome::awaiting_write;
    }
    return out;
  }

  bool unpark_sender(const detail::parked_operation* waiter) {
    std::unique_lock lock(mutex_);
    return waiters_.parked_senders().unpark(waiter);
  }

  const std::shared_ptr<detail::channel_anchor>& anchor() const noexcept { return anchor_; }

  // An asynchronous send waiting for the write that holds its message.
  struct write_waiter {
    std::uint64_t ticket;
    std::uint64_t id;
    std::shared_ptr<detail::parked_operation> waiter;
    std::string* failure;
  };

  // The journal decided every change through write.last_ticket: wakes the
  // asynchronous sends waiting for them. Under the lock.
  void wake_write_waiters(const journal_write& write) {
    written_through_ = std::max(written_through_, write.last_ticket);
    if (write_waiters_.empty()) return;
    std::erase_if(write_waiters_, [&](write_waiter& waiting) {
      if (waiting.ticket > write.last_ticket) return false;
      if (std::find(write.failed_ids.begin(), write.failed_ids.end(), waiting.id) != write.failed_ids.end())
        *waiting.failure = write.failure.empty() ? std::string("the write failed") : write.failure;
      waiting.waiter->wake();
      return true;
    });
  }

  void close_locked() {
    if (engine_.closed()) return;
    absorb_intake(/*close=*/true);  // what was sent before the close is queued; later plain sends are refused
    engine_.close();
    waiters_.close();
  }

  static std::uint64_t group_hash_of(const std::string& group) {
    return detail::fifo_groups<typename engine::record>::hash_of(group);
  }

  // Returns once the accepted message is durable (durable channels).
  send_result when_durable(typename engine::accepted&& accepted) {
    if (journal_) journal_->wait_durable(accepted.ticket);
    return std::move(accepted.result);
  }

  std::optional<typename engine::accepted> send_or_wait(T&& message, send_options&& options,
                                                        bool wait_for_room) {
    if (options_.ordering == ordering::fifo && options.group.empty()) {
      throw error(errc::missing_group, "send() on a FIFO channel: send_options::group is empty");
    }
    inherit_trace(options);
    if (options_.tracer) trace_send(options);
    // Hashing, encoding and the clock happen before the lock is taken, so
    // the critical section is only the channel's bookkeeping.
    if (engine_.is_plain(options)) {
      auto key = engine_.key_of(message, std::move(options.idempotency_key));  // before the message moves
      if (!key.empty()) engine_.dedup().prefetch(key);  // a large window's cache miss, started early
      auto plain = engine_.prepare_plain(std::move(message), std::move(options));
      if (key.empty()) return send_plain(std::move(plain), wait_for_room);
      return send_plain_once(std::move(plain), std::move(key), wait_for_room);
    }
    auto fresh = engine_.prepare(std::move(message), std::move(options));
    return send_through_lock(std::move(fresh), clock_->now(), wait_for_room);
  }

  // send_or_wait(message, {}, wait_for_room), without the send_options when
  // the answer does not need them: a send with no options is plain unless
  // the channel is durable, FIFO (no group: refused), traced, or hashes
  // content for its dedup window, or the thread has a trace to pass on.
  std::optional<typename engine::accepted> send_or_wait(T&& message, bool wait_for_room) {
    if (sends_without_options_are_plain_ && detail::current_trace_context == nullptr) [[likely]]
      return send_plain(typename engine::plain_message{std::move(message), {}}, wait_for_room);
    return send_or_wait(std::move(message), send_options{}, wait_for_room);
  }

  // Queues a plain send in the intake, without the channel's lock, unless
  // the channel is closed or full (see send_intake.hpp).
  std::optional<typename engine::accepted> send_plain(typename engine::plain_message&& plain,
                                                      bool wait_for_room) {
    const auto read = clock_->now();
    detail::message_numbers numbers;
    const auto pushed = push_plain(plain, read, numbers);
    if (pushed != intake::pushed::refused) return answer_queued(pushed, numbers);
    // Refused (plain was not moved from): the slow path waits for room or
    // finds the channel closed.
    return send_through_lock(engine::from_plain(std::move(plain), 0, 0), read, wait_for_room);
  }

  // A plain send with a key: answered from the dedup window, or queued in
  // the intake, without the channel's lock. The check, the push and the
  // remembering are one step under the dedup lock, so two sends of one key
  // never both queue (send_through_lock holds the same lock for its own).
  // Only senders take that lock: the receivers' side never waits for it.
  std::optional<typename engine::accepted> send_plain_once(typename engine::plain_message&& plain,
                                                           detail::dedup_key&& key, bool wait_for_room) {
    const auto read = clock_->now();
    detail::message_numbers numbers;
    auto pushed = intake::pushed::refused;
    {
      const std::lock_guard keys_held(dedup_mutex_);
      // A sender that read the clock earlier may lock later: its key then
      // sits behind a younger one and is forgotten a few microseconds late,
      // never early.
      const detail::first_send* seen = engine_.dedup().find(key, read);
      if (seen != nullptr && !intake_.is_closed()) {
        ++plain_duplicates_;
        return typename engine::accepted{{seen->id, seen->sequence, true, {}}};
      }
      // New, or the channel is closed: then the push is refused, and the
      // slow path throws channel_closed, as for any send after close().
      pushed = push_plain(plain, read, numbers);
      if (pushed != intake::pushed::refused) {
        engine_.dedup().remember(std::move(key), {message_id{numbers.id}, numbers.sequence}, read);
      }
    }
    if (pushed == intake::pushed::refused) {
      // Closed or full (plain and key were not moved from): the slow path.
      return send_through_lock(engine::from_plain(std::move(plain), 0, 0, std::move(key)), read,
                               wait_for_room);
    }
    return answer_queued(pushed, numbers);  // after the dedup lock: a wake ranks above it
  }

  // A send that takes the channel's lock: delayed, tracked, durable, or
  // plain but refused by the intake. Locks rank: the channel's, then the
  // dedup lock, then the intake's.
  std::optional<typename engine::accepted> send_through_lock(typename engine::new_message&& fresh,
                                                             clock::time_point read, bool wait_for_room) {
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    std::optional<std::chrono::steady_clock::time_point> real_deadline;  // read only if the channel is full
    for (;;) {
      if (engine_.closed()) throw error(errc::channel_closed, "send()");
      // A key is checked and remembered as one step with the plain sends'
      // (see send_plain_once); the intake is moved in under the dedup lock,
      // so every key in the window names a message the engine holds (a
      // tracked duplicate's receipt is looked up there).
      std::unique_lock keys_held(dedup_mutex_, std::defer_lock);
      if (!fresh.key.empty()) keys_held.lock();
      absorb_intake();
      if (auto duplicate = engine_.duplicate(fresh.key, fresh.track, engine_.advance(read))) return duplicate;
      if (const auto numbers = admit_own(/*check_room=*/true)) {
        number(fresh, *numbers);
        return engine_.enqueue(std::move(fresh), engine_.advance(read));
      }
      if (keys_held.owns_lock()) keys_held.unlock();
      if (!wait_for_room) return std::nullopt;
      if (!real_deadline) real_deadline = std::chrono::steady_clock::now() + options_.send_timeout;
      if (std::chrono::steady_clock::now() >= *real_deadline) {
        throw error(errc::channel_full,
                    fmt::format("send(): {} messages waiting, capacity {}, waited {} ms", engine_.size(),
                                options_.capacity, options_.send_timeout.count()));
      }
      waiters_.catch_up(engine_.progress_so_far());
      waiters_.sleep_sender(lock, *real_deadline);
      read = clock_->now();
    }
  }

  std::vector<delivery<T>> receive_or_wait(std::size_t max, std::chrono::milliseconds wait,
                                           const std::atomic<bool>* stop) {
    std::vector<delivery<T>> out;
    if (max == 0) return out;
    out.reserve(std::min<std::size_t>(max, 256));  // allocate before the lock, not while holding it
    const auto stopped = [stop] { return stop != nullptr && stop->load(std::memory_order_acquire); };
    // The real clock is read only once a look finds nothing: a receive that
    // finds a message reads one clock, the channel's.
    std::optional<std::chrono::steady_clock::time_point> real_deadline;
    bool spun = false;
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    for (;;) {
      if (engine_.closed()) throw error(errc::channel_closed, "receive()");
      const auto now = engine_.advance(clock_->now());
      take_deliveries(out, max, now);
      if (!out.empty() || stopped() || wait <= std::chrono::milliseconds::zero()) return out;
      const auto real_now = std::chrono::steady_clock::now();
      if (!real_deadline) real_deadline = real_now + wait;
      if (real_now >= *real_deadline) return out;
      waiters_.catch_up(engine_.progress_so_far());  // before the lock is let go
      if (!spun) {
        // Most waits end within microseconds, when the producer's next send
        // lands: spin for it before paying for a sleep and a wake-up.
        spun = true;
        const std::uint64_t seen = waiters_.ready_signal();
        const std::uint64_t seen_pushes = intake_.pushes();
        lock.unlock();
        detail::spin_until(
            [&] { return waiters_.ready_signal() != seen || intake_.pushes() != seen_pushes || stopped(); },
            receive_spin);
        lock.lock();
        continue;
      }
      auto wake_at = *real_deadline;
      if (const auto due = engine_.next_due()) wake_at = std::min(wake_at, real_now + (*due - now));
      waiters_.sleep_receiver(lock, wake_at, [this] { return intake_.is_empty(); });
    }
  }

  // Runs act(record, now) on handle's open delivery, which must still be in
  // flight; throws as nack() and extend() say.
  template <class Act>
  void with_open_delivery(const receipt& handle, const char* operation, Act&& act) {
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    const auto now = engine_.advance(clock_->now());
    const auto found = engine_.check(handle, /*allow_expired=*/false, now);
    if (found.held == nullptr) throw detail::receipt_ledger::refusal(found.check, handle, operation);
    act(*found.held, now);
  }

  // Where the engine puts a message past max_receives: this channel's dead
  // letters, which queue it under their own lock (taken after this one's).
  struct dead_letter_port final : detail::dead_letter_sink<T> {
    explicit dead_letter_port(channel& owner) : owner(owner) {}
    void take(detail::dead_letter<T> letter, clock::time_point now) override {
      owner.dead_letters().accept_dead_letter(std::move(letter), now);
    }
    channel& owner;
  };

  void accept_dead_letter(detail::dead_letter<T> letter, clock::time_point now) {
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    auto moved = engine::from_dead_letter(std::move(letter));
    moved.id = admit_own(/*check_room=*/false)->id;  // it keeps its sequence
    engine_.enqueue(std::move(moved), now);
  }

  using intake = detail::send_intake<T, typename engine::plain_extras>;

  // Queues plain in the intake (moved from only if queued).
  typename intake::pushed push_plain(typename engine::plain_message& plain, clock::time_point read,
                                     detail::message_numbers& numbers) {
    return intake_.push(std::move(plain.body), std::move(plain.extras), read, waiters_.receivers_waiting(),
                        numbers);
  }

  // What a send the intake queued is told, once a receiver waiting for it
  // (if any) is woken.
  typename engine::accepted answer_queued(typename intake::pushed pushed,
                                          const detail::message_numbers& numbers) {
    if (pushed == intake::pushed::queued_wake) wake_for_intake();
    return typename engine::accepted{{message_id{numbers.id}, numbers.sequence, false, {}}};
  }

  // Under the lock: moves the plain sends waiting in the intake into the
  // engine, in the order they were sent. close: the intake refuses every
  // later push (they take the slow path, which finds the channel closed).
  void absorb_intake(bool close = false) {
    intake_.take(taken_, engine_.size(), close);
    enqueue_taken();
  }

  // Under the lock: the numbers of a message the channel queues itself
  // (after the plain sends that came first, which go into the engine now),
  // or nothing when check_room and the channel is full.
  std::optional<detail::message_numbers> admit_own(bool check_room) {
    auto numbers = intake_.admit(taken_, engine_.size(), check_room);
    enqueue_taken();
    return numbers;
  }

  // Under the lock: up to max deliveries into out, oldest first. Plain
  // sends may go from the intake straight to out (see
  // channel_engine::may_hand_out_plain); the rest are queued as usual.
  void take_deliveries(std::vector<delivery<T>>& out, std::size_t max, clock::time_point now) {
    if (!engine_.may_hand_out_plain()) {
      absorb_intake();
      engine_.hand_out(max, now, [&](const auto& item, receipt handle) {
        out.emplace_back(*this, *item.body, item.id, item.group, item.sequence, item.receive_count, handle,
                         item.trace);
      });
      return;
    }
    // At most what this receive hands out: the rest waits in the intake, so
    // the next receive comes this way too (see send_intake::take_up_to).
    intake_.take_up_to(taken_, max > out.size() ? max - out.size() : 0, engine_.size());
    std::size_t handed = 0;
    typename engine::plain_extras none;
    try {
      for (; handed < taken_.items.size() && out.size() < max; ++handed) {
        auto& item = taken_.items[handed];
        const receipt handle = engine_.plain_receipt(item.numbers.id);
        auto& extras = taken_.extras_of(item, none);
        out.emplace_back(*this, std::move(item.message), handle.message, std::move(extras.group),
                         item.numbers.sequence, 1, handle, std::move(extras.trace));
        engine_.handed_out_plain(handle, item.read, now);
      }
    } catch (...) {
      drop_taken(handed);
      intake_.put_back(taken_);
      throw;
    }
    drop_taken(handed);
    enqueue_taken();  // queues nothing (take_up_to took no more than fit) and clears the batch's extras
  }

  void enqueue_taken() {
    std::size_t done = 0;
    typename engine::plain_extras none;
    try {
      for (; done < taken_.items.size(); ++done) {
        auto& item = taken_.items[done];
        engine_.enqueue_plain(std::move(item.message), std::move(taken_.extras_of(item, none)),
                              item.numbers.id, item.numbers.sequence, engine_.advance(item.read));
      }
    } catch (...) {
      // Out of memory: what is left goes back to the intake, in front.
      drop_taken(done);
      intake_.put_back(taken_);
      throw;
    }
    taken_.clear();
  }

  // Forgets the first count sends of taken_ (the engine or a receiver has
  // them). Their extras stay until the batch is cleared: the rest's extras
  // are found by position.
  void drop_taken(std::size_t count) {
    taken_.items.erase(taken_.items.begin(), taken_.items.begin() + static_cast<std::ptrdiff_t>(count));
  }

  static void number(typename engine::new_message& message, detail::message_numbers numbers) noexcept {
    message.id = numbers.id;
    message.sequence = numbers.sequence;
  }

  // A plain send found a receiver waiting: moving the intake in under the
  // lock makes the progress that wakes it.
  void wake_for_intake() {
    std::unique_lock lock(mutex_);
    const detail::wake_on_exit wake(waiters_, engine_);
    absorb_intake();
  }

  void open_durable() {
    journal_ = options_.durable.journal;
    engine_.open_durable(options_.durable, clock_->now());  // the state the journal kept
    const auto [last_id, last_sequence] = engine_.last_numbers();
    intake_.start({last_id, last_sequence}, engine_.size());
    if (options_.max_receives != 0) dead_letters();  // recovers the dead letters now, not at first use
    journal_->start([this](const journal_write& write) {
      const auto read = clock_->now();
      std::unique_lock lock(mutex_);
      const detail::wake_on_exit wake(waiters_, engine_);
      engine_.journal_wrote(write, engine_.advance(read));
      wake_write_waiters(write);
    });
  }

  // How long an idle receiver spins before it sleeps (see receive_or_wait):
  // long enough to catch a producer's next send at rates where sleeping and
  // waking per message would cost more than the spin.
  static constexpr std::chrono::nanoseconds receive_spin = std::chrono::microseconds(50);

  // What a send reads before it queues (options_, clock_, journal_, the
  // engine's references) never changes after construction and sits on cache
  // lines no thread writes: next to the lock, whose line changes hands with
  // every lock and unlock, each of a producer's reads was a cache miss
  // (perf on courier_channel_bench: a quarter of a plain send's time).
  const channel_options<T> options_;
  const std::shared_ptr<const clock> clock_;
  std::shared_ptr<channel_journal> journal_;  // durable channels only; set by the constructor
  // A send with no options can skip them (see send_or_wait(message, wait)).
  const bool sends_without_options_are_plain_ =
      !options_.durable && options_.ordering != ordering::fifo && !options_.tracer &&
      !(options_.dedup_window > clock::duration::zero() && options_.content_dedup);
  dead_letter_port dead_letter_port_;
  engine engine_;  // its state begins on a line of its own (see channel_engine)
  intake intake_;  // plain sends, queued without the channel's lock
  // Guards the engine's dedup window (keys of plain sends are checked
  // without mutex_) and plain_duplicates_.
  alignas(128) mutable detail::spin_mutex dedup_mutex_;
  std::uint64_t plain_duplicates_ = 0;             // plain sends answered from the window
  alignas(128) mutable detail::spin_mutex mutex_;  // guards engine_, taken_ and waiters_
  typename intake::batch taken_;
  detail::channel_waiters waiters_;
  std::once_flag dead_letters_made_;
  std::unique_ptr<channel> dead_letters_;
  std::vector<write_waiter> write_waiters_;  // durable channels: async sends waiting for their write
  std::uint64_t written_through_ = 0;        // the journal's newest decided ticket
  const std::shared_ptr<detail::channel_anchor> anchor_ = std::make_shared<detail::channel_anchor>();
  detail::handler_timings handler_timings_;  // consume()'s threads, with a metrics registry
  metrics_registry::registration metrics_;   // last: removed first, before what its collector reads
};

}  // namespace v1
}  // namespace courier
