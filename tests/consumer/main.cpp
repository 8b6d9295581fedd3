// A tiny program a user would write, built against courier as a package:
// the bus from courier::core, a typed event as JSON from courier::json, and
// the SQS client's configuration from courier::sqs.
#include <courier/courier.hpp>
#include <courier/json/codec.hpp>
#include <courier/sqs/client.hpp>

#include <fmt/format.h>

struct order_placed {
  int amount;
};
BOOST_DESCRIBE_STRUCT(order_placed, (), (amount))

int main() {
  courier::bus bus;
  int orders = 0;
  int total = 0;
  auto subscription = bus.subscribe<order_placed>([&](const order_placed& order) {
    ++orders;
    total += order.amount;
  });
  bus.publish(order_placed{10});
  bus.post(courier::json::decode<order_placed>(courier::json::encode(order_placed{20})));
  bus.post(order_placed{30});
  bus.drain();
  const courier::sqs::client sqs({.settings = {.region = "eu-west-1", .keys = {"AKID", "secret"}}});
  fmt::print("consumer: {} orders, total {}, SQS at {}\n", orders, total, sqs.settings().endpoint);
  return orders == 3 && total == 60 ? 0 : 1;
}
