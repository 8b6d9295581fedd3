// A channel consumed by coroutines on one io_context: a dispatcher sends
// pickups and awaits each one's delivery receipt, a driver receives,
// handles and acks, and gives up waiting after a quiet second (receive ||
// timer: a message that lands as the timer fires is not lost). No thread
// is blocked on the channel.
#include <courier/asio.hpp>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <string>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

struct pickup {
  int parcel;
  std::string vendor;
};

asio::awaitable<void> dispatcher(courier::channel<pickup>& pickups) {
  for (int parcel = 1; parcel <= 3; ++parcel) {
    // Message and options in variables, not aggregate temporaries inside the
    // co_await expression: GCC 12 miscompiles those (docs/asio.md).
    pickup next{parcel, "acme"};
    courier::send_options options{.group = "acme", .track_delivery = true};
    auto sent = co_await pickups.async_send(std::move(next), std::move(options), asio::use_awaitable);
    const auto outcome = co_await sent.receipt.async_wait(asio::use_awaitable);
    fmt::print("dispatcher: parcel {} {}\n", parcel, outcome);
  }
}

asio::awaitable<void> driver(courier::channel<pickup>& pickups) {
  asio::steady_timer quiet(co_await asio::this_coro::executor);
  for (;;) {
    quiet.expires_after(std::chrono::seconds(1));
    auto first =
        co_await (pickups.async_receive(8, asio::use_awaitable) || quiet.async_wait(asio::use_awaitable));
    if (first.index() == 1) break;  // a quiet second: the day is over
    for (auto& delivery : std::get<0>(first)) {
      fmt::print("driver: picked up parcel {} from {}\n", delivery.message().parcel,
                 delivery.message().vendor);
      delivery.ack();
    }
  }
  fmt::print("driver: no more pickups\n");
}

int main() {
  asio::io_context io;
  courier::channel<pickup> pickups({.ordering = courier::ordering::fifo});
  asio::co_spawn(io, driver(pickups), asio::detached);
  asio::co_spawn(io, dispatcher(pickups), asio::detached);
  io.run();
}
