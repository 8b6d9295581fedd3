// A tiny program a user would write, built against courier as a package:
// the bus from courier::core, a typed event as JSON from courier::json, the
// SQS client's configuration from courier::sqs, the DynamoDB client's from
// courier::dynamodb, a durable channel from courier::sqlite, and a WebSocket
// server from courier::ws.
#include <courier/courier.hpp>
#include <courier/dynamodb/idempotent_store.hpp>
#include <courier/json/codec.hpp>
#include <courier/sqlite/durable.hpp>
#include <courier/sqs/client.hpp>
#include <courier/ws/server.hpp>

#include <filesystem>

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
  {
    // Through a durable channel and back: kept in an SQLite file meanwhile.
    const auto file = std::filesystem::temp_directory_path() / "courier_consumer_orders.db";
    std::filesystem::remove(file);
    courier::channel<order_placed> orders_kept({.durable = courier::sqlite::durable<order_placed>(file)});
    orders_kept.send(order_placed{30});
    for (auto& kept : orders_kept.receive(1)) {
      bus.post(kept.message());
      kept.ack();
    }
  }
  bus.drain();
  // A WebSocket server for the same events (made, not started).
  courier::ws::server websocket(bus);
  websocket.topic<order_placed>("order.placed");
  const courier::sqs::client sqs({.settings = {.region = "eu-west-1", .keys = {"AKID", "secret"}}});
  const courier::dynamodb::client dynamo({.settings = {.region = "eu-west-1", .keys = {"AKID", "secret"}}});
  fmt::print("consumer: {} orders, total {}, SQS at {}, DynamoDB at {}\n", orders, total, sqs.settings().endpoint,
             dynamo.settings().endpoint);
  return orders == 3 && total == 60 ? 0 : 1;
}
