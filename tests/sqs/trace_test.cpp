// Trace context over SQS on moto: a traceparent and tracestate set on a
// send come out unchanged on the consumer side; a message that already has
// SQS's 10 attributes still sends, its trace in AWSTraceHeader; the X-Ray
// header conversion both ways; the tracer hooks with messaging_system
// aws_sqs. And through SNS: a publish's trace reaches a subscribed queue.
#include "courier/sqs/trace.hpp"

#include "courier/bus.hpp"
#include "courier/sns/publisher.hpp"
#include "courier/sns/subscribe_queue.hpp"
#include "courier/sqs/bus_feed.hpp"
#include "courier/sqs/channel.hpp"
#include "queue_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <vector>

struct waybill {
  int number;
};
BOOST_DESCRIBE_STRUCT(waybill, (), (number))

namespace {

using namespace std::chrono_literals;
using sqs_trace = courier_test::queue_fixture;

const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(aws_trace_header, a_w3c_traceparent_and_an_x_ray_header_convert_both_ways) {
  const std::string header = courier::sqs::aws_trace_header_of({parent, "congo=1"});
  EXPECT_EQ(header, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  EXPECT_EQ(courier::sqs::trace_of_aws_header(header), (courier::trace_context{parent, ""}))
      << "tracestate has no place in X-Ray's header";
  EXPECT_EQ(courier::sqs::trace_of_aws_header(
                "Sampled=0;Parent=00f067aa0ba902b7;Root=1-4bf92f35-77b34da6a3ce929d0e0e4736")
                .traceparent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  EXPECT_TRUE(courier::sqs::trace_of_aws_header("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736").empty())
      << "no Parent: nothing to continue";
  EXPECT_TRUE(courier::sqs::trace_of_aws_header("Root=garbage;Parent=00f067aa0ba902b7").empty());
  EXPECT_TRUE(courier::sqs::trace_of_aws_header("").empty());
}

TEST_F(sqs_trace, a_traceparent_set_on_a_send_comes_out_unchanged_on_the_consumer_side) {
  courier::sqs::channel<waybill> waybills(sqs, {.queue_url = queue(false)});
  waybills.send(waybill{1}, {.trace = {parent, "congo=t61rcWkgMzE"}});
  auto got = waybills.receive(1, 2s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].trace(), (courier::trace_context{parent, "congo=t61rcWkgMzE"}));
  EXPECT_EQ(got[0].raw().message_attributes.at("traceparent").value, parent)
      << "the attribute other tracers read";
  EXPECT_THROW(waybills.send(waybill{2}, {.trace = {"00-bad", ""}}), courier::error);
}

TEST_F(sqs_trace, with_ten_attributes_already_the_trace_goes_in_aws_trace_header) {
  const std::string url = queue(false);
  courier::sqs::outgoing_message full;
  full.body = R"({"number":7})";
  full.message_attributes[courier::sqs::event_type_attribute] = {"String", "waybill"};
  for (int i = 0; i < 9; ++i) full.message_attributes["app." + std::to_string(i)] = {"String", "x"};
  ASSERT_EQ(full.message_attributes.size(), 10u);
  courier::sqs::put_trace(full, {parent, "congo=t61rcWkgMzE"});
  EXPECT_EQ(full.message_attributes.size(), 10u) << "no room: the attributes are left as they were";
  sqs.send_message(url, full);  // SQS would refuse an 11th attribute

  courier::sqs::channel<waybill> waybills(sqs, {.queue_url = url});
  auto got = waybills.receive(1, 2s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message().number, 7);
  EXPECT_EQ(got[0].raw().system_attribute("AWSTraceHeader"),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  EXPECT_EQ(got[0].trace().traceparent, parent);
  EXPECT_EQ(got[0].raw().message_attributes.size(), 10u);
}

struct span_log : courier::message_tracer {
  std::vector<std::string> names;
  std::vector<std::string> systems;
  void on_send(courier::message_span& span) override { note(span); }
  void on_receive(const courier::message_span& span) override { note(span); }
  void on_settle(const courier::message_span& span) override { note(span); }
  void note(const courier::message_span& span) {
    names.push_back(span.name() + " " + span.context->traceparent);
    systems.emplace_back(span.system);
  }
};

TEST_F(sqs_trace, the_tracer_sees_send_receive_and_ack_as_aws_sqs) {
  auto tracer = std::make_shared<span_log>();
  const std::string url = queue(false);
  courier::sqs::channel<waybill> waybills(sqs, {.queue_url = url, .tracer = tracer});
  const std::string name = courier::sqs::queue_name_of(url);
  waybills.send(waybill{1}, {.trace = {parent, ""}});
  waybills.receive(1, 2s).at(0).ack();
  EXPECT_EQ(tracer->names,
            (std::vector<std::string>{"send " + name + " " + parent, "receive " + name + " " + parent,
                                      "ack " + name + " " + parent}));
  EXPECT_EQ(tracer->systems, (std::vector<std::string>(3, "aws_sqs")));
}

TEST_F(sqs_trace, a_trace_published_on_sns_reaches_a_subscribed_queue) {
  courier::sns::client sns(courier_test::fixture_options());
  const std::string topic = sns.create_topic("trace-topic");
  const auto subscription = courier::sns::subscribe_queue(sns, sqs, topic, "trace-subscriber");
  queues.push_back(subscription.queue_url);
  courier::sns::publisher publisher(sns, topic);
  publisher.publish(waybill{3}, {.trace = {parent, "congo=t61rcWkgMzE"}});
  courier::sqs::channel<waybill> subscriber(sqs, {.queue_url = subscription.queue_url});
  auto got = subscriber.receive(1, 5s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message().number, 3);
  EXPECT_EQ(got[0].trace(), (courier::trace_context{parent, "congo=t61rcWkgMzE"}));
  sns.delete_topic(topic);
}

TEST_F(sqs_trace, a_bus_feed_makes_each_messages_trace_current_while_its_event_is_on_the_bus) {
  const std::string url = queue(false);
  courier::sqs::channel<waybill> waybills(sqs, {.queue_url = url});
  waybills.send(waybill{4}, {.trace = {parent, ""}});
  courier::bus bus({.executor = courier::executor_kind::manual});
  std::promise<std::string> seen;
  std::atomic<bool> first{true};
  auto observer = bus.subscribe<waybill>([&](const waybill&) {
    if (first.exchange(false)) seen.set_value(courier::current_trace().traceparent);
  });
  courier::sqs::bus_feed feed(sqs, url, bus);
  feed.accept<waybill>();
  auto running = feed.start();
  auto traceparent = seen.get_future();
  ASSERT_EQ(traceparent.wait_for(10s), std::future_status::ready) << "the event never reached the bus";
  EXPECT_EQ(traceparent.get(), parent);
}

}  // namespace
