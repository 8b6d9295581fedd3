// An observer that is a member function of an object owned by shared_ptr:
// the bus tracks the owner and stops calling once it is gone.
#include <courier/bus.hpp>

#include <fmt/format.h>

#include <memory>
#include <string>

struct parcel_ready {
  int parcel;
};

class driver {
 public:
  explicit driver(std::string name) : name_(std::move(name)) {}
  void on_ready(const parcel_ready& e) { fmt::print("{} collects parcel {}\n", name_, e.parcel); }

 private:
  std::string name_;
};

int main() {
  courier::bus bus;
  auto ana = std::make_shared<driver>("ana");
  auto subscription = bus.subscribe(ana, &driver::on_ready);
  bus.publish(parcel_ready{1});
  ana.reset();  // the driver leaves; the bus does not keep her alive
  bus.publish(parcel_ready{2});
  fmt::print("driver went home; still subscribed: {}\n", subscription.connected());
}
