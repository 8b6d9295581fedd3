// The bus's single-thread rules, run over both threading policies.
#include "courier/bus.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using ::testing::ElementsAre;

struct order_placed {
  int id;
};
struct order_cancelled {
  int id;
};
struct move_only_event {
  std::unique_ptr<int> payload;
};

template <class Bus>
class bus_test : public ::testing::Test {
 protected:
  Bus bus_;
};

using policies =
    ::testing::Types<courier::bus, courier::bus_st, courier::snapshot_bus, courier::snapshot_bus_st>;
TYPED_TEST_SUITE(bus_test, policies);

TYPED_TEST(bus_test, publish_reaches_observers_of_that_type_only) {
  std::vector<int> placed;
  int cancelled = 0;
  auto a =
      this->bus_.template subscribe<order_placed>([&](const order_placed& e) { placed.push_back(e.id); });
  auto b = this->bus_.template subscribe<order_cancelled>([&](const order_cancelled&) { ++cancelled; });
  this->bus_.publish(order_placed{1});
  this->bus_.publish(order_placed{2});
  EXPECT_THAT(placed, ElementsAre(1, 2));
  EXPECT_EQ(cancelled, 0);
}

TYPED_TEST(bus_test, publish_without_observers_does_nothing) {
  this->bus_.publish(order_placed{1});
  EXPECT_FALSE(this->bus_.template has_observers<order_placed>());
}

TYPED_TEST(bus_test, observers_run_in_subscription_order) {
  std::vector<std::string> calls;
  auto a = this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("a"); });
  auto b = this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("b"); });
  auto c = this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("c"); });
  this->bus_.publish(order_placed{1});
  EXPECT_THAT(calls, ElementsAre("a", "b", "c"));
}

TYPED_TEST(bus_test, lower_priority_runs_first) {
  std::vector<std::string> calls;
  auto late = this->bus_.template subscribe<order_placed>(
      [&](const order_placed&) { calls.push_back("late"); }, {.priority = 10});
  auto normal =
      this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("normal"); });
  auto early = this->bus_.template subscribe<order_placed>(
      [&](const order_placed&) { calls.push_back("early"); }, {.priority = -10});
  this->bus_.publish(order_placed{1});
  EXPECT_THAT(calls, ElementsAre("early", "normal", "late"));
}

TYPED_TEST(bus_test, a_filter_passes_only_what_it_accepts) {
  std::vector<int> seen;
  auto sub = this->bus_.template subscribe<order_placed>(
      [&](const order_placed& e) { seen.push_back(e.id); },
      {.filter = [](const order_placed& e) { return e.id % 2 == 0; }});
  for (int id = 1; id <= 6; ++id) this->bus_.publish(order_placed{id});
  EXPECT_THAT(seen, ElementsAre(2, 4, 6));
}

TYPED_TEST(bus_test, destroying_the_subscription_stops_calls) {
  int calls = 0;
  {
    auto sub = this->bus_.template subscribe<order_placed>([&](const order_placed&) { ++calls; });
    this->bus_.publish(order_placed{1});
  }
  this->bus_.publish(order_placed{2});
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(this->bus_.template has_observers<order_placed>());
}

TYPED_TEST(bus_test, subscribing_inside_an_observer_takes_effect_next_publish) {
  std::vector<std::string> calls;
  courier::subscription added;
  auto first = this->bus_.template subscribe<order_placed>([&](const order_placed&) {
    calls.push_back("first");
    if (!added.connected()) {
      added =
          this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("added"); });
    }
  });
  this->bus_.publish(order_placed{1});
  EXPECT_THAT(calls, ElementsAre("first"));
  this->bus_.publish(order_placed{2});
  EXPECT_THAT(calls, ElementsAre("first", "first", "added"));
}

TYPED_TEST(bus_test, an_observer_may_disconnect_itself) {
  int calls = 0;
  courier::subscription self;
  self = this->bus_.template subscribe<order_placed>([&](const order_placed&) {
    ++calls;
    self.disconnect();
  });
  this->bus_.publish(order_placed{1});
  this->bus_.publish(order_placed{2});
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(self.connected());
}

TYPED_TEST(bus_test, disconnecting_a_later_observer_inside_a_publish_skips_it) {
  std::vector<std::string> calls;
  courier::subscription second;
  auto first = this->bus_.template subscribe<order_placed>([&](const order_placed&) {
    calls.push_back("first");
    second.disconnect();
  });
  second =
      this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("second"); });
  this->bus_.publish(order_placed{1});
  EXPECT_THAT(calls, ElementsAre("first"));
}

TYPED_TEST(bus_test, publishing_inside_an_observer_is_reentrant) {
  std::vector<std::string> calls;
  auto placed = this->bus_.template subscribe<order_placed>([&](const order_placed& e) {
    calls.push_back("placed " + std::to_string(e.id));
    if (e.id == 1) this->bus_.publish(order_cancelled{1});
  });
  auto cancelled = this->bus_.template subscribe<order_cancelled>([&](const order_cancelled& e) {
    calls.push_back("cancelled " + std::to_string(e.id));
    this->bus_.publish(order_placed{2});
  });
  this->bus_.publish(order_placed{1});
  EXPECT_THAT(calls, ElementsAre("placed 1", "cancelled 1", "placed 2"));
}

TYPED_TEST(bus_test, an_observer_exception_reaches_the_publisher_and_stops_the_rest) {
  std::vector<std::string> calls;
  auto a = this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("a"); });
  auto b = this->bus_.template subscribe<order_placed>([&](const order_placed&) {
    calls.push_back("b");
    throw std::runtime_error("b failed");
  });
  auto c = this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("c"); });
  EXPECT_THROW(this->bus_.publish(order_placed{1}), std::runtime_error);
  EXPECT_THAT(calls, ElementsAre("a", "b"));
  b.disconnect();
  this->bus_.publish(order_placed{2});  // the bus is still usable
  EXPECT_THAT(calls, ElementsAre("a", "b", "a", "c"));
}

struct order_book {
  std::vector<int>* seen;
  void on_placed(const order_placed& e) { seen->push_back(e.id); }
};

TYPED_TEST(bus_test, an_owner_tracked_observer_stops_when_the_owner_dies) {
  std::vector<int> seen;
  auto book = std::make_shared<order_book>(order_book{&seen});
  auto sub = this->bus_.subscribe(book, &order_book::on_placed);
  this->bus_.publish(order_placed{1});
  EXPECT_EQ(book.use_count(), 1) << "the bus must track the owner, not keep it";
  book.reset();
  this->bus_.publish(order_placed{2});
  EXPECT_THAT(seen, ElementsAre(1));
  EXPECT_FALSE(sub.connected());
}

TYPED_TEST(bus_test, an_owner_lives_until_the_call_that_uses_it_returns) {
  struct watched {
    explicit watched(bool* destroyed) : destroyed(destroyed) {}
    ~watched() { *destroyed = true; }
    bool* destroyed;
  };
  bool destroyed = false;
  bool destroyed_during_call = true;
  auto owner = std::make_shared<watched>(&destroyed);
  auto sub = this->bus_.template subscribe<order_placed>(
      [&](const order_placed&) {
        owner.reset();  // drop the last outside reference mid-call
        destroyed_during_call = destroyed;
      },
      {.owner = owner});
  this->bus_.publish(order_placed{1});
  EXPECT_FALSE(destroyed_during_call);
  EXPECT_TRUE(destroyed);
}

TYPED_TEST(bus_test, subscribe_all_sees_every_type_after_typed_observers) {
  std::vector<std::string> calls;
  auto typed =
      this->bus_.template subscribe<order_placed>([&](const order_placed&) { calls.push_back("typed"); });
  auto all = this->bus_.subscribe_all([&](const courier::event_ref& e) {
    if (const auto* placed = e.template get_if<order_placed>()) {
      calls.push_back("all placed " + std::to_string(placed->id));
    } else if (e.template is<order_cancelled>()) {
      calls.push_back("all cancelled");
    }
  });
  this->bus_.publish(order_placed{7});
  this->bus_.publish(order_cancelled{7});
  EXPECT_THAT(calls, ElementsAre("typed", "all placed 7", "all cancelled"));
}

TYPED_TEST(bus_test, subscribe_all_reports_type_names) {
  std::vector<std::string> names;
  auto all =
      this->bus_.subscribe_all([&](const courier::event_ref& e) { names.emplace_back(e.type_name()); });
  this->bus_.publish(order_cancelled{1});
  ASSERT_EQ(names.size(), 1U);
  EXPECT_NE(names[0].find("order_cancelled"), std::string::npos) << names[0];
}

TYPED_TEST(bus_test, move_only_events_can_be_published_and_posted) {
  int seen = 0;
  auto sub =
      this->bus_.template subscribe<move_only_event>([&](const move_only_event& e) { seen += *e.payload; });
  this->bus_.publish(move_only_event{std::make_unique<int>(2)});
  courier::basic_bus<typename TypeParam::threading_policy> manual(
      {.executor = courier::executor_kind::manual});
  auto manual_sub =
      manual.template subscribe<move_only_event>([&](const move_only_event& e) { seen += *e.payload; });
  manual.post(move_only_event{std::make_unique<int>(40)});
  EXPECT_EQ(manual.run_pending(), 1U);
  EXPECT_EQ(seen, 42);
}

TEST(bus_st, refuses_a_worker_thread) {
  try {
    courier::bus_st bus({.executor = courier::executor_kind::worker_thread});
    FAIL() << "a single-threaded bus accepted a worker thread";
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), courier::errc::invalid_option);
    EXPECT_NE(std::string(failure.what()).find("executor"), std::string::npos);
  }
}

}  // namespace
