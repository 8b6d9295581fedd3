// courier::sqs::bus_feed: one SQS queue carrying several event types onto a
// bus.
//
// sqs::channel<T> reads one type; a queue that several producers share
// carries many (each message names its type in the "courier.type"
// attribute). A bus_feed is told which types it accepts, and publishes each
// message on the bus as an event of its type:
//
//   courier::sqs::bus_feed feed(sqs, queue_url, bus);
//   feed.accept<pickup>().accept<delivered>();
//   auto running = feed.start({.concurrency = 2});
//
// Each message is acked once every observer has returned; an observer's
// exception nacks it (it comes again, or the queue's redrive policy
// dead-letters it), and the later messages of its FIFO group wait for it.
// A message of a type not accepted, or that does not decode, goes to
// on_malformed and stays in the queue. With an idempotent store
// (apply_once_with), each dedup id is published once, redeliveries are
// acked unpublished: the exactly-once effect, across hosts with
// courier::dynamodb's store. A message whose sender asked for a delivery
// receipt is answered once acked, or once it fails its last receive
// (courier/sqs/receipts.hpp). Send into the queue with sqs::channel<E> for
// each type, courier::route, or an SNS topic (courier/sns/). Configure it
// (accept, apply_once_with, answer_as) before start(); after that it is
// read-only and thread-safe.
#pragma once

#include "courier/consumer.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/json/codec.hpp"
#include "courier/sqs/channel.hpp"
#include "courier/sqs/client.hpp"
#include "courier/sqs/detail/failure_pause.hpp"
#include "courier/sqs/receipts.hpp"
#include "courier/sqs/trace.hpp"
#include "courier/trace_scope.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

template <class Bus>
class bus_feed {
 public:
  // sqs and bus must outlive the feed and what start() returns.
  bus_feed(client& sqs, std::string queue_url, Bus& bus,
           std::function<void(const received_message&, const std::exception&)> on_malformed = {})
      : sqs_(sqs), queue_url_(std::move(queue_url)), bus_(bus), on_malformed_(std::move(on_malformed)) {
    if (!on_malformed_) {
      on_malformed_ = [](const received_message& m, const std::exception& e) {
        fmt::print(stderr, "courier: SQS message {} left in the queue: {}\n", m.message_id, e.what());
      };
    }
  }

  // The name this feed's receipts carry (courier/sqs/receipts.hpp);
  // default: the queue's name.
  bus_feed& answer_as(std::string consumer_name) {
    consumer_name_ = std::move(consumer_name);
    return *this;
  }

  // Publishes messages whose type attribute names E as E events.
  template <class E>
  bus_feed& accept() {
    publishers_[std::string(event_name<E>())] = [this](const std::string& body) {
      bus_.publish(json::decode<E>(body));
    };
    return *this;
  }

  // Publishes each message once per dedup id (MessageDeduplicationId, else
  // MessageId) through store, with the body as its payload and the queue's
  // visibility timeout as its lease. A message whose id another consumer is
  // applying comes back a second later.
  bus_feed& apply_once_with(std::shared_ptr<idempotent_store> store) {
    applied_ = std::move(store);
    return *this;
  }

  // Long-polls the queue on options.concurrency threads until the returned
  // consumer stops (within about a second). With a store, reads the
  // queue's visibility timeout first (throws courier::sqs::error).
  [[nodiscard]] consumer start(consume_options options = {}) {
    if (applied_) lease_ = sqs_.visibility_timeout(queue_url_);
    auto body = [this, options](const std::atomic<bool>& stop) {
      // Between receives that fail: a server that is down is not asked in a loop.
      detail::failure_pause pause;
      while (!stop.load(std::memory_order_acquire)) {
        std::vector<received_message> batch;
        try {
          batch = sqs_.receive_message(
              queue_url_, {.max_messages = static_cast<int>(std::clamp<std::size_t>(options.batch, 1, 10)),
                           .wait = std::chrono::seconds(20),
                           .visibility_timeout = {},
                           .receive_request_attempt_id = {},
                           .cancel = &stop});
          pause.after_success();
        } catch (const std::exception& e) {
          if (stop.load(std::memory_order_acquire)) break;
          const auto waited = pause.after_failure(stop);
          fmt::print(stderr, "courier: SQS bus feed receive failed (waited {} ms to try again): {}\n",
                     waited.count(), e.what());
          continue;
        }
        // As in sqs::channel::consume(): once a message of a FIFO group is
        // not acked, the later ones of its group in this receive go back
        // unpublished, or they would be observed before it.
        std::vector<std::string> held_groups;
        receipt_sender answers(sqs_, consumer_name());
        std::vector<receipt_entry> done;  // published: deleted together, after the receipts
        for (const auto& message : batch) {
          const std::string group = message.system_attribute("MessageGroupId");
          if (!group.empty() &&
              std::find(held_groups.begin(), held_groups.end(), group) != held_groups.end()) {
            nack(message);
          } else if (deliver(message)) {
            answers.add(message, delivery_outcome::acked);
            done.push_back({std::to_string(done.size()), message.receipt_handle, {}});
            continue;
          } else if (!group.empty()) {
            held_groups.push_back(group);
          }
          // Not acked on the last receive the redrive policy allows: SQS
          // dead-letters it at its next receive.
          if (!reply_to_of(message).empty() && last_receive_(message)) {
            answers.add(message, delivery_outcome::dead_lettered);
          }
        }
        // Receipts before the delete, as sqs::channel::consume() sends
        // them: a feed that dies between the two answers again when the
        // store turns the redelivery away; the other way round the receipt
        // would be lost.
        answers.flush();
        if (!done.empty()) acknowledge(done);
      }
    };
    return consumer(std::max<std::size_t>(options.concurrency, 1), std::move(body), [] {});
  }

 private:
  std::string consumer_name() const {
    return consumer_name_.empty() ? queue_name_of(queue_url_) : consumer_name_;
  }

  // Publishes message on the bus (through the store, with one): true when
  // it is to be acked, false when it was left in the queue (nacked, or
  // reported to on_malformed).
  bool deliver(const received_message& message) {
    const auto type = message.message_attributes.find(event_type_attribute);
    const auto publisher =
        type == message.message_attributes.end() ? publishers_.end() : publishers_.find(type->second.value);
    if (publisher == publishers_.end()) {
      on_malformed_(message, courier::error(errc::malformed_message,
                                            fmt::format("no accepted type named {}",
                                                        type == message.message_attributes.end()
                                                            ? std::string("(no courier.type attribute)")
                                                            : type->second.value)));
      return false;
    }
    // The message's trace is current while its event is on the bus: what
    // observers send or publish from it carries it on.
    const trace_context trace = trace_of(message);
    const trace_scope scope(trace);
    try {
      if (!applied_) {
        publisher->second(message.body);
      } else if (applied_->apply_once({.key = message.dedup_id(), .payload = message.body, .lease = lease_},
                                      [&] { publisher->second(message.body); }) == apply_outcome::busy) {
        nack(message, std::chrono::seconds(1));
        return false;
      }
    } catch (const courier::error& failure) {
      // Neither comes right by trying again: reported, left for the
      // queue's redrive policy.
      if (failure.code() == errc::malformed_message || failure.code() == errc::idempotency_key_reused) {
        on_malformed_(message, failure);
        return false;
      }
      nack(message);
      return false;
    } catch (...) {
      nack(message);  // an observer failed: the message comes again
      return false;
    }
    return true;
  }

  // Deletes what was published, in one DeleteMessageBatch. A delete that
  // fails leaves its message to come again: the store turns it away.
  void acknowledge(const std::vector<receipt_entry>& done) {
    try {
      for (const auto& failure : sqs_.delete_message_batch(queue_url_, done).failed) {
        fmt::print(stderr, "courier: SQS bus feed could not ack entry {}: {} {}\n", failure.entry_id,
                   failure.code, failure.message);
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "courier: SQS bus feed could not ack {} messages: {}\n", done.size(), e.what());
    }
  }

  void nack(const received_message& message, std::chrono::seconds delay = {}) {
    try {
      sqs_.change_message_visibility(queue_url_, message.receipt_handle, delay);
    } catch (const std::exception& e) {
      fmt::print(stderr, "courier: SQS bus feed could not nack {}: {}\n", message.message_id, e.what());
    }
  }

  client& sqs_;
  std::string queue_url_;
  Bus& bus_;
  std::function<void(const received_message&, const std::exception&)> on_malformed_;
  std::map<std::string, std::function<void(const std::string&)>> publishers_;
  std::shared_ptr<idempotent_store> applied_;
  std::chrono::milliseconds lease_{0};
  std::string consumer_name_;
  last_receive_check last_receive_{sqs_, queue_url_};
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
