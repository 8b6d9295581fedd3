// What each delivery guarantee of courier::channel costs, beside a plain
// mutex-based channel doing the same work, in one run.
//
// BM_channel/<impl>/<mode>/<groups>/<producers>: messages/s from P producer
// threads through one channel to one consumer thread that receives in
// batches of 64 and acks each batch in one call (courier: ack(span of
// receipts); mutex: one lock for the batch's acks).
// BM_channel_ack_each/<impl>/fifo/16/1: the same with one ack call per
// message.
//   impl   courier   courier::channel<T>
//          mutex     std::mutex + std::deque + std::unordered_set: the channel
//                    a careful engineer writes in an afternoon (no visibility
//                    timeouts, no receipts, no dead letters)
//   mode   standard      no ordering, no keys, no acks (at-most-once)
//          acked         no ordering, no keys, every message acked
//          exactly_once  no ordering, an idempotency key per send, acked
//          fifo          message groups, a key per send, acked
// BM_latency/<mode>: send -> receive latency at a fixed offered rate of
// 100,000 messages/s, one producer, one consumer blocked in receive();
// counters p50_us, p99_us, p999_us.
#include "ratio_reporter.hpp"

#include <courier/channel.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using namespace std::chrono_literals;

enum class mode { standard, acked, exactly_once, fifo };

constexpr const char* name_of(mode m) {
  switch (m) {
    case mode::standard:
      return "standard";
    case mode::acked:
      return "acked";
    case mode::exactly_once:
      return "exactly_once";
    case mode::fifo:
      return "fifo";
  }
  return "?";
}

bool uses_keys(mode m) { return m == mode::exactly_once || m == mode::fifo; }

struct work {
  std::uint64_t value;
  std::int64_t sent_ns;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The baseline: one mutex, a deque of ready messages (FIFO: of ready groups),
// an unordered_set of seen keys, an unordered_map of unacked messages.
class mutex_channel {
 public:
  explicit mutex_channel(mode m) : mode_(m) {}

  void send(const work& message, const std::string& group, std::string key) {
    std::lock_guard lock(mutex_);
    if (!key.empty() && !keys_.insert(std::move(key)).second) return;  // a duplicate
    const std::uint64_t id = ++last_id_;
    if (mode_ == mode::fifo) {
      auto& members = groups_[group];
      members.push_back({id, message});
      if (members.size() == 1) ready_groups_.push_back(&members);  // node-based map: stable address
    } else {
      ready_.push_back({id, message, nullptr});
    }
    ready_cv_.notify_one();
  }

  struct taken {
    std::uint64_t id;
    work message;
    std::deque<std::pair<std::uint64_t, work>>* group;
  };

  // Up to max messages, waiting up to wait for the first.
  void receive(std::vector<taken>& out, std::size_t max, std::chrono::milliseconds wait) {
    out.clear();
    std::unique_lock lock(mutex_);
    ready_cv_.wait_for(lock, wait, [this] { return !ready_.empty() || !ready_groups_.empty(); });
    if (mode_ == mode::fifo) {
      while (out.size() < max && !ready_groups_.empty()) {
        auto* group = ready_groups_.front();
        ready_groups_.pop_front();
        const auto& [id, message] = group->front();
        out.push_back({id, message, group});
        in_flight_.emplace(id, group);
      }
      return;
    }
    while (out.size() < max && !ready_.empty()) {
      out.push_back(ready_.front());
      ready_.pop_front();
      if (mode_ != mode::standard) in_flight_.emplace(out.back().id, nullptr);
    }
  }

  void ack(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    ack_locked(id);
  }

  // Acks a received batch under one lock.
  void ack(const std::vector<taken>& batch) {
    std::lock_guard lock(mutex_);
    for (const taken& item : batch) ack_locked(item.id);
  }

 private:
  void ack_locked(std::uint64_t id) {
    const auto found = in_flight_.find(id);
    if (found == in_flight_.end()) return;
    auto* group = found->second;
    in_flight_.erase(found);
    if (group != nullptr) {
      group->pop_front();
      if (!group->empty()) ready_groups_.push_back(group);
    }
  }

  using group_queue = std::deque<std::pair<std::uint64_t, work>>;
  const mode mode_;
  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::deque<taken> ready_;
  std::unordered_map<std::string, group_queue> groups_;
  std::deque<group_queue*> ready_groups_;
  std::unordered_set<std::string> keys_;
  std::unordered_map<std::uint64_t, group_queue*> in_flight_;
  std::uint64_t last_id_ = 0;
};

// How the consumer acks what it received: the whole batch in one call (as
// an SQS consumer uses DeleteMessageBatch), or message by message.
enum class acks { batch, each };

// Both channels behind one interface for the benchmark loop.
struct courier_subject {
  explicit courier_subject(mode m, acks style = acks::batch)
      : m_(m),
        style_(style),
        channel_({.ordering = m == mode::fifo ? courier::ordering::fifo : courier::ordering::none,
                  .dedup_window = uses_keys(m) ? std::chrono::milliseconds(5min) : 0ms,
                  .acknowledge = m != mode::standard}) {}

  void send(const work& message, const std::string& group, std::string key) {
    // What a user writes: no options when there are none to give (the
    // baseline, too, ignores the group outside FIFO and an empty key).
    if (m_ != mode::fifo && key.empty()) {
      channel_.send(message);
      return;
    }
    channel_.send(message,
                  {.group = m_ == mode::fifo ? group : std::string(), .idempotency_key = std::move(key)});
  }
  std::size_t consume(std::size_t max) {
    auto batch = channel_.receive(max, 1ms);
    if (m_ == mode::standard) return batch.size();
    if (style_ == acks::each) {
      for (auto& item : batch) channel_.ack(item.receipt());
      return batch.size();
    }
    receipts_.clear();
    for (auto& item : batch) receipts_.push_back(item.receipt());
    if (!channel_.ack(receipts_).ok()) std::abort();  // a refused ack here is a courier bug
    return batch.size();
  }

  mode m_;
  acks style_;
  courier::channel<work> channel_;
  std::vector<courier::receipt> receipts_;
};

struct mutex_subject {
  explicit mutex_subject(mode m, acks style = acks::batch) : m_(m), style_(style), channel_(m) {}
  void send(const work& message, const std::string& group, std::string key) {
    channel_.send(message, group, std::move(key));
  }
  std::size_t consume(std::size_t max) {
    channel_.receive(batch_, max, 1ms);
    if (m_ == mode::standard) return batch_.size();
    if (style_ == acks::each) {
      for (const auto& item : batch_) channel_.ack(item.id);
    } else {
      channel_.ack(batch_);
    }
    return batch_.size();
  }

  mode m_;
  acks style_;
  mutex_channel channel_;
  std::vector<mutex_channel::taken> batch_;
};

constexpr int messages_per_iteration = 4096;

template <class Subject>
void channel_throughput(benchmark::State& state, mode m, acks style = acks::batch) {
  const auto groups = static_cast<std::size_t>(state.range(0));
  const int producers = static_cast<int>(state.range(1));
  const int share = messages_per_iteration / producers;
  std::vector<std::string> group_names;
  for (std::size_t g = 0; g < groups; ++g) group_names.push_back(fmt::format("group-{}", g));
  Subject subject(m, style);
  std::atomic<std::int64_t> consumed{0};
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    while (!stop.load(std::memory_order_acquire)) {
      consumed.fetch_add(static_cast<std::int64_t>(subject.consume(64)), std::memory_order_release);
    }
  });
  std::barrier start(producers);
  std::barrier finish(producers);
  std::vector<std::uint64_t> next_key(static_cast<std::size_t>(producers), 0);
  auto produce = [&](int p) {
    auto& counter = next_key[static_cast<std::size_t>(p)];
    for (int i = 0; i < share; ++i) {
      const std::uint64_t n = counter++;
      std::string key = uses_keys(m) ? fmt::format("{}-{}", p, n) : std::string();
      subject.send(
          work{n, 0},
          group_names[(n * static_cast<std::uint64_t>(producers) + static_cast<std::uint64_t>(p)) % groups],
          std::move(key));
    }
  };
  std::vector<std::thread> helpers;
  for (int p = 1; p < producers; ++p) {
    helpers.emplace_back([&, p] {
      for (;;) {
        start.arrive_and_wait();
        if (stop.load()) return;
        produce(p);
        finish.arrive_and_wait();
      }
    });
  }
  std::int64_t expected = 0;
  for (auto _ : state) {
    start.arrive_and_wait();
    produce(0);
    finish.arrive_and_wait();
    expected += static_cast<std::int64_t>(share) * producers;
    while (consumed.load(std::memory_order_acquire) < expected) std::this_thread::yield();
  }
  stop.store(true);
  start.arrive_and_wait();
  for (auto& helper : helpers) helper.join();
  consumer.join();
  if (consumed.load() != expected) state.SkipWithError("messages were lost or duplicated");
  state.SetItemsProcessed(expected);
}

void latency(benchmark::State& state, mode m) {
  constexpr int messages = 50'000;
  constexpr auto interval = std::chrono::microseconds(10);  // 100,000 messages/s offered
  courier_subject subject(m);
  std::vector<std::int64_t> latencies;
  latencies.reserve(messages);
  for (auto _ : state) {
    latencies.clear();
    std::thread consumer([&] {
      while (static_cast<int>(latencies.size()) < messages) {
        auto batch = subject.channel_.receive(64, 100ms);
        const std::int64_t now = now_ns();
        for (auto& item : batch) {
          latencies.push_back(now - item.message().sent_ns);
          if (m != mode::standard) subject.channel_.ack(item.receipt());
        }
      }
    });
    auto next = std::chrono::steady_clock::now();
    for (int i = 0; i < messages; ++i) {
      while (std::chrono::steady_clock::now() < next) {
      }
      next += interval;
      const auto n =
          static_cast<std::uint64_t>(state.iterations()) * messages + static_cast<std::uint64_t>(i);
      subject.send(work{n, now_ns()}, fmt::format("group-{}", n % 16),
                   uses_keys(m) ? fmt::format("{}", n) : std::string());
    }
    consumer.join();
  }
  std::sort(latencies.begin(), latencies.end());
  const auto at = [&](double q) {
    return static_cast<double>(
               latencies[static_cast<std::size_t>(q * static_cast<double>(latencies.size() - 1))]) /
           1000.0;
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["p999_us"] = at(0.999);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * messages);
}

void register_benchmarks() {
  struct scenario {
    mode m;
    std::vector<int> groups;
  };
  const std::vector<scenario> scenarios = {
      {mode::standard, {1}}, {mode::acked, {1}}, {mode::exactly_once, {1}}, {mode::fifo, {1, 16, 1024}}};
  for (const auto& [m, group_counts] : scenarios) {
    for (int groups : group_counts) {
      for (int producers : {1, 2}) {
        benchmark::RegisterBenchmark(
            fmt::format("BM_channel/courier/{}", name_of(m)).c_str(),
            [m = m](benchmark::State& s) { channel_throughput<courier_subject>(s, m); })
            ->Args({groups, producers})
            ->UseRealTime();
        benchmark::RegisterBenchmark(
            fmt::format("BM_channel/mutex/{}", name_of(m)).c_str(),
            [m = m](benchmark::State& s) { channel_throughput<mutex_subject>(s, m); })
            ->Args({groups, producers})
            ->UseRealTime();
      }
    }
  }
  // The target scenario again with the consumer acking message by message.
  benchmark::RegisterBenchmark(
      "BM_channel_ack_each/courier/fifo",
      [](benchmark::State& s) { channel_throughput<courier_subject>(s, mode::fifo, acks::each); })
      ->Args({16, 1})
      ->UseRealTime();
  benchmark::RegisterBenchmark(
      "BM_channel_ack_each/mutex/fifo",
      [](benchmark::State& s) { channel_throughput<mutex_subject>(s, mode::fifo, acks::each); })
      ->Args({16, 1})
      ->UseRealTime();
  for (mode m : {mode::standard, mode::acked, mode::exactly_once, mode::fifo}) {
    benchmark::RegisterBenchmark(fmt::format("BM_latency/{}", name_of(m)).c_str(),
                                 [m](benchmark::State& s) { latency(s, m); })
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  courier_bench::ratio_reporter reporter({
      {"BM_channel", "courier", "mutex", true},
      {"BM_channel_ack_each", "courier", "mutex", true},
  });
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
