// Subscribe to an event type, publish it, and let the subscription end it.
#include <courier/bus.hpp>

#include <fmt/format.h>

#include <string>

struct parcel_picked_up {
  int parcel;
  std::string driver;
};

int main() {
  courier::bus bus;
  auto subscription = bus.subscribe<parcel_picked_up>(
      [](const parcel_picked_up& e) { fmt::print("parcel {} picked up by {}\n", e.parcel, e.driver); });
  bus.publish(parcel_picked_up{42, "ana"});  // runs the observer now, on this thread
  subscription.disconnect();
  bus.publish(parcel_picked_up{43, "ana"});  // nobody listens: nothing happens
}
