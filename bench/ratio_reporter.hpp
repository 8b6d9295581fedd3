// A Google Benchmark reporter that, after the usual console table, pairs each
// subject with its baseline from the same run and prints the ratio: the
// machine is shared and noisy, so only side-by-side ratios are worth quoting.
//
// Names follow BM_<family>/<subject>/<arg>[/real_time]; a pairing says which
// subject is compared with which baseline within a family. With
// --benchmark_repetitions the medians are paired, otherwise single runs.
//
// For a family whose argument is a count (BM_publish/<subject>/<observers>),
// it also fits time = fixed + per_item * count by least squares over the
// counts >= 1, per subject: the form the bus targets are written in.
#pragma once

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <ostream>
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
  explicit ratio_reporter(std::vector<pairing> pairings, std::vector<std::string> fitted_families = {})
      : pairings_(std::move(pairings)), fitted_families_(std::move(fitted_families)) {}

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
    for (const auto& family : fitted_families_) print_fits(out, family);
  }

 private:
  // Per subject of family: the least-squares line through (count, time).
  void print_fits(std::ostream& out, const std::string& family) const {
    struct sums {
      double n = 0, x = 0, y = 0, xx = 0, xy = 0;
      std::string counts;
    };
    std::vector<std::pair<std::string, sums>> subjects;  // in first-seen order
    for (const auto& name : order_) {
      if (name.rfind(family + "/", 0) != 0) continue;
      const auto slash = name.rfind('/');
      const std::string subject = name.substr(family.size() + 1, slash - family.size() - 1);
      const double count = std::stod(name.substr(slash + 1));
      if (count < 1) continue;
      auto found = std::find_if(subjects.begin(), subjects.end(),
                                [&](const auto& each) { return each.first == subject; });
      if (found == subjects.end()) found = subjects.insert(subjects.end(), {subject, sums{}});
      const double time = results_.at(name).time;
      sums& s = found->second;
      s.n += 1;
      s.x += count;
      s.y += time;
      s.xx += count * count;
      s.xy += count * time;
      s.counts += (s.counts.empty() ? "" : ", ") + name.substr(slash + 1);
    }
    if (subjects.empty()) return;
    out << fmt::format("\nFixed cost + cost per item, least squares ({}):\n", family);
    for (const auto& [subject, s] : subjects) {
      const double denominator = s.n * s.xx - s.x * s.x;
      if (s.n < 2 || denominator == 0) continue;
      const double per_item = (s.n * s.xy - s.x * s.y) / denominator;
      const double fixed = (s.y - per_item * s.x) / s.n;
      out << fmt::format("  {:<20} {:>7.2f} ns + {:>5.2f} ns per item (counts {})\n", subject, fixed,
                         per_item, s.counts);
    }
  }

  struct result {
    double time = 0;
    double items_per_second = 0;
  };
  std::vector<pairing> pairings_;
  std::vector<std::string> fitted_families_;
  std::map<std::string, result> results_;
  std::vector<std::string> order_;  // first-seen order, for printing
};

}  // namespace courier_bench
