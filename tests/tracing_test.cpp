// Trace context on in-process channels: W3C traceparent/tracestate checked
// on send, carried unchanged to the consumer (and into the dead letters),
// and the tracer hooks called with the OpenTelemetry messaging span names
// and attributes at every step.
#include "courier/tracing.hpp"

#include "courier/channel.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(trace_context, w3c_traceparents_are_told_from_malformed_ones) {
  EXPECT_EQ(courier::traceparent_problem(parent), "");
  EXPECT_EQ(courier::traceparent_problem("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later"), "")
      << "a later version may add fields";
  const std::vector<std::string> malformed = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",     // short
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 with more
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    // separators
  };
  for (const auto& text : malformed) EXPECT_NE(courier::traceparent_problem(text), "") << text;
  EXPECT_NE(courier::tracestate_problem(std::string(513, 'a')), "");
  EXPECT_NE(courier::tracestate_problem("a=b\n"), "");
  // From a peer: kept when valid, the tracestate alone dropped when only it is bad, nothing otherwise.
  EXPECT_EQ(courier::accept_trace(parent, "congo=t61rcWkgMzE"),
            (courier::trace_context{parent, "congo=t61rcWkgMzE"}));
  EXPECT_EQ(courier::accept_trace(parent, std::string(600, 'x')), (courier::trace_context{parent, ""}));
  EXPECT_TRUE(courier::accept_trace("garbage", "congo=1").empty());
}

struct parcel {
  int number = 0;
};

TEST(channel_trace, a_traceparent_set_on_a_send_comes_out_unchanged_on_the_consumer_side) {
  for (const auto ordering : {courier::ordering::none, courier::ordering::fifo}) {
    courier::channel<parcel> parcels({.ordering = ordering});
    parcels.send(parcel{1}, {.group = "g1", .trace = {parent, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}});
    parcels.send(parcel{2}, {.group = "g2"});
    auto both = parcels.receive(2, 1s);
    ASSERT_EQ(both.size(), 2u);
    auto& traced = both[0].message().number == 1 ? both[0] : both[1];
    auto& plain = both[0].message().number == 1 ? both[1] : both[0];
    EXPECT_EQ(traced.trace().traceparent, parent);
    EXPECT_EQ(traced.trace().tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    EXPECT_TRUE(plain.trace().empty()) << "a message sent without one carries none";
    plain.ack();
    traced.nack();
    auto again = parcels.receive(1, 1s);  // a redelivery carries it too
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].receive_count(), 2u);
    EXPECT_EQ(again[0].trace().traceparent, parent);
  }
}

TEST(channel_trace, a_send_without_options_carries_the_trace_of_the_scope_it_is_made_in) {
  // send(message) skips building a send_options; it must still pass on the
  // thread's current trace, as send(message, {}) does.
  courier::channel<parcel> parcels;
  const courier::trace_context current{parent, "congo=1"};
  {
    const courier::trace_scope scope(current);
    parcels.send(parcel{1});
    ASSERT_TRUE(parcels.try_send(parcel{2}));
  }
  parcels.send(parcel{3});
  auto all = parcels.receive(3, 1s);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].trace(), current);
  EXPECT_EQ(all[1].trace(), current);
  EXPECT_TRUE(all[2].trace().empty()) << "sent after the scope ended";
}

TEST(channel_trace, a_dead_letter_keeps_its_trace) {
  courier::channel<parcel> parcels({.max_receives = 1});
  parcels.send(parcel{1}, {.trace = {parent, ""}});
  parcels.receive(1, 1s).at(0).nack();
  auto letters = parcels.dead_letters().receive(1, 1s);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].trace().traceparent, parent);
}

TEST(channel_trace, a_malformed_traceparent_is_refused_and_nothing_is_queued) {
  courier::channel<parcel> parcels;
  try {
    parcels.send(parcel{1}, {.trace = {"00-nope", ""}});
    ADD_FAILURE() << "sent";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::make_error_code(courier::errc::invalid_option));
    EXPECT_NE(std::string(e.what()).find("not a W3C traceparent"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parcels.send(parcel{1}, {.trace = {"", "congo=1"}}), courier::error) << "tracestate alone";
  EXPECT_EQ(parcels.stats().waiting, 0u);
}

// Records every hook call: the span's name, operation and attributes, and
// the context it saw. On send it starts a trace when the message has none.
struct recording_tracer : courier::message_tracer {
  struct call {
    std::string hook;
    std::string name;
    std::string traceparent;
    std::vector<std::pair<std::string, std::string>> attributes;
    bool error = false;
  };
  std::mutex mutex;
  std::vector<call> calls;
  bool throw_on_send = false;

  void record(const char* hook, const courier::message_span& span) {
    std::lock_guard lock(mutex);
    call made{
        hook, span.name(), span.context != nullptr ? span.context->traceparent : "", {}, bool(span.error)};
    for (const auto& [name, value] : span.attributes()) made.attributes.emplace_back(name, value);
    calls.push_back(std::move(made));
    recorded.notify_all();
  }
  // Whether count calls were made within timeout.
  bool wait_for_calls(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return recorded.wait_for(lock, timeout, [&] { return calls.size() >= count; });
  }
  std::condition_variable recorded;
  std::string attribute(std::size_t index, const std::string& name) {
    for (const auto& [key, value] : calls.at(index).attributes) {
      if (key == name) return value;
    }
    return "(none)";
  }

  void on_send(courier::message_span& span) override {
    if (span.context->empty()) span.context->traceparent = parent;  // the tracer's own span
    record("send", span);
    if (throw_on_send) throw std::runtime_error("the tracer is broken");
  }
  void on_receive(const courier::message_span& span) override { record("receive", span); }
  void on_process_start(const courier::message_span& span) override { record("process_start", span); }
  void on_process_end(const courier::message_span& span) override { record("process_end", span); }
  void on_settle(const courier::message_span& span) override { record("settle", span); }
};

TEST(channel_trace, the_tracer_sees_each_step_with_the_conventions_names_and_attributes) {
  auto tracer = std::make_shared<recording_tracer>();
  courier::channel<parcel> orders({.name = "orders", .tracer = tracer});
  const auto sent = orders.send(parcel{1});
  auto taken = orders.receive(1, 1s);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].trace().traceparent, parent) << "the context on_send wrote is what the message carries";
  taken[0].ack();
  orders.send(parcel{2});
  orders.receive(1, 1s).at(0).nack();

  ASSERT_EQ(tracer->calls.size(), 6u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"send", "send orders"}, {"receive", "receive orders"}, {"settle", "ack orders"},
      {"send", "send orders"}, {"receive", "receive orders"}, {"settle", "nack orders"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(tracer->calls[i].hook, expected[i].first) << i;
    EXPECT_EQ(tracer->calls[i].name, expected[i].second) << i;
    EXPECT_EQ(tracer->calls[i].traceparent, parent) << i;
    EXPECT_EQ(tracer->attribute(i, "messaging.system"), "courier") << i;
    EXPECT_EQ(tracer->attribute(i, "messaging.destination.name"), "orders") << i;
  }
  EXPECT_EQ(tracer->attribute(0, "messaging.operation.type"), "send");
  EXPECT_EQ(tracer->attribute(0, "messaging.message.id"), "(none)") << "not known before the send";
  EXPECT_EQ(tracer->attribute(1, "messaging.operation.type"), "receive");
  EXPECT_EQ(tracer->attribute(1, "messaging.message.id"), std::to_string(sent.id.value));
  EXPECT_EQ(tracer->attribute(2, "messaging.operation.type"), "settle");
  EXPECT_EQ(tracer->attribute(2, "messaging.operation.name"), "ack");
  EXPECT_EQ(tracer->attribute(5, "messaging.operation.name"), "nack");
}

TEST(channel_trace, consume_reports_process_start_and_end_around_the_handler_with_its_failure) {
  auto tracer = std::make_shared<recording_tracer>();
  courier::channel<parcel> orders({.name = "orders", .tracer = tracer});
  orders.send(parcel{1});
  orders.send(parcel{2});
  std::atomic<int> calls{0};
  {
    auto consumer = orders.consume(
        [&](const parcel& p) {
          ++calls;
          if (p.number == 2) throw std::runtime_error("no van");
        },
        {}, [](courier::message_id, std::exception_ptr) {});
    // Two sends, two receives, then start, settle and end for each.
    ASSERT_TRUE(tracer->wait_for_calls(2 + 2 + 2 * 3, 10s));
  }
  std::vector<std::string> hooks;
  for (const auto& each : tracer->calls)
    hooks.push_back(each.hook + ":" + each.name + (each.error ? "!" : ""));
  const std::vector<std::string> expected = {"send:send orders",
                                             "send:send orders",
                                             "receive:receive orders",
                                             "receive:receive orders",
                                             "process_start:process orders",
                                             "settle:ack orders",
                                             "process_end:process orders",
                                             "process_start:process orders",
                                             "settle:nack orders",
                                             "process_end:process orders!"};
  EXPECT_EQ(std::vector<std::string>(hooks.begin(), hooks.begin() + 10), expected);
}

TEST(channel_trace, a_tracer_that_throws_changes_nothing) {
  auto tracer = std::make_shared<recording_tracer>();
  tracer->throw_on_send = true;
  courier::channel<parcel> orders({.name = "orders", .tracer = tracer});
  EXPECT_NO_THROW(orders.send(parcel{1}));
  EXPECT_EQ(orders.receive(1, 1s).size(), 1u);
}

}  // namespace
