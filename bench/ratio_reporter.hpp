// A Google Benchmark reporter that, after the usual console table, pairs each
// subject with its baseline from the same run and prints the ratio: the
// machine is shared and noisy, so only side-by-side ratios are worth quoting.
//
// Names follow BM_<family>/<subject>/<arg>[/real_time]; a pairing says which
// subject is compared with which baseline within a family. With
// --benchmark_repetitions the medians are paired, otherwise single runs.
#pragma once

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace courier_bench {

struct pairing {
  std::string family;     // "BM_publish"
  std::string subject;    // "bus"
  std::string baseline;   // "signals2"
  bool higher_is_better;  // compare items/s (true) or time per iteration (false)
};

class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  explicit ratio_reporter(std::vector<pairing> pairings) : pairings_(std::move(pairings)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool aggregate = run.run_type == Run::RT_Aggregate;
      if (aggregate && run.aggregate_name != "median") continue;
      if (!aggregate && run.repetitions > 1) continue;
      const auto items = run.counters.find("items_per_second");
      if (!results_.contains(run.run_name.str())) order_.push_back(run.run_name.str());
      results_[run.run_name.str()] = {run.GetAdjustedRealTime(),
                                      items == run.counters.end() ? 0.0 : double(items->second)};
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    auto& out = GetOutputStream();
    out << "\nRatios from this run (subject vs baseline, same arguments):\n";
    for (const auto& name : order_) {
      const result& result = results_.at(name);
      for (const auto& pair : pairings_) {
        const std::string prefix = pair.family + "/" + pair.subject + "/";
        if (name.rfind(prefix, 0) != 0) continue;
        const std::string rest = name.substr(prefix.size());
        const auto base = results_.find(pair.family + "/" + pair.baseline + "/" + rest);
        if (base == results_.end()) continue;
        if (pair.higher_is_better) {
          out << fmt::format("  {:<28} {:>8.2f}x the events/s of {}\n", name,
                             result.items_per_second / base->second.items_per_second, pair.baseline);
        } else {
          out << fmt::format("  {:<28} {:>8.2f}x the time of {} ({:.2f} ns vs {:.2f} ns)\n", name,
                             result.time / base->second.time, pair.baseline, result.time, base->second.time);
        }
      }
    }
  }

 private:
  struct result {
    double time = 0;
    double items_per_second = 0;
  };
  std::vector<pairing> pairings_;
  std::map<std::string, result> results_;
  std::vector<std::string> order_;  // first-seen order, for printing
};

}  // namespace courier_bench
