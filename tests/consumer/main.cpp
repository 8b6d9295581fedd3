// A tiny program a user would write, built against courier as a package.
#include <courier/courier.hpp>

#include <fmt/format.h>

struct order_placed {
  int amount;
};

int main() {
  courier::bus bus;
  int orders = 0;
  int total = 0;
  auto subscription = bus.subscribe<order_placed>([&](const order_placed& order) {
    ++orders;
    total += order.amount;
  });
  bus.publish(order_placed{10});
  bus.post(order_placed{20});
  bus.post(order_placed{30});
  bus.drain();
  fmt::print("consumer: {} orders, total {}\n", orders, total);
  return orders == 3 && total == 60 ? 0 : 1;
}
