// courier::sqs::channel<T>: a typed channel whose messages live in an Amazon
// SQS queue, used like courier::channel<T>.
//
// The same calls as the in-process channel, mapped onto SQS:
//   send(m, {.group, .idempotency_key, .delay})  SendMessage: MessageGroupId,
//                                                MessageDeduplicationId, DelaySeconds
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
// - No sender delivery receipts: a sender cannot see a consumer's delete in
//   another process. send_options::track_delivery is refused.
// - A message that does not decode (not JSON, another type, missing
//   members) is reported to on_malformed and left in the queue: the queue's
//   redrive policy moves it to its dead-letter queue. Nothing is deleted
//   unread.
// Thread-safe.
#pragma once

#include "courier/channel_options.hpp"
#include "courier/consumer.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/json/codec.hpp"
#include "courier/sqs/client.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

struct channel_options {
  std::string queue_url = {};
  // Given to each receive; empty: the queue's own VisibilityTimeout.
  std::optional<std::chrono::seconds> visibility_timeout = {};
  // consume(): applies each message's dedup id once (MessageDeduplicationId
  // on FIFO queues, else the MessageId). Empty: at-least-once.
  std::shared_ptr<idempotent_store> applied = {};
  // A message that does not decode; default: a line on stderr.
  std::function<void(const received_message&, const std::exception&)> on_malformed = {};
};

// What SQS said about an accepted send.
struct sent {
  std::string message_id = {};
  std::string sequence = {};  // FIFO queues
};

// Names one delivery: the SQS receipt handle of one receive.
struct sqs_receipt {
  std::string message_id = {};
  std::string handle = {};
};

template <class T>
class channel;

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
  // The key the consumer-side store uses: the dedup id, or the message id.
  std::string dedup_id() const {
    std::string id = raw_.system_attribute("MessageDeduplicationId");
    return id.empty() ? raw_.message_id : id;
  }
  int receive_count() const { return raw_.receive_count(); }
  sqs_receipt receipt() const { return {raw_.message_id, raw_.receipt_handle}; }
  const received_message& raw() const noexcept { return raw_; }

  void ack() {
    origin_->ack(receipt());
    settled_ = true;
  }
  void nack(std::chrono::seconds delay = {}) {
    origin_->nack(receipt(), delay);
    settled_ = true;
  }
  void extend(std::chrono::seconds visibility) { origin_->extend(receipt(), visibility); }
  // No ack, no nack: the message comes again after its visibility timeout.
  void let_expire() noexcept { settled_ = true; }
  bool settled() const noexcept { return settled_; }

 private:
  channel<T>* origin_;
  T message_;
  received_message raw_;
  bool settled_ = false;
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
  static constexpr const char* type_attribute = "courier.type";

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
  }

  // Sends message; returns once SQS accepted it. Throws courier::error
  // (missing_group on a FIFO queue without a group; invalid_option for
  // track_delivery) or courier::sqs::error.
  sent send(const T& message, const send_options& options = {}) {
    const auto result = sqs_.send_message(options_.queue_url, outgoing(message, options));
    return {result.message_id, result.sequence_number};
  }

  // Up to max messages of type T (SQS returns at most 10 per call), waiting
  // up to wait (long poll, at most 20 s) for the first. Messages that do not
  // decode go to on_malformed and stay in the queue.
  std::vector<delivery<T>> receive(std::size_t max = 1, std::chrono::seconds wait = {},
                                   const std::atomic<bool>* cancel = nullptr) {
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
        out.emplace_back(*this, std::move(message), std::move(raw));
      } catch (const courier::error& failure) {
        options_.on_malformed(raw, failure);
      }
    }
    return out;
  }

  void ack(const sqs_receipt& handle) { sqs_.delete_message(options_.queue_url, handle.handle); }

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
      for (const auto& failure : done.failed) {
        result.failed.emplace_back(handles[std::stoul(failure.entry_id)], failure);
      }
    }
    return result;
  }

  // Gives the message back: visible again after delay.
  void nack(const sqs_receipt& handle, std::chrono::seconds delay = {}) {
    sqs_.change_message_visibility(options_.queue_url, handle.handle, delay);
  }

  void extend(const sqs_receipt& handle, std::chrono::seconds visibility) {
    sqs_.change_message_visibility(options_.queue_url, handle.handle, visibility);
  }

  // Runs handler on options.concurrency threads, each long-polling SQS,
  // until the returned consumer is stopped (within about a second, polls in
  // progress abandoned). Returning acks, throwing nacks (visible again at
  // once); errors go to on_error. With channel_options::applied, a message
  // whose dedup id was applied before is acked without running handler, and
  // one being applied by another thread is nacked with a short delay.
  template <class Handler>
  [[nodiscard]] consumer consume(Handler handler, consume_options options = {},
                                 std::function<void(const std::string&, std::exception_ptr)> on_error = {}) {
    if (!on_error) {
      on_error = [](const std::string& id, std::exception_ptr failure) {
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          fmt::print(stderr, "courier: SQS consumer of {}: {}\n", id, e.what());
        } catch (...) {
          fmt::print(stderr, "courier: SQS consumer of {}: an unknown exception\n", id);
        }
      };
    }
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto body = [this, shared, options, on_error](const std::atomic<bool>& stop) {
      while (!stop.load(std::memory_order_acquire)) {
        std::vector<delivery<T>> batch;
        try {
          batch = receive(options.batch, std::chrono::seconds(20), &stop);
        } catch (...) {
          on_error("(receive)", std::current_exception());
          continue;
        }
        for (auto& item : batch) handle_one(*shared, item, on_error);
      }
    };
    return consumer(std::max<std::size_t>(options.concurrency, 1), std::move(body), [] {});
  }

  const channel_options& options() const noexcept { return options_; }

 private:
  outgoing_message outgoing(const T& message, const send_options& options) const {
    if (options.track_delivery) {
      throw courier::error(
          errc::invalid_option,
          "sqs::channel: track_delivery is not available over SQS (a sender cannot see another "
          "process's delete); use an acknowledgement event on a bus or another queue");
    }
    if (fifo_ && options.group.empty()) {
      throw courier::error(errc::missing_group,
                           "sqs::channel::send() on a FIFO queue: send_options::group is empty");
    }
    outgoing_message out;
    out.body = json::encode(message);
    out.group_id = options.group;
    out.deduplication_id = options.idempotency_key;
    if (!fifo_) out.delay = std::chrono::duration_cast<std::chrono::seconds>(options.delay);
    out.message_attributes[type_attribute] = attribute{"String", std::string(event_name<T>())};
    return out;
  }

  template <class Handler>
  void handle_one(Handler& handler, delivery<T>& item,
                  const std::function<void(const std::string&, std::exception_ptr)>& on_error) {
    try {
      if (options_.applied) {
        const auto outcome = options_.applied->apply_once(item.dedup_id(), [&] { run(handler, item); });
        if (outcome == apply_outcome::busy) {
          item.nack(std::chrono::seconds(1));  // another thread has it: look again shortly
          return;
        }
      } else {
        run(handler, item);
      }
    } catch (...) {
      on_error(item.id(), std::current_exception());
      if (!item.settled()) {
        try {
          item.nack();
        } catch (...) {
          on_error(item.id(), std::current_exception());
        }
      }
      return;
    }
    if (item.settled()) return;
    try {
      item.ack();
    } catch (...) {
      on_error(item.id(), std::current_exception());
    }
  }

  template <class Handler>
  static void run(Handler& handler, delivery<T>& item) {
    if constexpr (std::invocable<Handler&, delivery<T>&>) {
      handler(item);
    } else {
      handler(std::as_const(item).message());
    }
  }

  client& sqs_;
  channel_options options_;
  bool fifo_ = false;
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
