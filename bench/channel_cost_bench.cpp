// What a channel's bookkeeping costs per message, on one thread: send 64,
// receive them, ack them in one call (BM_one_thread); or one message at a
// time (BM_one_by_one). No second thread means no lock
// handoffs and no scheduler, so this is the figure a change to the engine
// moves (the two-thread courier_channel_bench is dominated by contention
// and by this machine's noise). Google Benchmark; items/s is messages.
//
//   build/release/bench/courier_channel_cost_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include "courier/channel.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <span>
#include <string>
#include <vector>

namespace {

using courier::channel;
using courier::channel_options;
using courier::ordering;
using courier::receipt;
using courier::send_options;

constexpr int batch = 64;

enum class mode { standard, acked, exactly_once, fifo16 };

channel_options<int> options_for(mode m) {
  switch (m) {
    case mode::standard:
      return {.dedup_window = std::chrono::milliseconds(0), .acknowledge = false};
    case mode::acked:
      return {.dedup_window = std::chrono::milliseconds(0)};
    case mode::exactly_once:
      return {};
    case mode::fifo16:
      return {.ordering = ordering::fifo};
  }
  return {};
}

void BM_one_thread(benchmark::State& state, mode m) {
  static const std::array<std::string, 16> groups = {"g0", "g1", "g2",  "g3",  "g4",  "g5",  "g6",  "g7",
                                                     "g8", "g9", "g10", "g11", "g12", "g13", "g14", "g15"};
  channel<int> subject(options_for(m));
  std::vector<receipt> handles;
  handles.reserve(batch);
  std::uint64_t next = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i, ++next) {
      send_options options;
      if (m == mode::exactly_once || m == mode::fifo16) options.idempotency_key = std::to_string(next);
      if (m == mode::fifo16) options.group = groups[next % groups.size()];
      subject.send(static_cast<int>(next), std::move(options));
    }
    auto delivered = subject.receive(batch);
    if (m != mode::standard) {
      handles.clear();
      for (const auto& each : delivered) handles.push_back(each.receipt());
      subject.ack(std::span<const receipt>(handles));
    }
    benchmark::DoNotOptimize(delivered.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

// The same message by message: send one, receive it, ack it. Every call
// pays for its lock and its clock read alone, as in a consumer that
// handles and acks each message (and in the Asio operations).
void BM_one_by_one(benchmark::State& state, mode m) {
  channel<int> subject(options_for(m));
  std::uint64_t next = 0;
  for (auto _ : state) {
    send_options options;
    if (m == mode::exactly_once) options.idempotency_key = std::to_string(next);
    subject.send(static_cast<int>(next++), std::move(options));
    auto delivered = subject.receive(1);
    if (m != mode::standard) subject.ack(delivered.front().receipt());
    benchmark::DoNotOptimize(delivered.data());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_one_by_one, standard, mode::standard);
BENCHMARK_CAPTURE(BM_one_by_one, acked, mode::acked);
BENCHMARK_CAPTURE(BM_one_by_one, exactly_once, mode::exactly_once);

BENCHMARK_CAPTURE(BM_one_thread, standard, mode::standard);
BENCHMARK_CAPTURE(BM_one_thread, acked, mode::acked);
BENCHMARK_CAPTURE(BM_one_thread, exactly_once, mode::exactly_once);
BENCHMARK_CAPTURE(BM_one_thread, fifo16, mode::fifo16);

}  // namespace

BENCHMARK_MAIN();
