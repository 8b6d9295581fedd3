// Publish and post costs of courier's bus beside their baselines, in one run.
//
// BM_publish/<subject>/<observers>: one synchronous publish to N observers.
//   function     a std::vector<std::function> loop: the floor of any dispatch
//   signals2     raw boost::signals2::signal (its default mutex)
//   signals2_st  raw Signals2 with dummy_mutex
//   bus, bus_st  courier::bus and courier::bus_st (observers in Signals2)
//   snapshot_bus, snapshot_bus_st  the same on courier's own observer list
// BM_subscribe/<subject>/<observers>: one subscribe and its disconnect, with
//   N other observers of the type connected: signals2 (connect, then
//   disconnect the connection; handed std::ref, the cheapest functor for
//   Boost.Function), signals2_lambda (the same with a lambda holding a
//   shared_ptr) beside bus and snapshot_bus (subscribe, then disconnect the
//   subscription: courier's disconnect also waits until no call runs).
// BM_post/<subject>/<producers>: events/s from P producer threads to one
// observer on one consumer thread, waited for until handled.
//   mutex_deque  std::mutex + std::deque + condition_variable, the textbook
//                handoff: the consumer pops one event per lock
//   bus          courier::bus::post with its worker thread
//   snapshot_bus the same on courier::snapshot_bus
// Compare subjects within one run (bench/README.md): the machine is shared.
#include "ratio_reporter.hpp"

#include <courier/bus.hpp>

#include <benchmark/benchmark.h>
#include <boost/signals2.hpp>

#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

struct tick {
  std::uint64_t value;
};

// The observer every subject calls: cheap, but not optimizable away.
struct tally {
  std::uint64_t sum = 0;
  void operator()(const tick& e) { benchmark::DoNotOptimize(sum += e.value); }
};

// One tally per observer in the publish rows, as observers own their state:
// with one shared tally, each call's load-add-store waited on the previous
// observer's store, and that chain (~2 ns on the AMD VM) was most of what a
// "cost per observer" measured, for every subject alike.
std::vector<tally> tallies(benchmark::State& state) {
  return std::vector<tally>(static_cast<std::size_t>(state.range(0)));
}

void publish_function(benchmark::State& state) {
  auto counters = tallies(state);
  std::vector<std::function<void(const tick&)>> observers;
  for (auto& counter : counters) observers.emplace_back(std::ref(counter));
  for (auto _ : state) {
    const tick event{1};
    for (auto& observer : observers) observer(event);
  }
}

template <class Signal>
void publish_signals2(benchmark::State& state) {
  auto counters = tallies(state);
  Signal signal;
  std::vector<boost::signals2::scoped_connection> connections;
  for (auto& counter : counters) connections.emplace_back(signal.connect(std::ref(counter)));
  for (auto _ : state) signal(tick{1});
}

template <class Bus>
void publish_bus(benchmark::State& state) {
  auto counters = tallies(state);
  Bus bus;
  std::vector<courier::subscription> subscriptions;
  for (auto& counter : counters) subscriptions.push_back(bus.template subscribe<tick>(std::ref(counter)));
  for (auto _ : state) bus.publish(tick{1});
}

void subscribe_signals2(benchmark::State& state) {
  tally counter;
  boost::signals2::signal<void(const tick&)> signal;
  std::vector<boost::signals2::scoped_connection> others;
  for (int i = 0; i < state.range(0); ++i) others.emplace_back(signal.connect(std::ref(counter)));
  for (auto _ : state) {
    boost::signals2::connection connection = signal.connect(std::ref(counter));
    connection.disconnect();
  }
}

// The same with the functor a user often hands Signals2: a lambda holding a
// shared_ptr to its object. Boost.Function stores std::ref as a bare pointer
// and copies it for free; a lambda with a shared_ptr goes through its
// manager on every copy, as courier's wrapper of the handler does.
void subscribe_signals2_lambda(benchmark::State& state) {
  auto counter = std::make_shared<tally>();
  boost::signals2::signal<void(const tick&)> signal;
  std::vector<boost::signals2::scoped_connection> others;
  for (int i = 0; i < state.range(0); ++i) others.emplace_back(signal.connect(std::ref(*counter)));
  for (auto _ : state) {
    boost::signals2::connection connection =
        signal.connect([counter](const tick& event) { (*counter)(event); });
    connection.disconnect();
  }
}

template <class Bus>
void subscribe_bus(benchmark::State& state) {
  tally counter;
  Bus bus;
  std::vector<courier::subscription> others;
  for (int i = 0; i < state.range(0); ++i) others.push_back(bus.template subscribe<tick>(std::ref(counter)));
  for (auto _ : state) {
    courier::subscription subscription = bus.template subscribe<tick>(std::ref(counter));
    subscription.disconnect();
  }
}

using signals2_st =
    boost::signals2::signal_type<void(const tick&),
                                 boost::signals2::keywords::mutex_type<boost::signals2::dummy_mutex>>::type;

// The textbook handoff the async bus is measured against.
class mutex_deque_handoff {
 public:
  explicit mutex_deque_handoff(std::function<void(const tick&)> observer)
      : observer_(std::move(observer)), consumer_([this] { consume(); }) {}
  ~mutex_deque_handoff() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    ready_.notify_one();
    consumer_.join();
  }
  void post(const tick& event) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(event);
      ++posted_;
    }
    ready_.notify_one();
  }
  void drain() {
    std::unique_lock lock(mutex_);
    drained_.wait(lock, [this] { return handled_ == posted_; });
  }

 private:
  void consume() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const tick event = queue_.front();
      queue_.pop_front();
      lock.unlock();
      observer_(event);
      lock.lock();
      if (++handled_ == posted_) drained_.notify_all();
    }
  }

  std::function<void(const tick&)> observer_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable drained_;
  std::deque<tick> queue_;
  std::uint64_t posted_ = 0;
  std::uint64_t handled_ = 0;
  bool stop_ = false;
  std::thread consumer_;
};

// Adapts a courier bus to the handoff's interface.
template <class Bus>
class bus_handoff {
 public:
  explicit bus_handoff(std::function<void(const tick&)> observer)
      : subscription_(bus_.template subscribe<tick>(std::move(observer))) {}
  void post(const tick& event) { bus_.post(event); }
  void drain() { bus_.drain(); }

 private:
  Bus bus_;
  courier::subscription subscription_;
};

constexpr int events_per_iteration = 4096;

// Each iteration: P producers post events_per_iteration events in all, then
// the benchmark thread waits until the consumer has handled every one.
template <class Handoff>
void post_to_one_observer(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const int share = events_per_iteration / producers;
  alignas(64) std::atomic<std::uint64_t> observed{0};  // off the producer's stack line
  Handoff handoff([&observed](const tick& e) { observed.fetch_add(e.value, std::memory_order_relaxed); });
  std::barrier start(producers);
  std::barrier finish(producers);
  std::atomic<bool> stop{false};
  std::vector<std::thread> helpers;
  for (int p = 1; p < producers; ++p) {
    helpers.emplace_back([&] {
      for (;;) {
        start.arrive_and_wait();
        if (stop.load()) return;
        for (int i = 0; i < share; ++i) handoff.post(tick{1});
        finish.arrive_and_wait();
      }
    });
  }
  for (auto _ : state) {
    start.arrive_and_wait();
    for (int i = 0; i < share; ++i) handoff.post(tick{1});
    finish.arrive_and_wait();
    handoff.drain();
  }
  stop.store(true);
  start.arrive_and_wait();
  for (auto& helper : helpers) helper.join();
  if (observed.load() != static_cast<std::uint64_t>(state.iterations()) * share * producers) {
    state.SkipWithError("events were lost");
  }
  state.SetItemsProcessed(state.iterations() * share * producers);
}

void register_benchmarks() {
  const auto observer_counts = [](benchmark::internal::Benchmark* b) {
    for (int n : {0, 1, 8, 64}) b->Arg(n);
  };
  benchmark::RegisterBenchmark("BM_publish/function", publish_function)->Apply(observer_counts);
  benchmark::RegisterBenchmark("BM_publish/signals2",
                               publish_signals2<boost::signals2::signal<void(const tick&)>>)
      ->Apply(observer_counts);
  benchmark::RegisterBenchmark("BM_publish/signals2_st", publish_signals2<signals2_st>)
      ->Apply(observer_counts);
  benchmark::RegisterBenchmark("BM_publish/bus", publish_bus<courier::bus>)->Apply(observer_counts);
  benchmark::RegisterBenchmark("BM_publish/bus_st", publish_bus<courier::bus_st>)->Apply(observer_counts);
  benchmark::RegisterBenchmark("BM_publish/snapshot_bus", publish_bus<courier::snapshot_bus>)
      ->Apply(observer_counts);
  benchmark::RegisterBenchmark("BM_publish/snapshot_bus_st", publish_bus<courier::snapshot_bus_st>)
      ->Apply(observer_counts);
  for (int others : {0, 8}) {
    benchmark::RegisterBenchmark("BM_subscribe/signals2", subscribe_signals2)->Arg(others);
    benchmark::RegisterBenchmark("BM_subscribe/signals2_lambda", subscribe_signals2_lambda)->Arg(others);
    benchmark::RegisterBenchmark("BM_subscribe/bus", subscribe_bus<courier::bus>)->Arg(others);
    benchmark::RegisterBenchmark("BM_subscribe/snapshot_bus", subscribe_bus<courier::snapshot_bus>)
        ->Arg(others);
  }
  for (int producers : {1, 2}) {
    benchmark::RegisterBenchmark("BM_post/mutex_deque", post_to_one_observer<mutex_deque_handoff>)
        ->Arg(producers)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_post/bus", post_to_one_observer<bus_handoff<courier::bus>>)
        ->Arg(producers)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_post/snapshot_bus",
                                 post_to_one_observer<bus_handoff<courier::snapshot_bus>>)
        ->Arg(producers)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  courier_bench::ratio_reporter reporter(
      {
          {"BM_publish", "bus", "signals2", false},
          {"BM_publish", "bus_st", "signals2_st", false},
          {"BM_publish", "snapshot_bus", "function", false},
          {"BM_publish", "snapshot_bus_st", "function", false},
          {"BM_post", "bus", "mutex_deque", true},
          {"BM_post", "snapshot_bus", "mutex_deque", true},
          {"BM_subscribe", "bus", "signals2", false},
          {"BM_subscribe", "bus", "signals2_lambda", false},
          {"BM_subscribe", "snapshot_bus", "signals2", false},
      },
      {"BM_publish"});
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
