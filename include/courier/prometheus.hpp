// courier/prometheus.hpp: a metric_set in the Prometheus text exposition
// format (version 0.0.4, what every Prometheus scrapes and `promtool check
// metrics` checks): HELP and TYPE lines, one line per sample, histograms as
// _bucket (cumulative, le="+Inf" last), _sum and _count.
#pragma once

#include "courier/metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace detail {

inline void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

inline std::string prometheus_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

// {a="1",b="2"} with extra (le="...") last; nothing when there are no labels.
inline void append_labels(std::string& out, const metric_sample& sample, std::string_view extra_name = {},
                          std::string_view extra_value = {}) {
  if (sample.labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  };
  for (const auto& [name, value] : sample.labels) one(name, value);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out += '}';
}

}  // namespace detail

// The exposition of every family in metrics, in the order they were added.
// Thread-safe (it reads only its argument).
inline std::string render_prometheus(const metric_set& metrics) {
  std::string out;
  for (const auto& family : metrics.families()) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    detail::append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += family.name;
    out += family.type == metric_type::counter ? " counter\n"
           : family.type == metric_type::gauge ? " gauge\n"
                                               : " histogram\n";
    for (const auto& sample : family.samples) {
      if (family.type != metric_type::histogram) {
        out += family.name;
        detail::append_labels(out, sample);
        out += ' ';
        out += detail::prometheus_number(sample.value);
        out += '\n';
        continue;
      }
      for (const auto& [bound, count] : sample.buckets) {
        out += family.name;
        out += "_bucket";
        detail::append_labels(out, sample, "le", detail::prometheus_number(bound));
        out += fmt::format(" {}\n", count);
      }
      out += family.name;
      out += "_bucket";
      detail::append_labels(out, sample, "le", "+Inf");
      out += fmt::format(" {}\n", sample.count);
      out += family.name;
      out += "_sum";
      detail::append_labels(out, sample);
      out += ' ';
      out += detail::prometheus_number(sample.sum);
      out += '\n';
      out += family.name;
      out += "_count";
      detail::append_labels(out, sample);
      out += fmt::format(" {}\n", sample.count);
    }
  }
  return out;
}

}  // namespace v1
}  // namespace courier
