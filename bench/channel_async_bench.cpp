// courier's channel awaited from coroutines, beside the channel a user of
// Asio would otherwise pick, on the same io_context, in one run.
//
// BM_channel_async/<impl>/batch:<n>: messages/s from one producer coroutine
// to one consumer coroutine on one io_context run by one thread, through a
// channel bounded at 1024 messages (the producer waits for room).
//   courier_acked      courier::channel<T>::async_send / async_receive(n),
//                      every message acked (one ack call per batch)
//   courier_unacked    the same channel without acknowledgement
//                      (at-most-once: nothing to settle)
//   asio_concurrent    asio::experimental::concurrent_channel: no acks, no
//                      receipts, one message per receive
// BM_channel_blocking/courier_acked/batch:<n>: the same messages through the
// blocking calls, a producer thread and a consumer thread (what the async
// form saves or costs against it).
#include "ratio_reporter.hpp"

#include <courier/asio.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;

constexpr std::int64_t messages_per_run = 1 << 16;
constexpr std::size_t capacity = 1024;

struct reading {
  std::uint64_t sequence = 0;
  std::uint64_t value = 0;
};

asio::awaitable<void> produce(courier::channel<reading>& channel) {
  for (std::int64_t i = 0; i < messages_per_run; ++i) {
    reading next{static_cast<std::uint64_t>(i), 42};
    courier::send_options plain;
    co_await channel.async_send(std::move(next), std::move(plain), asio::use_awaitable);
  }
}

asio::awaitable<void> consume(courier::channel<reading>& channel, std::size_t batch, bool acked,
                              std::uint64_t& checksum) {
  std::vector<courier::receipt> receipts;
  receipts.reserve(batch);
  for (std::int64_t got = 0; got < messages_per_run;) {
    auto deliveries = co_await channel.async_receive(batch, asio::use_awaitable);
    for (auto& delivery : deliveries) {
      checksum += delivery.message().sequence;
      if (acked) receipts.push_back(delivery.receipt());
    }
    if (acked) {
      channel.ack(receipts);
      receipts.clear();
    }
    got += static_cast<std::int64_t>(deliveries.size());
  }
}

void BM_channel_async_courier(benchmark::State& state, bool acked) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  std::uint64_t checksum = 0;
  for (auto _ : state) {
    asio::io_context io(1);
    courier::channel<reading> channel({.acknowledge = acked, .capacity = capacity});
    asio::co_spawn(io, produce(channel), asio::detached);
    asio::co_spawn(io, consume(channel, batch, acked, checksum), asio::detached);
    io.run();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * messages_per_run);
}

void BM_channel_async_asio_concurrent(benchmark::State& state) {
  using asio_channel = asio::experimental::concurrent_channel<void(boost::system::error_code, reading)>;
  std::uint64_t checksum = 0;
  for (auto _ : state) {
    asio::io_context io(1);
    asio_channel channel(io, capacity);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (std::int64_t i = 0; i < messages_per_run; ++i) {
            reading next{static_cast<std::uint64_t>(i), 42};
            co_await channel.async_send(boost::system::error_code{}, next, asio::use_awaitable);
          }
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (std::int64_t i = 0; i < messages_per_run; ++i) {
            const reading got = co_await channel.async_receive(asio::use_awaitable);
            checksum += got.sequence;
          }
        },
        asio::detached);
    io.run();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * messages_per_run);
}

void BM_channel_blocking_courier(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  std::uint64_t checksum = 0;
  for (auto _ : state) {
    courier::channel<reading> channel({.capacity = capacity});
    std::thread producer([&] {
      for (std::int64_t i = 0; i < messages_per_run; ++i) channel.send(reading{static_cast<std::uint64_t>(i), 42});
    });
    std::vector<courier::receipt> receipts;
    for (std::int64_t got = 0; got < messages_per_run;) {
      auto deliveries = channel.receive(batch, std::chrono::seconds(1));
      for (auto& delivery : deliveries) {
        checksum += delivery.message().sequence;
        receipts.push_back(delivery.receipt());
      }
      channel.ack(receipts);
      receipts.clear();
      got += static_cast<std::int64_t>(deliveries.size());
    }
    producer.join();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * messages_per_run);
}

}  // namespace

BENCHMARK_CAPTURE(BM_channel_async_courier, courier_acked, true)
    ->Name("BM_channel_async/courier_acked")
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_channel_async_courier, courier_unacked, false)
    ->Name("BM_channel_async/courier_unacked")
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_channel_async_asio_concurrent)
    ->Name("BM_channel_async/asio_concurrent/batch:1")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_channel_blocking_courier)
    ->Name("BM_channel_blocking/courier_acked")
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  courier_bench::ratio_reporter reporter({
      {"BM_channel_async", "courier_acked", "asio_concurrent", true},
      {"BM_channel_async", "courier_unacked", "asio_concurrent", true},
  });
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
}
