// post() from many threads: observers run on the bus's worker thread, and
// each thread's events arrive in the order it posted them.
#include <courier/bus.hpp>

#include <fmt/format.h>

#include <array>
#include <thread>
#include <vector>

struct scan {
  int scanner;
  int sequence;
};

int main() {
  constexpr int scanners = 4;
  constexpr int scans_each = 1000;
  courier::bus bus;
  std::array<int, scanners> next{};  // touched only by the worker thread
  int out_of_order = 0;
  auto subscription = bus.subscribe<scan>([&](const scan& e) {
    if (e.sequence != next[e.scanner]) ++out_of_order;
    next[e.scanner] = e.sequence + 1;
  });
  std::vector<std::jthread> threads;
  for (int id = 0; id < scanners; ++id) {
    threads.emplace_back([&bus, id] {
      for (int s = 0; s < scans_each; ++s) bus.post(scan{id, s});
    });
  }
  threads.clear();  // joins
  bus.drain();      // everything posted so far has been observed
  if (out_of_order != 0) {
    fmt::print("{} scans arrived out of order\n", out_of_order);
    return 1;
  }
  fmt::print("{} scans from {} threads, each in order\n", scanners * scans_each, scanners);
}
