// How a client's publish reaches the bus (internal to courier::ws::server):
// one publisher per topic open to publishing. A publish is decoded as the
// topic's event type and sent into the topic's courier::channel, which
// deduplicates retried keys and keeps FIFO groups in order; one consumer
// thread takes each accepted message and publishes it on the bus. The
// server's own observer of the topic then asks origin_of() whether the
// event it sees is that message: if so it goes out to the sessions under
// the receipt's id and with the publish's group, otherwise (the
// application's events, or one an observer publishes meanwhile) under a new
// id. A header only because it is a template over the event type.
#pragma once

#include "courier/bus.hpp"
#include "courier/channel.hpp"
#include "courier/event_name.hpp"
#include "courier/ws/frames.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <variant>

namespace courier {
inline namespace v1 {
namespace ws::detail {

// A registered topic's publisher as the server sees it, whatever its event type.
class topic_base {
 public:
  virtual ~topic_base() = default;
  // Decodes and sends a client's publish into the topic's channel.
  virtual std::variant<receipt_frame, error_frame> publish(const publish_frame& frame) = 0;
  // Starts moving accepted publishes onto the bus. Called once by the server.
  virtual void start() = 0;
  virtual void stop() = 0;
};

// A client's publish as its event shows it: the receipt's id and the
// publish's group.
struct client_origin {
  std::string id;
  std::optional<std::string> group;
};

template <class E>
class topic_publisher final : public topic_base {
 public:
  struct settings {
    std::string name;       // the topic
    std::string id_prefix;  // message ids are this and the channel's id
    bool fifo = false;
    std::size_t capacity = 0;
    std::chrono::milliseconds dedup_window{};
  };

  topic_publisher(courier::bus& bus, settings chosen)
      : bus_(bus),
        settings_(std::move(chosen)),
        channel_(channel_options<E>{
            .ordering = settings_.fifo ? ordering::fifo : ordering::none,
            .dedup_window = settings_.dedup_window,
            .capacity = settings_.capacity,
        }) {}

  std::variant<receipt_frame, error_frame> publish(const publish_frame& frame) override {
    auto decoded = boost::json::try_value_to<E>(frame.data);
    if (!decoded) {
      return make_error(error_code::invalid_data,
                        "data does not decode as " + settings_.name + ": " + decoded.error().message(),
                        frame.ref);
    }
    if (settings_.fifo && !frame.group) {
      auto error = make_error(error_code::missing_group, settings_.name + " is FIFO: a publish needs a group",
                              frame.ref);
      error.field = "group";
      return error;
    }
    // The group travels with the message on any topic (a standard channel
    // keeps it as a label), so its event carries it.
    // The publish's trace goes with it to the bus (consume() makes it the
    // current one around the publish), and on to subscribers' event frames.
    const auto sent = channel_.try_send(
        std::move(*decoded),
        {.group = frame.group.value_or(""),
         .idempotency_key = frame.key.value_or(""),
         .trace = accept_trace(frame.traceparent.value_or(""), frame.tracestate.value_or(""))});
    if (!sent) {
      return make_error(error_code::busy,
                        settings_.name + ": too many publishes waiting; retry with the same key", frame.ref);
    }
    return receipt_frame{
        .id = id_of(sent->id.value), .duplicate = sent->duplicate, .key = frame.key, .ref = frame.ref};
  }

  void start() override {
    // One consumer thread: one client message on the bus at a time.
    running_ = channel_.consume([this](delivery<E>& item) {
      origin_ = {id_of(item.id().value),
                 item.group().empty() ? std::nullopt : std::optional<std::string>(item.group())};
      publishing_.store(&item.message(), std::memory_order_release);
      try {
        bus_.publish(item.message());
      } catch (...) {
        // An application observer threw. The event must not come again
        // (that would repeat it for every other observer): the exception
        // goes to the bus's error handler, as for a posted event.
        bus_.report_error(event_name<E>(), std::current_exception());
      }
      publishing_.store(nullptr, std::memory_order_release);
    });
  }
  void stop() override { running_.stop(); }

  // The origin of event if it is the very object this publisher is putting
  // on the bus, and only the first time it is asked: the topic's observer
  // asks once per call, so an observer that publishes this object again gets
  // a new id. publish() hands the observers the caller's object, and while it
  // lives no other object has its address. Thread-safe.
  const client_origin* origin_of(const E& event) {
    const E* expected = &event;
    if (publishing_.load(std::memory_order_acquire) != expected) return nullptr;  // the common case
    if (!publishing_.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) return nullptr;
    return &origin_;  // written by this thread (the consumer's) before publish
  }

 private:
  std::string id_of(std::uint64_t message) const { return settings_.id_prefix + std::to_string(message); }

  courier::bus& bus_;
  const settings settings_;
  channel<E> channel_;
  client_origin origin_;                       // of the message being published
  std::atomic<const E*> publishing_{nullptr};  // that message, until its event is out
  consumer running_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
