// courier::sqs::channel<T>: a typed channel whose messages live in an Amazon
// SQS queue, used like courier::channel<T>.
//
// The same calls as the in-process channel, mapped onto SQS:
//   send(m, {.group, .idempotency_key, .delay})  SendMessage: MessageGroupId,
//                                                MessageDeduplicationId (standard
//                                                queues: the "courier.id" attribute),
//                                                DelaySeconds
//   receive(max, wait)                           ReceiveMessage, long polling
//   ack(receipt)                                 DeleteMessage (a span: DeleteMessageBatch)
//   nack(receipt, delay)                         ChangeMessageVisibility(delay)
//   extend(receipt, visibility)                  ChangeMessageVisibility
//   consume(handler, {.concurrency})             long-polling threads; return acks, throw nacks
// Messages are JSON (courier::json, so T is a Boost.Describe struct or has
// its own conversions) with the event's name in the message attribute
// "courier.type", so one queue can carry several types and a consumer of
// one type does not misread another.
//
// What differs from the in-process channel, because SQS works so:
// - Delivery is at-least-once, even on FIFO queues (SQS dedups sends, not
//   deliveries). For an exactly-once effect give the channel an
//   idempotent_store: consume() then applies each dedup id once.
// - Order and the dedup window are SQS's: FIFO per MessageGroupId on a
//   .fifo queue, 5 minutes of dedup ids.
// - Delivery receipts come back as messages (courier/sqs/receipts.hpp): a
//   sender with a receipt_inbox (channel_options::receipts) may ask for
//   one (track_delivery); consume() and delivery::ack() answer it.
// - A message that does not decode (not JSON, another type, missing
//   members) is reported to on_malformed and left in the queue: the queue's
//   redrive policy moves it to its dead-letter queue. Nothing is deleted
//   unread.
// Thread-safe.
#pragma once

#include "courier/aws/random_id.hpp"
#include "courier/channel_options.hpp"
#include "courier/consumer.hpp"
#include "courier/detail/call_handler.hpp"
#include "courier/detail/channel_anchor.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/json/codec.hpp"
#include "courier/metrics.hpp"
#include "courier/sqs/channel_stats.hpp"
#include "courier/sqs/client.hpp"
#include "courier/sqs/detail/call_pool.hpp"
#include "courier/sqs/detail/channel_counters.hpp"
#include "courier/sqs/detail/channel_metrics.hpp"
#include "courier/sqs/detail/failure_pause.hpp"
#include "courier/sqs/receipt_inbox.hpp"
#include "courier/sqs/receipts.hpp"
#include "courier/sqs/trace.hpp"
#include "courier/trace_scope.hpp"
#include "courier/tracing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

struct channel_options {
  std::string queue_url = {};
  // Given to each receive; empty: the queue's own VisibilityTimeout.
  std::optional<std::chrono::seconds> visibility_timeout = {};
  // consume(): applies each message's dedup id once (received_message::
  // dedup_id()). Empty: at-least-once.
  std::shared_ptr<idempotent_store> applied = {};
  // A message that does not decode; default: a line on stderr.
  std::function<void(const received_message&, const std::exception&)> on_malformed = {};
  // send_async(): how long the first message of a batch waits for others
  // (up to 10 go in one SendMessageBatch).
  std::chrono::milliseconds send_linger{5};
  // Senders: where receipts of sends with track_delivery come back. Empty:
  // track_delivery is refused.
  std::shared_ptr<receipt_inbox> receipts = {};
  // Consumers: the name their receipts carry; empty: the queue's name.
  std::string consumer_name = {};
  // async_receive() and async_send() (courier/sqs/asio.hpp): the threads
  // that make their SQS calls. A long poll holds one for its wait; more
  // operations than threads wait their turn.
  std::size_t async_threads = 4;
  // Where the channel reports its figures (channel_stats, and the queue's
  // depth: one GetQueueAttributes call per scrape) as families labelled
  // messaging_destination_name=name; empty name: the queue's name.
  std::shared_ptr<metrics_registry> metrics = {};
  std::string name = {};
  // Called at each step (courier/tracing.hpp), messaging_system "aws_sqs",
  // the destination being name (or the queue's name).
  std::shared_ptr<message_tracer> tracer = {};
};

// What SQS said about an accepted send.
struct sent {
  std::string message_id = {};
  std::string sequence = {};  // FIFO queues
  // With track_delivery: the consumer's receipt (receipt), and every
  // receipt of the message (receipts: its id, who answered).
  delivery_receipt receipt = {};
  delivery_receipts receipts = {};
};

// One message of a send_batch(): accepted, or refused with SQS's reason.
struct batch_outcome {
  std::optional<sent> accepted = {};
  std::optional<batch_failure> refused = {};
};

// Names one delivery: the SQS receipt handle of one receive.
struct sqs_receipt {
  std::string message_id = {};
  std::string handle = {};
};

template <class T>
class channel;

namespace detail {
// Specialised in <courier/sqs/asio.hpp>; the primary template says where.
template <class Channel, class Token>
struct asio_sqs_ops {
  static_assert(sizeof(Token) == 0,
                "sqs::channel::async_receive and async_send need #include <courier/sqs/asio.hpp>");
};
template <class T, class Handler>
class sqs_receive_op;
template <class T, class Handler>
class sqs_send_op;
}  // namespace detail

template <class T>
class delivery {
 public:
  delivery(channel<T>& origin, T message, received_message raw)
      : origin_(&origin), message_(std::move(message)), raw_(std::move(raw)) {}

  const T& message() const noexcept { return message_; }
  T& message() noexcept { return message_; }
  const std::string& id() const noexcept { return raw_.message_id; }
  std::string group() const { return raw_.system_attribute("MessageGroupId"); }
  std::string sequence() const { return raw_.system_attribute("SequenceNumber"); }
  // The key the consumer-side store uses (received_message::dedup_id()).
  std::string dedup_id() const { return raw_.dedup_id(); }
  int receive_count() const { return raw_.receive_count(); }
  sqs_receipt receipt() const { return {raw_.message_id, raw_.receipt_handle}; }
  const received_message& raw() const noexcept { return raw_; }
  // The W3C trace context its sender set (send_options::trace), from its
  // attributes or AWSTraceHeader (courier/sqs/trace.hpp); empty when none.
  trace_context trace() const { return trace_of(raw_); }

  // Answers its sender if it asked for a receipt, then deletes the message
  // (in that order: see consume()).
  void ack() {
    if (!reply_to_of(raw_).empty()) {
      receipt_sender answer(origin_->sqs_, origin_->consumer_name());
      answer.add(raw_, delivery_outcome::acked);
    }
    origin_->ack(receipt());
    origin_->counters_.acked_message(raw_);
    settled_ = true;
    acked_ = true;
    origin_->trace_step(&message_tracer::on_settle, messaging_operation::settle, "ack", raw_);
  }
  void nack(std::chrono::seconds delay = {}) {
    origin_->nack(receipt(), delay);
    settled_ = true;
    origin_->trace_step(&message_tracer::on_settle, messaging_operation::settle, "nack", raw_);
  }
  // More time before the message is visible again; in consume() with an
  // idempotent store, the claim on its key gets as long.
  void extend(std::chrono::seconds visibility) {
    origin_->extend(receipt(), visibility);
    if (claimed_ != nullptr) claimed_->extend(dedup_id(), visibility);
  }
  // No ack, no nack: the message comes again after its visibility timeout.
  void let_expire() noexcept { settled_ = true; }
  bool settled() const noexcept { return settled_; }

 private:
  friend class channel<T>;

  bool acked_ = false;  // by ack(), its receipt sent
  channel<T>* origin_;
  T message_;
  received_message raw_;
  bool settled_ = false;
  idempotent_store* claimed_ = nullptr;  // the store holding this message's key while consume() applies it
};

// What a batch ack did: ids SQS deleted, and the ones it refused with why.
struct sqs_ack_result {
  std::size_t acked = 0;
  std::vector<std::pair<sqs_receipt, batch_failure>> failed = {};
  bool ok() const noexcept { return failed.empty(); }
};

template <class T>
class channel {
 public:
  using value_type = T;
  static constexpr const char* type_attribute = event_type_attribute;

  // sqs must outlive the channel.
  channel(client& sqs, channel_options options) : sqs_(sqs), options_(std::move(options)) {
    if (options_.queue_url.empty())
      throw courier::error(errc::invalid_option, "sqs::channel_options::queue_url is empty");
    fifo_ = options_.queue_url.ends_with(".fifo");
    if (!options_.on_malformed) {
      options_.on_malformed = [](const received_message& m, const std::exception& e) {
        fmt::print(stderr, "courier: SQS message {} left in the queue: {}\n", m.message_id, e.what());
      };
    }
    if (options_.name.empty()) options_.name = queue_name_of(options_.queue_url);
    if (options_.metrics) {
      metrics_ = options_.metrics->add([this](metric_set& out) {
        std::optional<queue_depth> depth;
        try {
          depth = queue_depth_now();
        } catch (const std::exception&) {
          // Reported as courier_sqs_queue_read_failed; the scrape goes on.
        }
        detail::report_channel(out, options_.name, stats(), depth);
      });
    }
  }

  // What this channel did so far. Thread-safe.
  channel_stats stats() const { return counters_.read(); }

  // The queue's depth now, as SQS reports it (one GetQueueAttributes
  // call). Throws courier::sqs::error. Thread-safe.
  queue_depth queue_depth_now() {
    const auto attributes = sqs_.get_queue_attributes(
        options_.queue_url, {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                             "ApproximateNumberOfMessagesDelayed"});
    auto count = [&](const char* name) -> std::uint64_t {
      const auto found = attributes.find(name);
      return found == attributes.end() ? 0 : std::strtoull(found->second.c_str(), nullptr, 10);
    };
    return {count("ApproximateNumberOfMessages"), count("ApproximateNumberOfMessagesNotVisible"),
            count("ApproximateNumberOfMessagesDelayed")};
  }

  // Sends message; returns once SQS accepted it. Throws courier::error
  // (missing_group on a FIFO queue without a group; invalid_option for
  // track_delivery) or courier::sqs::error.
  sent send(const T& message, const send_options& options = {}) {
    delivery_receipts tracking;
    const auto result = sqs_.send_message(options_.queue_url, outgoing(message, options, tracking));
    counters_.add(counters_.sent);
    return accepted(result, tracking);
  }

  // Sends up to 10 messages in one SendMessageBatch from the calling thread
  // (for a caller with a batch in hand; send_async() batches for callers
  // that send one at a time). Returns one outcome per message, in order:
  // what SQS said, or why it refused that message. Throws for the whole
  // batch only when the request itself failed.
  std::vector<batch_outcome> send_batch(std::span<const std::pair<T, send_options>> messages) {
    if (messages.size() > 10) {
      throw courier::error(errc::invalid_option, "sqs::channel::send_batch(): at most 10 messages");
    }
    std::vector<outgoing_message> batch;
    std::vector<delivery_receipts> tracking(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) {
      batch.push_back(outgoing(messages[i].first, messages[i].second, tracking[i]));
      batch.back().entry_id = std::to_string(i);
    }
    const auto result = sqs_.send_message_batch(options_.queue_url, batch);
    counters_.add(counters_.sent, result.successful.size());
    std::vector<batch_outcome> out(messages.size());
    for (const auto& [id, what] : result.successful) {
      const std::size_t i = entry_index(id, out.size());
      if (i < out.size()) out[i].accepted = accepted(what, tracking[i]);
    }
    for (const auto& failure : result.failed) {
      const std::size_t i = entry_index(failure.entry_id, out.size());
      if (i < out.size()) out[i].refused = failure;
    }
    return out;
  }

  // Queues message for a SendMessageBatch with others sent within
  // send_linger (up to 10 a batch); the future holds what SQS said, or its
  // error for this message. Sends from one thread keep their order (one
  // batch at a time, in order), so FIFO groups keep theirs. Validation
  // errors (no group, too big) throw at once.
  std::future<sent> send_async(const T& message, const send_options& options = {}) {
    delivery_receipts tracking;
    outgoing_message out = outgoing(message, options, tracking);
    sqs_.check_size(out, "SendMessageBatch");
    std::promise<sent> promise;
    auto future = promise.get_future();
    bool wake = false;
    {
      std::lock_guard lock(batch_mutex_);
      if (stopping_) {
        throw courier::error(errc::channel_closed, "sqs::channel::send_async() during destruction");
      }
      pending_.push_back({std::move(out), std::move(promise), std::move(tracking)});
      if (!batcher_.joinable()) batcher_ = std::thread([this] { send_batches(); });
      // The batcher waits for a first message, then for a tenth (or the
      // linger): waking it for the ones between costs a context switch each.
      wake = pending_.size() == 1 || pending_.size() == 10;
    }
    if (wake) batch_ready_.notify_one();
    return future;
  }

  // Sends what send_async() queued, then stops its thread. Asio operations
  // still pending complete with channel_closed: a long poll is abandoned
  // (within about a second) and what it had received is made visible again;
  // messages already on their way to a completion that is then cancelled
  // come back after their visibility timeout.
  ~channel() {
    close_async_operations();
    {
      std::lock_guard lock(batch_mutex_);
      stopping_ = true;
    }
    batch_ready_.notify_one();
    if (batcher_.joinable()) batcher_.join();
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Up to max messages of type T (SQS returns at most 10 per call), waiting
  // up to wait (long poll, at most 20 s) for the first. Messages that do not
  // decode go to on_malformed and stay in the queue.
  std::vector<delivery<T>> receive(std::size_t max = 1, std::chrono::seconds wait = {},
                                   const std::atomic<bool>* cancel = nullptr) {
    return receive_decoding(max, wait, cancel, nullptr);
  }

  // receive() as an Asio asynchronous operation: the call runs on one of
  // the channel's threads (channel_options::async_threads), never on the
  // caller's, and completes on the token's associated executor with up to
  // max messages, or none when wait passed. Signature
  // void(std::exception_ptr, std::vector<delivery<T>>): failures are the
  // exceptions receive() throws (sqs::error with AWS's code and message,
  // which an error_code would lose); use_awaitable rethrows them. Any
  // completion token. Cancellation (Asio per-operation, every type) ends
  // a long poll within about a second and completes with sqs::error
  // "Cancelled"; messages SQS handed over meanwhile are made visible again
  // at once (ChangeMessageVisibility 0), never handed to the cancelled
  // caller. SQS still counts that receive: ApproximateReceiveCount (and a
  // redrive policy's maxReceiveCount) see one more. Needs
  // <courier/sqs/asio.hpp>. Thread-safe.
  template <class CompletionToken>
  auto async_receive(std::size_t max, std::chrono::seconds wait, CompletionToken&& token) {
    return detail::asio_sqs_ops<channel, CompletionToken>::receive(*this, max, wait,
                                                                   std::forward<CompletionToken>(token));
  }

  // send() as an Asio asynchronous operation, on the channel's threads.
  // Signature void(std::exception_ptr, sent). A cancellation that comes
  // before the request is made completes with sqs::error "Cancelled" and
  // nothing sent; once made, the send completes with what SQS said (it
  // cannot be taken back). Needs <courier/sqs/asio.hpp>. Thread-safe.
  template <class CompletionToken>
  auto async_send(T message, send_options options, CompletionToken&& token) {
    return detail::asio_sqs_ops<channel, CompletionToken>::send(*this, std::move(message), std::move(options),
                                                                std::forward<CompletionToken>(token));
  }

  void ack(const sqs_receipt& handle) {
    sqs_.delete_message(options_.queue_url, handle.handle);
    counters_.add(counters_.acked);
  }

  // Acks up to any number of deliveries, 10 per DeleteMessageBatch.
  sqs_ack_result ack(std::span<const sqs_receipt> handles) {
    sqs_ack_result result;
    for (std::size_t first = 0; first < handles.size(); first += 10) {
      std::vector<receipt_entry> entries;
      for (std::size_t i = first; i < std::min(first + 10, handles.size()); ++i) {
        entries.push_back({std::to_string(i), handles[i].handle, {}});
      }
      const auto done = sqs_.delete_message_batch(options_.queue_url, entries);
      result.acked += done.successful.size();
      counters_.add(counters_.acked, done.successful.size());
      for (const auto& failure : done.failed) {
        const std::size_t i = entry_index(failure.entry_id, handles.size());
        result.failed.emplace_back(i < handles.size() ? handles[i] : sqs_receipt{}, failure);
      }
    }
    return result;
  }

  // Gives the message back: visible again after delay.
  void nack(const sqs_receipt& handle, std::chrono::seconds delay = {}) {
    sqs_.change_message_visibility(options_.queue_url, handle.handle, delay);
    counters_.add(counters_.nacked);
  }

  void extend(const sqs_receipt& handle, std::chrono::seconds visibility) {
    sqs_.change_message_visibility(options_.queue_url, handle.handle, visibility);
  }

  // Runs handler on options.concurrency threads, each long-polling SQS,
  // until the returned consumer is stopped (within about a second, polls in
  // progress abandoned). Returning acks, throwing nacks (visible again at
  // once); errors go to on_error. Of several messages of a FIFO group in one
  // receive, those after one that was not acked go back unhandled, so the
  // group's order holds across redeliveries. With channel_options::applied, a message
  // whose dedup id was applied before is acked without running handler, and
  // one being applied by another thread is nacked with a short delay.
  template <courier::detail::delivery_handler<delivery<T>> Handler>
  [[nodiscard]] consumer consume(Handler handler, consume_options options = {},
                                 std::function<void(const std::string&, std::exception_ptr)> on_error = {}) {
    if (!on_error) {
      on_error = [](const std::string& id, std::exception_ptr failure) {
        courier::detail::print_consumer_error("SQS consumer", id, failure);
      };
    }
    auto shared = std::make_shared<Handler>(std::move(handler));
    const std::chrono::milliseconds lease = options_.applied ? claim_lease() : std::chrono::milliseconds(0);
    auto body = [this, shared, options, on_error, lease](const std::atomic<bool>& stop) {
      // Between receives that fail: a server that is down is not asked in a loop.
      detail::failure_pause pause;
      // Timed only when someone can read it.
      std::optional<courier::detail::handler_timings::recorder> timing;
      if (options_.metrics) timing.emplace(counters_.handler_timings);
      while (!stop.load(std::memory_order_acquire)) {
        // Receipts of this receive, sent before its acks.
        receipt_sender answers(sqs_, consumer_name(),
                               [&](const std::string& reply_to, const std::exception& e) {
                                 on_error("(receipt to " + reply_to + ")", std::make_exception_ptr(e));
                               });
        std::vector<delivery<T>> batch;
        std::vector<received_message> malformed;
        try {
          batch = receive_decoding(options.batch, std::chrono::seconds(20), &stop, &malformed);
          pause.after_success();
        } catch (...) {
          if (stop.load(std::memory_order_acquire)) break;
          on_error("(receive)", std::current_exception());
          pause.after_failure(stop);
          continue;
        }
        for (const auto& raw : malformed) {
          // Left in the queue: at its last allowed receive, its sender
          // learns it goes to the dead-letter queue.
          if (!reply_to_of(raw).empty() && last_receive_(raw))
            answers.add(raw, delivery_outcome::dead_lettered);
        }
        // Handlers that returned are acked together: one DeleteMessageBatch
        // for the receive, not one DeleteMessage each.
        std::vector<sqs_receipt> done;
        // SQS may hand over several messages of one FIFO group at once. Once
        // one of them is not acked (the handler threw, nacked, or let it
        // expire), the later ones of its group go back unhandled: handling
        // them now would put them before the one that comes again.
        std::vector<std::string> held_groups;
        for (auto& item : batch) {
          const std::string group = item.group();
          if (!group.empty() &&
              std::find(held_groups.begin(), held_groups.end(), group) != held_groups.end()) {
            try {
              item.nack();
            } catch (...) {
              on_error(item.id(), std::current_exception());
            }
            continue;
          }
          const auto started =
              timing ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
          trace_step(&message_tracer::on_process_start, messaging_operation::process, "process", item.raw());
          std::exception_ptr failure;
          const bool handled =
              handle_one(*shared, item, lease, on_error, options_.tracer ? &failure : nullptr);
          trace_step(&message_tracer::on_process_end, messaging_operation::process, "process", item.raw(),
                     failure);
          if (timing) timing->record(std::chrono::steady_clock::now() - started);
          if (handled) {
            done.push_back(item.receipt());
          } else if (!group.empty()) {
            held_groups.push_back(group);
          }
        }
        for (const auto& item : batch) {
          const bool acking = std::any_of(done.begin(), done.end(), [&](const sqs_receipt& r) {
            return r.handle == item.raw().receipt_handle;
          });
          if (acking) {
            answers.add(item.raw(), delivery_outcome::acked);
          } else if (!item.acked_ && !reply_to_of(item.raw()).empty() && last_receive_(item.raw())) {
            // Not acked on the last receive the queue's redrive policy
            // allows: SQS dead-letters it at its next receive.
            answers.add(item.raw(), delivery_outcome::dead_lettered);
          }
        }
        // Receipts before the delete: a consumer that dies between the two
        // is redelivered, turned away by its store, and answers again (a
        // repeated receipt); the other way round its receipt would die
        // with it, and nothing would ever send it.
        answers.flush();
        if (done.empty()) continue;
        try {
          const auto acked = ack(done);
          for (const auto& [receipt, failure] : acked.failed) {
            on_error(receipt.message_id, std::make_exception_ptr(error("SQS", "DeleteMessageBatch",
                                                                       failure.code, failure.message)));
          }
          for (const auto& item : batch) {
            const bool deleted = std::any_of(done.begin(), done.end(), [&](const sqs_receipt& r) {
              return r.handle == item.raw().receipt_handle &&
                     std::none_of(acked.failed.begin(), acked.failed.end(),
                                  [&](const auto& f) { return f.first.handle == r.handle; });
            });
            if (!deleted) continue;
            counters_.acked_message(item.raw());
            trace_step(&message_tracer::on_settle, messaging_operation::settle, "ack", item.raw());
          }
        } catch (...) {
          on_error("(ack)", std::current_exception());
        }
      }
    };
    return consumer(std::max<std::size_t>(options.concurrency, 1), std::move(body), [] {});
  }

  const channel_options& options() const noexcept { return options_; }

  // The name this channel's consumers sign their receipts with.
  std::string consumer_name() const {
    return options_.consumer_name.empty() ? queue_name_of(options_.queue_url) : options_.consumer_name;
  }

 private:
  friend class delivery<T>;
  template <class, class>
  friend struct detail::asio_sqs_ops;
  template <class, class>
  friend class detail::sqs_receive_op;
  template <class, class>
  friend class detail::sqs_send_op;

  // ---- The Asio operations' way in (<courier/sqs/asio.hpp>) ----

  // Runs call on the channel's threads (started on first use). False once
  // the channel is being destroyed: call does not run.
  bool run_async(std::function<void()> call) { return calls_.submit(std::move(call)); }

  const std::shared_ptr<courier::detail::channel_anchor>& anchor() const noexcept { return anchor_; }

  // A long poll in progress: abort is what its request watches; the
  // destructor sets it.
  void track_poll(std::atomic<bool>* abort) {
    std::lock_guard lock(polls_mutex_);
    polls_.push_back(abort);
    if (closing_) abort->store(true, std::memory_order_release);
  }
  void untrack_poll(std::atomic<bool>* abort) {
    std::lock_guard lock(polls_mutex_);
    std::erase(polls_, abort);
  }
  bool closing() const {
    std::lock_guard lock(polls_mutex_);
    return closing_;
  }

  // Messages received for an operation that was cancelled: visible again
  // at once. Best effort: one SQS refuses comes back after its visibility
  // timeout.
  void put_back(const std::vector<delivery<T>>& taken) noexcept {
    std::vector<receipt_entry> entries;
    for (std::size_t i = 0; i < taken.size(); ++i) {
      entries.push_back({std::to_string(i), taken[i].raw().receipt_handle, std::chrono::seconds(0)});
      if (entries.size() == 10 || i + 1 == taken.size()) {
        try {
          sqs_.change_message_visibility_batch(options_.queue_url, entries);
        } catch (...) {
        }
        entries.clear();
      }
    }
  }

  void close_async_operations() {
    {
      std::lock_guard lock(polls_mutex_);
      closing_ = true;
      for (auto* abort : polls_) abort->store(true, std::memory_order_release);
    }
    calls_.stop();  // what was submitted runs, and finds the channel closing
    anchor_->abandon();
  }

  static sent accepted(const sent_message& what, const delivery_receipts& tracking) {
    sent out{what.message_id, what.sequence_number, {}, tracking};
    if (tracking.valid()) out.receipt = tracking.first();
    return out;
  }

  // receive(), and the messages that did not decode: to on_malformed, and
  // into malformed when given (consume() answers their senders at their
  // last receive).
  std::vector<delivery<T>> receive_decoding(std::size_t max, std::chrono::seconds wait,
                                            const std::atomic<bool>* cancel,
                                            std::vector<received_message>* malformed) {
    receive_request request{.max_messages = static_cast<int>(std::clamp<std::size_t>(max, 1, 10)),
                            .wait = std::min(wait, std::chrono::seconds(20)),
                            .visibility_timeout = options_.visibility_timeout,
                            .receive_request_attempt_id = {},
                            .cancel = cancel};
    std::vector<delivery<T>> out;
    for (auto& raw : sqs_.receive_message(options_.queue_url, request)) {
      try {
        const auto type = raw.message_attributes.find(type_attribute);
        if (type == raw.message_attributes.end() || type->second.value != event_name<T>()) {
          throw courier::error(
              errc::malformed_message,
              fmt::format("expected a {} ({} attribute), got {}", event_name<T>(), type_attribute,
                          type == raw.message_attributes.end() ? "none" : type->second.value));
        }
        T message = json::decode<T>(raw.body);
        if (raw.receive_count() > 1) counters_.add(counters_.redeliveries);
        trace_step(&message_tracer::on_receive, messaging_operation::receive, "receive", raw);
        out.emplace_back(*this, std::move(message), std::move(raw));
        counters_.add(counters_.received);
      } catch (const courier::error& failure) {
        counters_.add(counters_.malformed);
        options_.on_malformed(raw, failure);
        if (malformed != nullptr) malformed->push_back(std::move(raw));
      }
    }
    return out;
  }

  // The message to send; with track_delivery, tracking is what the
  // sender will learn.
  outgoing_message outgoing(const T& message, const send_options& options,
                            delivery_receipts& tracking) const {
    if (options.track_delivery && !options_.receipts) {
      throw courier::error(
          errc::invalid_option,
          "sqs::channel: track_delivery needs channel_options::receipts (a receipt_inbox: the "
          "queue receipts come back to)");
    }
    if (fifo_ && options.group.empty()) {
      throw courier::error(errc::missing_group,
                           "sqs::channel::send() on a FIFO queue: send_options::group is empty");
    }
    trace_context trace = options.trace.empty() ? current_trace() : options.trace;
    if (options_.tracer) {
      message_span span{.operation = messaging_operation::send,
                        .operation_name = "send",
                        .system = "aws_sqs",
                        .destination = options_.name,
                        .context = &trace};
      courier::detail::call_tracer([&] { options_.tracer->on_send(span); });
    }
    check_trace(trace, "sqs::channel send_options::trace");
    outgoing_message out;
    out.body = json::encode(message);
    out.group_id = options.group;
    out.message_attributes[type_attribute] = attribute{"String", std::string(event_name<T>())};
    if (fifo_) {
      out.deduplication_id = options.idempotency_key;
    } else {
      // A standard queue has no MessageDeduplicationId (SQS refuses one):
      // the key travels as an attribute, for the consumer's store.
      out.delay = std::chrono::duration_cast<std::chrono::seconds>(options.delay);
      if (!options.idempotency_key.empty())
        out.message_attributes[event_id_attribute] = attribute{"String", options.idempotency_key};
    }
    if (options.track_delivery) {
      // The id the receipts will name: the key, else one of its own.
      const std::string id = options.idempotency_key.empty() ? aws::random_id() : options.idempotency_key;
      out.message_attributes[event_id_attribute] = attribute{"String", id};
      out.message_attributes[reply_to_attribute] = attribute{"String", options_.receipts->queue_url()};
      tracking =
          options_.receipts->track(id, options.receipt_timeout);  // before the send: no receipt comes first
    }
    put_trace(out, trace);
    return out;
  }

  // Calls hook of the tracer for one step of a received message. Only
  // with a tracer; never throws.
  using tracer_hook = void (message_tracer::*)(const message_span&);
  void trace_step(tracer_hook hook, messaging_operation operation, std::string_view operation_name,
                  const received_message& raw, std::exception_ptr error = {}) const noexcept {
    if (!options_.tracer) return;
    courier::detail::call_tracer([&] {
      trace_context carried = trace_of(raw);
      const message_span span{.operation = operation,
                              .operation_name = operation_name,
                              .system = "aws_sqs",
                              .destination = options_.name,
                              .message_id = raw.message_id,
                              .context = &carried,
                              .error = std::move(error)};
      (options_.tracer.get()->*hook)(span);
    });
  }

  // Runs handler on item; true when item should be acked (the handler
  // returned without settling it), false when it was settled or nacked.
  // With failure, what the handler threw is kept there (for the tracer).
  template <class Handler>
  bool handle_one(Handler& handler, delivery<T>& item, std::chrono::milliseconds lease,
                  const std::function<void(const std::string&, std::exception_ptr)>& on_error,
                  std::exception_ptr* failure = nullptr) {
    auto run = [&] {
      try {
        courier::detail::call_handler(handler, item);
      } catch (...) {
        if (failure != nullptr) *failure = std::current_exception();
        throw;
      }
    };
    return courier::detail::run_or_nack(
        [&] {
          if (!options_.applied) {
            run();
            return;
          }
          // The body is the payload a reused key is told apart by; the
          // lease is the visibility timeout, and follows item.extend().
          const std::string key = item.dedup_id();
          item.claimed_ = options_.applied.get();
          const auto outcome =
              options_.applied->apply_once({.key = key, .payload = item.raw().body, .lease = lease}, run);
          item.claimed_ = nullptr;
          if (outcome == apply_outcome::busy) {
            item.nack(std::chrono::seconds(1));  // another consumer has it: look again shortly
          }
        },
        item, on_error);
  }

  // How long a consumer's claim on a key lasts: the visibility timeout the
  // channel receives with, else the queue's own.
  std::chrono::milliseconds claim_lease() {
    return options_.visibility_timeout ? *options_.visibility_timeout
                                       : sqs_.visibility_timeout(options_.queue_url);
  }

  // The send_async() thread: takes up to 10 queued messages once the first
  // has waited send_linger (or at once when 10 are there) and sends them in
  // one request.
  void send_batches() {
    std::unique_lock lock(batch_mutex_);
    for (;;) {
      batch_ready_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      if (!stopping_) {
        batch_ready_.wait_for(lock, options_.send_linger,
                              [this] { return stopping_ || pending_.size() >= 10; });
      }
      const std::size_t count = std::min<std::size_t>(pending_.size(), 10);
      std::vector<pending_send> batch(
          std::make_move_iterator(pending_.begin()),
          std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(count)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
      lock.unlock();
      std::vector<outgoing_message> messages;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        messages.push_back(std::move(batch[i].message));
        messages.back().entry_id = std::to_string(i);
      }
      std::vector<bool> answered(batch.size(), false);
      auto answer = [&](const std::string& entry_id, auto&& fulfil) {
        const std::size_t i = entry_index(entry_id, batch.size());
        if (i < batch.size() && !answered[i]) {
          answered[i] = true;
          fulfil(batch[i].promise);
        }
      };
      std::exception_ptr failed_call;
      try {
        const auto result = sqs_.send_message_batch(options_.queue_url, messages);
        counters_.add(counters_.sent, result.successful.size());
        for (const auto& [id, what] : result.successful) {
          const std::size_t i = entry_index(id, batch.size());
          answer(id, [&](auto& p) { p.set_value(accepted(what, batch[i].tracking)); });
        }
        for (const auto& failure : result.failed) {
          answer(failure.entry_id, [&](auto& p) {
            p.set_exception(
                std::make_exception_ptr(error("SQS", "SendMessageBatch", failure.code, failure.message)));
          });
        }
      } catch (...) {
        failed_call = std::current_exception();
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (answered[i]) continue;  // every promise is answered exactly once
        batch[i].promise.set_exception(
            failed_call ? failed_call
                        : std::make_exception_ptr(error("SQS", "SendMessageBatch", "MalformedResponse",
                                                        "no result for this entry")));
      }
      lock.lock();
    }
  }

  // A batch entry id back to its index; count when it is not one of ours.
  static std::size_t entry_index(const std::string& id, std::size_t count) {
    std::size_t i = count;
    const auto [end, failure] = std::from_chars(id.data(), id.data() + id.size(), i);
    return failure == std::errc() && end == id.data() + id.size() && i < count ? i : count;
  }

  struct pending_send {
    outgoing_message message;
    std::promise<sent> promise;
    delivery_receipts tracking;
  };

  client& sqs_;
  channel_options options_;
  bool fifo_ = false;
  last_receive_check last_receive_{sqs_, options_.queue_url};

  std::mutex batch_mutex_;
  std::condition_variable batch_ready_;
  std::vector<pending_send> pending_;
  bool stopping_ = false;
  std::thread batcher_;  // started by the first send_async()

  // The Asio operations (courier/sqs/asio.hpp).
  detail::call_pool calls_{options_.async_threads};
  mutable std::mutex polls_mutex_;
  std::vector<std::atomic<bool>*> polls_;
  bool closing_ = false;
  const std::shared_ptr<courier::detail::channel_anchor> anchor_ =
      std::make_shared<courier::detail::channel_anchor>();

  detail::channel_counters counters_;
  metrics_registry::registration metrics_;  // last: removed first, before what its collector reads
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
