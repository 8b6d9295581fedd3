// A FIFO channel with delivery receipts: the sender learns what became of
// each message, a retried send is a duplicate, and a group keeps its order.
#include <courier/channel.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

struct pickup {
  int parcel;
  std::string vendor;
};

int main() {
  courier::channel<pickup> pickups({.ordering = courier::ordering::fifo});
  std::vector<courier::delivery_receipt> receipts;
  for (int parcel : {1, 2, 3}) {
    const auto sent = pickups.send(
        pickup{parcel, "acme"},
        {.group = "acme", .idempotency_key = fmt::format("acme/{}", parcel), .track_delivery = true});
    receipts.push_back(sent.receipt);
  }
  // The vendor's response got lost; it sends parcel 2 again, with the same key.
  const auto retry = pickups.send(pickup{2, "acme"}, {.group = "acme", .idempotency_key = "acme/2"});
  fmt::print("retry of parcel 2: duplicate = {}\n", retry.duplicate);

  // A driver takes the group's messages one at a time, in order.
  for (;;) {
    auto got = pickups.receive(10);
    if (got.empty()) break;
    for (auto& d : got) {
      fmt::print("picked up parcel {} (sequence {})\n", d.message().parcel, d.sequence());
      d.ack();
    }
  }
  for (std::size_t i = 0; i < receipts.size(); ++i) {
    fmt::print("parcel {}: {}\n", i + 1, receipts[i].get());
  }
}
