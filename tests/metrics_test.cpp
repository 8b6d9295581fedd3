// courier/metrics.hpp and courier/prometheus.hpp: the registry, the text
// exposition, and a channel's figures after a scripted run (exact counts,
// promtool accepting the exposition).
#include "courier/metrics.hpp"

#include "courier/bus.hpp"
#include "courier/channel.hpp"
#include "courier/prometheus.hpp"
#include "metric_samples.hpp"
#include "promtool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using courier_test::value_of;

TEST(metrics_registry, reads_every_collector_merging_families_by_name_until_its_registration_ends) {
  courier::metrics_registry registry;
  auto report = [](const char* who, double value) {
    return [who, value](courier::metric_set& out) {
      out.add("jobs_total", courier::metric_type::counter, "Jobs.",
              {.labels = {{"who", who}}, .value = value});
    };
  };
  auto first = registry.add(report("a", 1));
  {
    auto second = registry.add(report("b", 2));
    const auto both = registry.read();
    ASSERT_EQ(both.families().size(), 1u);
    EXPECT_EQ(both.families()[0].samples.size(), 2u);
  }
  const auto one = registry.read();
  ASSERT_EQ(one.families().size(), 1u);
  ASSERT_EQ(one.families()[0].samples.size(), 1u);
  EXPECT_EQ(one.families()[0].samples[0].value, 1);
  courier::metrics_registry::registration moved = std::move(first);
  EXPECT_EQ(registry.read().families().size(), 1u) << "a moved registration still holds its collector";
  moved.reset();
  EXPECT_TRUE(registry.read().families().empty());
}

TEST(prometheus, renders_help_type_escaped_labels_and_histograms) {
  courier::metric_set metrics;
  metrics.add("jobs_total", courier::metric_type::counter, "Jobs done.\nAll of them.",
              {.labels = {{"queue", "a\"b\\c\nd"}}, .value = 3});
  metrics.add("job_duration_seconds", courier::metric_type::histogram, "How long a job took.",
              {.labels = {{"queue", "q"}}, .buckets = {{0.1, 2}, {1, 5}}, .sum = 2.5, .count = 6});
  EXPECT_EQ(courier::render_prometheus(metrics),
            "# HELP jobs_total Jobs done.\\nAll of them.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total{queue=\"a\\\"b\\\\c\\nd\"} 3\n"
            "# HELP job_duration_seconds How long a job took.\n"
            "# TYPE job_duration_seconds histogram\n"
            "job_duration_seconds_bucket{queue=\"q\",le=\"0.1\"} 2\n"
            "job_duration_seconds_bucket{queue=\"q\",le=\"1\"} 5\n"
            "job_duration_seconds_bucket{queue=\"q\",le=\"+Inf\"} 6\n"
            "job_duration_seconds_sum{queue=\"q\"} 2.5\n"
            "job_duration_seconds_count{queue=\"q\"} 6\n");
  const auto [status, said] = courier_test::promtool_check(courier::render_prometheus(metrics));
  EXPECT_EQ(status, 0) << said;
}

struct parcel {
  int number = 0;
};

TEST(channel_metrics, count_exactly_what_a_scripted_run_did) {
  auto registry = std::make_shared<courier::metrics_registry>();
  auto clock = std::make_shared<courier::manual_clock>();
  courier::channel<parcel> orders({.ordering = courier::ordering::fifo,
                                   .visibility_timeout = 30s,
                                   .max_receives = 2,
                                   .time_source = clock,
                                   .metrics = registry,
                                   .name = "orders"});
  for (int n = 1; n <= 5; ++n) {
    orders.send(parcel{n}, {.group = n % 2 == 1 ? "odd" : "even", .idempotency_key = std::to_string(n)});
  }
  orders.send(parcel{1}, {.group = "odd", .idempotency_key = "1"});  // a duplicate
  auto first = orders.receive(10);  // the heads of both groups: 1 (odd), 2 (even)
  ASSERT_EQ(first.size(), 2u);
  first[0].ack();
  first[1].nack();
  auto second = orders.receive(10);  // 3 (odd) and 2 again (even, its 2nd receive)
  ASSERT_EQ(second.size(), 2u);
  clock->advance(
      31s);  // both expire: 3 comes back, 2 is dead-lettered (max_receives 2), 4 is next in its group
  clock->advance(5s);  // 3, first in line, was sent 36 s ago

  const auto metrics = registry->read();
  auto value = [&](const char* name) { return value_of(metrics, name, "orders"); };
  EXPECT_EQ(value("messaging_client_sent_messages_total"), 5);
  EXPECT_EQ(value("courier_channel_duplicate_sends_total"), 1);
  EXPECT_EQ(value("messaging_client_consumed_messages_total"), 4);
  EXPECT_EQ(value("courier_channel_redeliveries_total"), 1);
  EXPECT_EQ(value("courier_channel_acked_total"), 1);
  EXPECT_EQ(value("courier_channel_nacked_total"), 1);
  EXPECT_EQ(value("courier_channel_visibility_expired_total"), 2);
  EXPECT_EQ(value("courier_channel_dead_lettered_total"), 1);
  EXPECT_EQ(value("courier_channel_messages"), 3);  // 3, 4, 5
  EXPECT_EQ(value("courier_channel_messages_in_flight"), 0);
  EXPECT_EQ(value("courier_channel_groups"), 2);
  EXPECT_EQ(value("courier_channel_groups_in_flight"), 0);
  EXPECT_EQ(value("courier_channel_oldest_ready_age_seconds"), 36);
}

TEST(latency_histogram, a_bound_belongs_to_its_own_bucket_and_buckets_render_cumulative) {
  courier::latency_histogram histogram;
  histogram.record(5ms);     // le 0.005
  histogram.record(5001us);  // le 0.01
  histogram.record(-1ms);    // a clock step back counts as 0
  histogram.record(11s);     // above every bound: only +Inf
  EXPECT_EQ(histogram.counts[0], 2u);
  EXPECT_EQ(histogram.counts[1], 1u);
  EXPECT_EQ(histogram.counts.back(), 1u);
  const auto sample = histogram.sample({});
  EXPECT_EQ(sample.count, 4u);
  EXPECT_EQ(sample.buckets.front(), (std::pair<double, std::uint64_t>{0.005, 2}));
  EXPECT_EQ(sample.buckets[1].second, 3u);
  EXPECT_EQ(sample.buckets.back(), (std::pair<double, std::uint64_t>{10.0, 3}));
  EXPECT_DOUBLE_EQ(sample.sum, 0.005 + 0.005001 + 11);
}

TEST(channel_metrics, send_to_ack_is_measured_by_the_channels_clock) {
  auto registry = std::make_shared<courier::metrics_registry>();
  auto clock = std::make_shared<courier::manual_clock>();
  courier::channel<parcel> orders({.time_source = clock, .metrics = registry, .name = "orders"});
  for (int n = 0; n < 3; ++n) orders.send(parcel{n});
  auto taken = orders.receive(3);
  ASSERT_EQ(taken.size(), 3u);
  taken[0].ack();  // at once: le 0.005
  clock->advance(30ms);
  taken[1].ack();  // le 0.05
  clock->advance(1970ms);
  taken[2].nack();  // not an ack: not measured
  const auto sample = courier_test::sample_of(registry->read(), "courier_channel_send_to_ack_seconds",
                                              "messaging_destination_name", "orders");
  EXPECT_EQ(sample.count, 2u);
  EXPECT_DOUBLE_EQ(sample.sum, 0.030);
  EXPECT_EQ(sample.buckets[0].second, 1u);  // le 0.005
  EXPECT_EQ(sample.buckets[2].second, 1u);  // le 0.025: the 30 ms ack is above it
  EXPECT_EQ(sample.buckets[3].second, 2u);  // le 0.05
}

TEST(channel_metrics, consume_times_each_handler_call) {
  auto registry = std::make_shared<courier::metrics_registry>();
  courier::channel<parcel> orders({.metrics = registry, .name = "orders"});
  for (int n = 0; n < 3; ++n) orders.send(parcel{n});
  std::atomic<int> handled{0};
  std::promise<void> third;
  {
    auto consumer = orders.consume([&](const parcel&) {
      std::this_thread::sleep_for(20ms);  // the work being timed
      if (++handled == 3) third.set_value();
    });
    ASSERT_EQ(third.get_future().wait_for(10s), std::future_status::ready);
  }  // stopping joins the thread after it recorded the third call; its counts stay in the total
  const auto sample = courier_test::sample_of(registry->read(), "messaging_process_duration_seconds",
                                              "messaging_destination_name", "orders");
  EXPECT_EQ(sample.count, 3u);
  EXPECT_GE(sample.sum, 0.060);
  EXPECT_EQ(sample.buckets[1].second, 0u) << "each call slept 20 ms: none is at most 10 ms";
}

TEST(channel_metrics, promtool_accepts_the_exposition_of_several_channels) {
  auto registry = std::make_shared<courier::metrics_registry>();
  courier::channel<parcel> orders(
      {.ordering = courier::ordering::fifo, .metrics = registry, .name = "orders"});
  courier::channel<parcel> mail({.metrics = registry, .name = "mail \"express\""});
  orders.send(parcel{1}, {.group = "g"});
  mail.send(parcel{2});
  const std::string text = courier::render_prometheus(registry->read());
  EXPECT_NE(text.find("messaging_client_sent_messages_total{messaging_system=\"courier\","
                      "messaging_destination_name=\"orders\"} 1"),
            std::string::npos)
      << text;
  const auto [status, said] = courier_test::promtool_check(text);
  EXPECT_EQ(status, 0) << said << "\n" << text;
}

TEST(channel_metrics, a_destroyed_channel_is_no_longer_reported_and_a_name_is_required) {
  auto registry = std::make_shared<courier::metrics_registry>();
  {
    courier::channel<parcel> orders({.metrics = registry, .name = "orders"});
    EXPECT_FALSE(registry->read().families().empty());
  }
  EXPECT_TRUE(registry->read().families().empty());
  try {
    courier::channel<parcel> unnamed({.metrics = registry});
    ADD_FAILURE() << "a channel with metrics and no name was made";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::make_error_code(courier::errc::invalid_option));
  }
}

struct order_placed {
  int number = 0;
};
struct order_shipped {};

TEST(bus_metrics, count_the_async_path_and_the_observers_per_type) {
  auto registry = std::make_shared<courier::metrics_registry>();
  std::vector<std::string> errors;
  courier::bus events({.executor = courier::executor_kind::manual,
                       .on_error = [&](const courier::async_error& e) { errors.emplace_back(e.event_type); },
                       .metrics = registry,
                       .name = "app"});
  auto placed = events.subscribe<order_placed>([](const order_placed& e) {
    if (e.number == 3) throw std::runtime_error("no stock");
  });
  auto shipped_a = events.subscribe<order_shipped>([](const order_shipped&) {});
  auto shipped_b = events.subscribe<order_shipped>([](const order_shipped&) {});
  for (int n = 1; n <= 5; ++n) events.post(order_placed{n});
  events.publish(order_shipped{});  // publish() is not counted

  auto metrics = registry->read();
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_bus_posted_events_total").value, 5);
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_bus_pending_events").value, 5);
  EXPECT_EQ(events.run_pending(), 5u);
  metrics = registry->read();
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_bus_handled_events_total").value, 5);
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_bus_pending_events").value, 0);
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_bus_observer_errors_total").value, 1);
  EXPECT_EQ(errors.size(), 1u);
  auto observers = [](const courier::metric_set& read, std::string_view type) {
    return courier_test::sample_of(read, "courier_bus_observers", "event_type", std::string(type)).value;
  };
  EXPECT_EQ(observers(metrics, courier::event_name<order_placed>()), 1);
  EXPECT_EQ(observers(metrics, courier::event_name<order_shipped>()), 2);
  EXPECT_EQ(observers(metrics, "*"), 0);
  shipped_b.disconnect();
  EXPECT_EQ(observers(registry->read(), courier::event_name<order_shipped>()), 1);
  const auto [status, said] = courier_test::promtool_check(courier::render_prometheus(registry->read()));
  EXPECT_EQ(status, 0) << said;
}

TEST(bus_metrics, a_single_threaded_bus_or_a_nameless_one_refuses_a_registry) {
  auto registry = std::make_shared<courier::metrics_registry>();
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (attempt == 0) {
        courier::bus_st events({.metrics = registry, .name = "ui"});
      } else {
        courier::bus events({.metrics = registry});
      }
      ADD_FAILURE() << "attempt " << attempt << " made a bus";
    } catch (const courier::error& e) {
      EXPECT_EQ(e.code(), courier::make_error_code(courier::errc::invalid_option)) << e.what();
    }
  }
  EXPECT_TRUE(registry->read().families().empty());
}

}  // namespace
