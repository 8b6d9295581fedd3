#include "ledger.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <thread>

namespace courier_bench {

namespace {

double percentile_us(std::vector<std::int64_t>& samples, double fraction) {
  if (samples.empty()) return 0;
  const auto at = static_cast<std::size_t>(fraction * static_cast<double>(samples.size() - 1));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(at), samples.end());
  return static_cast<double>(samples[at]) / 1000.0;
}

}  // namespace

double ledger::wait_for_all(std::chrono::steady_clock::time_point start, std::chrono::milliseconds stall_limit,
                            const std::function<void(std::size_t)>& progress) const {
  std::size_t last_done = 0;
  auto last_change = std::chrono::steady_clock::now();
  for (;;) {
    const std::size_t now_done = done();
    const auto now = std::chrono::steady_clock::now();
    if (now_done >= count_) return std::chrono::duration<double>(now - start).count();
    if (now_done != last_done) {
      last_done = now_done;
      last_change = now;
    } else if (now - last_change > stall_limit) {
      return std::chrono::duration<double>(now - start).count();
    }
    progress(now_done);
    // Poll fast near the end, where the last messages decide the time.
    std::this_thread::sleep_for(std::chrono::milliseconds(now_done + 1000 >= count_ ? 1 : 20));
  }
}

result ledger::verdict(level guarantee, double seconds) const {
  result out;
  out.scenario = name_of(guarantee);
  out.messages = count_;
  out.seconds = seconds;
  out.per_second = seconds > 0 ? static_cast<double>(count_) / seconds : 0;
  out.faults_injected = faults_.load();
  std::set<std::size_t> dead;
  {
    std::lock_guard lock(mutex_);
    dead.insert(dead_.begin(), dead_.end());
  }
  out.dead_lettered = dead.size();
  std::uint64_t beyond_sends = 0;  // applied more often than sent
  std::vector<std::int64_t> latencies;
  latencies.reserve(count_);
  for (std::size_t n = 0; n < count_; ++n) {
    const std::uint32_t times = applied_[n].load();
    if (times == 0 && dead.count(n) == 0) ++out.lost;
    if (times > 1) out.duplicated += times - 1;
    if (times > sends_[n]) beyond_sends += times - sends_[n];
    if (times != 0) latencies.push_back(latency_ns_[n]);
  }
  out.p50_us = percentile_us(latencies, 0.50);
  out.p99_us = percentile_us(latencies, 0.99);
  out.p999_us = percentile_us(latencies, 0.999);
  out.order_checked = guarantee == level::fifo;
  if (out.order_checked) out.reordered = reordered_.load();

  std::vector<std::string> broken;
  switch (guarantee) {
    case level::fifo:
      if (out.reordered != 0) broken.push_back(fmt::format("{} applied out of group order", out.reordered));
      [[fallthrough]];
    case level::exactly_once:
      if (out.duplicated != 0) broken.push_back(fmt::format("{} applied twice", out.duplicated));
      [[fallthrough]];
    case level::at_least_once:
      if (out.lost != 0) broken.push_back(fmt::format("{} lost", out.lost));
      break;
    case level::at_most_once:
      if (beyond_sends != 0) broken.push_back(fmt::format("{} delivered more often than sent", beyond_sends));
      break;
  }
  out.held = broken.empty();
  for (const auto& rule : broken) out.broken += (out.broken.empty() ? "" : "; ") + rule;
  return out;
}

}  // namespace courier_bench
