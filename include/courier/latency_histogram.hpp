// courier/latency_histogram.hpp: a distribution of durations in fixed
// buckets, as channel_stats carries it and /metrics renders it.
//
// The bucket bounds are the OpenTelemetry default for messaging durations
// (seconds): 5 ms to 10 s. Fixed, so recording is a few compares and an
// add, histograms of different components merge bucket by bucket, and a
// dashboard can sum them across channels. Durations under 5 ms all land in
// the first bucket: the buckets say whether a latency is a problem, the
// sum and count give the mean.
#pragma once

#include "courier/metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace courier {
inline namespace v1 {

struct latency_histogram {
  static constexpr std::array<double, 14> bounds_seconds = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                            0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};

  // counts[i]: observations in (bounds[i-1], bounds[i]]; the last, above 10 s.
  std::array<std::uint64_t, bounds_seconds.size() + 1> counts = {};
  std::chrono::nanoseconds sum{0};

  static constexpr std::size_t bucket_of(std::chrono::nanoseconds duration) noexcept {
    std::size_t bucket = 0;
    while (bucket < bounds_ns.size() && duration.count() > bounds_ns[bucket]) ++bucket;
    return bucket;
  }

  void record(std::chrono::nanoseconds duration) noexcept {
    if (duration < std::chrono::nanoseconds::zero()) duration = std::chrono::nanoseconds::zero();
    ++counts[bucket_of(duration)];
    sum += duration;
  }

  void merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
    sum += other.sum;
  }

  std::uint64_t count() const noexcept {
    std::uint64_t total = 0;
    for (const auto n : counts) total += n;
    return total;
  }

  // As a Prometheus sample: cumulative buckets, the sum in seconds.
  metric_sample sample(std::vector<std::pair<std::string, std::string>> labels) const {
    metric_sample out{.labels = std::move(labels)};
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < bounds_seconds.size(); ++i) {
      below += counts[i];
      out.buckets.emplace_back(bounds_seconds[i], below);
    }
    out.count = count();
    out.sum = std::chrono::duration<double>(sum).count();
    return out;
  }

 private:
  static constexpr std::array<std::int64_t, bounds_seconds.size()> bounds_ns = [] {
    std::array<std::int64_t, bounds_seconds.size()> out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<std::int64_t>(bounds_seconds[i] * 1e9 + 0.5);
    }
    return out;
  }();
};

namespace detail {

// A latency_histogram kept in atomics, so any thread may read it while
// it is recorded into. Concurrent is how records are made: false, one
// writer at a time (relaxed loads and stores, no read-modify-write, no
// lock: plain moves on x86 and ARM); true, any thread (relaxed atomic
// adds, for paths that are slow anyway). A reader may see a count without
// its share of the sum, never a torn value.
template <bool Concurrent>
class atomic_histogram {
 public:
  void record(std::chrono::nanoseconds duration) noexcept {
    if (duration < std::chrono::nanoseconds::zero()) duration = std::chrono::nanoseconds::zero();
    bump(counts_[latency_histogram::bucket_of(duration)], 1);
    bump(sum_ns_, duration.count());
  }

  void add_to(latency_histogram& out) const noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i)
      out.counts[i] += counts_[i].load(std::memory_order_relaxed);
    out.sum += std::chrono::nanoseconds(sum_ns_.load(std::memory_order_relaxed));
  }

 private:
  template <class Count>
  static void bump(std::atomic<Count>& count, std::type_identity_t<Count> by) noexcept {
    if constexpr (Concurrent) {
      count.fetch_add(by, std::memory_order_relaxed);
    } else {
      count.store(count.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
  }

  std::array<std::atomic<std::uint64_t>, latency_histogram::bounds_seconds.size() + 1> counts_{};
  std::atomic<std::int64_t> sum_ns_{0};
};

using single_writer_histogram = atomic_histogram<false>;
using shared_histogram = atomic_histogram<true>;

}  // namespace detail
}  // namespace v1
}  // namespace courier
