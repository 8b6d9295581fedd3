// Dead letters: a message that keeps failing moves aside after max_receives
// deliveries, its group moves on, and it can be inspected and redriven.
#include <courier/channel.hpp>

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>

struct label {
  std::string address;
};

int main() {
  using namespace std::chrono_literals;
  auto clock = std::make_shared<courier::manual_clock>();  // time passes when we say
  courier::channel<label> labels({.ordering = courier::ordering::fifo,
                                  .visibility_timeout = 30s,
                                  .max_receives = 3,
                                  .time_source = clock});
  labels.send(label{"???"}, {.group = "printer-1"});        // unprintable
  labels.send(label{"1 Main St"}, {.group = "printer-1"});  // behind it in its group

  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto got = labels.receive(1);
    fmt::print("attempt {}: '{}' fails\n", attempt, got.at(0).message().address);
    got.at(0).nack();  // the printer rejects it
  }
  auto next = labels.receive(1);  // the group moved on
  fmt::print("next: '{}'\n", next.at(0).message().address);
  next.at(0).ack();

  auto dead = labels.dead_letters().receive(10);
  fmt::print("dead letters: {} ('{}', group {})\n", dead.size(), dead.at(0).message().address,
             dead.at(0).group());
  dead.at(0).nack();  // back among the dead letters, for redrive to take
  fmt::print("redriven: {}\n", labels.redrive());
}
