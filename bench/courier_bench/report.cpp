#include "report.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace courier_bench {

namespace {

std::string latency(double us) {
  if (us >= 1000) return fmt::format("{:.1f} ms", us / 1000);
  return fmt::format("{:.1f} us", us);
}

std::string rate(double per_second) {
  if (per_second >= 1e6) return fmt::format("{:.2f} M/s", per_second / 1e6);
  if (per_second >= 1e3) return fmt::format("{:.1f} k/s", per_second / 1e3);
  return fmt::format("{:.0f} /s", per_second);
}

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string table(const std::vector<result>& results) {
  std::string out = fmt::format("{:<14} {:<12} {:>9} {:>11} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}  {}\n",
                                "scenario", "transport", "messages", "rate", "p50", "p99", "p99.9", "lost",
                                "dup", "reord", "dead", "guarantee");
  for (const result& each : results) {
    out += fmt::format("{:<14} {:<12} {:>9} {:>11} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6}  {}\n", each.scenario,
                       each.transport, each.messages, rate(each.per_second), latency(each.p50_us),
                       latency(each.p99_us), latency(each.p999_us), each.lost, each.duplicated,
                       each.order_checked ? std::to_string(each.reordered) : std::string("-"), each.dead_lettered,
                       each.held ? "held" : "BROKEN: " + each.broken);
  }
  return out;
}

std::string json(const settings& chosen, const std::vector<result>& results) {
  boost::json::array rows;
  for (const result& each : results) {
    rows.push_back(boost::json::object{
        {"scenario", each.scenario},
        {"transport", each.transport},
        {"messages", each.messages},
        {"seconds", each.seconds},
        {"messages_per_second", each.per_second},
        {"p50_us", each.p50_us},
        {"p99_us", each.p99_us},
        {"p999_us", each.p999_us},
        {"lost", each.lost},
        {"duplicated", each.duplicated},
        {"reordered", each.order_checked ? boost::json::value(each.reordered) : boost::json::value(nullptr)},
        {"dead_lettered", each.dead_lettered},
        {"faults_injected", each.faults_injected},
        {"guarantee_held", each.held},
        {"broken", each.broken},
    });
  }
  boost::json::object faults{
      {"seed", chosen.faults.seed},
      {"duplicate_send", chosen.faults.duplicate_send},
      {"consumer_failure", chosen.faults.consumer_failure},
      {"lost_ack", chosen.faults.lost_ack},
      {"expired", chosen.faults.expired},
      {"dropped", chosen.faults.dropped},
  };
  boost::json::object document{
      {"tool", "courier-bench"},
      {"transport", name_of(chosen.transport)},
      {"groups", chosen.groups},
      {"faults", std::move(faults)},
      {"scenarios", std::move(rows)},
  };
  return boost::json::serialize(document) + "\n";
}

std::string svg(const std::vector<result>& results) {
  // Two panels side by side; a scenario's bars in each.
  const double panel_width = 420;
  const double panel_height = 260;
  const double left = 70;
  const double top = 40;
  const double gap = 90;
  const double width = left + panel_width + gap + panel_width + 30;
  const double height = top + panel_height + 90;
  const std::size_t n = std::max<std::size_t>(results.size(), 1);
  const double slot = panel_width / static_cast<double>(n);

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} "
      "{1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);

  // Throughput, linear from 0.
  double most = 1;
  for (const result& each : results) most = std::max(most, each.per_second);
  out += fmt::format("<text x=\"{:.0f}\" y=\"22\" font-size=\"14\">messages per second</text>\n", left);
  out += fmt::format("<line x1=\"{0:.0f}\" y1=\"{1:.0f}\" x2=\"{0:.0f}\" y2=\"{2:.0f}\" stroke=\"black\"/>\n", left,
                     top, top + panel_height);
  out += fmt::format("<line x1=\"{0:.0f}\" y1=\"{1:.0f}\" x2=\"{2:.0f}\" y2=\"{1:.0f}\" stroke=\"black\"/>\n", left,
                     top + panel_height, left + panel_width);
  for (int tick = 0; tick <= 4; ++tick) {
    const double value = most * tick / 4;
    const double y = top + panel_height - panel_height * tick / 4;
    out += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" text-anchor=\"end\">{}</text>\n", left - 6, y + 4,
                       rate(value));
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const result& each = results[i];
    const double bar = panel_height * each.per_second / most;
    const double x = left + slot * static_cast<double>(i) + slot * 0.2;
    out += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
        x, top + panel_height - bar, slot * 0.6, bar, each.held ? "#4c78a8" : "#e45756", escape_xml(each.scenario),
        rate(each.per_second));
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.0f}\" text-anchor=\"middle\">{}</text>\n", x + slot * 0.3,
                       top + panel_height + 16, escape_xml(each.scenario));
  }

  // Latency, log scale in microseconds.
  const double origin = left + panel_width + gap;
  double low = 1e9;
  double high = 1;
  for (const result& each : results) {
    for (double value : {each.p50_us, each.p99_us, each.p999_us}) {
      if (value > 0) {
        low = std::min(low, value);
        high = std::max(high, value);
      }
    }
  }
  const double decade_low = std::floor(std::log10(std::min(low, high)));
  const double decade_high = std::max(decade_low + 1, std::ceil(std::log10(high)));
  auto y_of = [&](double us) {
    const double position = (std::log10(std::max(us, std::pow(10.0, decade_low))) - decade_low) /
                            (decade_high - decade_low);
    return top + panel_height - panel_height * position;
  };
  out += fmt::format("<text x=\"{:.0f}\" y=\"22\" font-size=\"14\">latency, send to first apply (log)</text>\n",
                     origin);
  out += fmt::format("<line x1=\"{0:.0f}\" y1=\"{1:.0f}\" x2=\"{0:.0f}\" y2=\"{2:.0f}\" stroke=\"black\"/>\n", origin,
                     top, top + panel_height);
  out += fmt::format("<line x1=\"{0:.0f}\" y1=\"{1:.0f}\" x2=\"{2:.0f}\" y2=\"{1:.0f}\" stroke=\"black\"/>\n", origin,
                     top + panel_height, origin + panel_width);
  for (double decade = decade_low; decade <= decade_high; ++decade) {
    const double us = std::pow(10.0, decade);
    out += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" text-anchor=\"end\">{}</text>\n", origin - 6, y_of(us) + 4,
                       latency(us));
  }
  const char* colours[] = {"#72b7b2", "#f58518", "#b279a2"};
  const char* names[] = {"p50", "p99", "p99.9"};
  for (std::size_t i = 0; i < results.size(); ++i) {
    const result& each = results[i];
    const double values[] = {each.p50_us, each.p99_us, each.p999_us};
    for (int k = 0; k < 3; ++k) {
      const double x = origin + slot * static_cast<double>(i) + slot * (0.15 + 0.23 * k);
      const double y = y_of(values[k]);
      out += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} {}: "
          "{}</title></rect>\n",
          x, y, slot * 0.2, top + panel_height - y, colours[k], escape_xml(each.scenario), names[k],
          latency(values[k]));
    }
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.0f}\" text-anchor=\"middle\">{}</text>\n",
                       origin + slot * (static_cast<double>(i) + 0.5), top + panel_height + 16,
                       escape_xml(each.scenario));
  }
  for (int k = 0; k < 3; ++k) {
    const double x = origin + 110.0 * k;
    out += fmt::format("<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"12\" height=\"12\" fill=\"{}\"/>", x,
                       top + panel_height + 40, colours[k]);
    out += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\">{}</text>\n", x + 18, top + panel_height + 50, names[k]);
  }
  std::string transport = results.empty() ? "" : results.front().transport;
  out += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\">courier-bench, transport {}; red bar: a guarantee broke</text>\n",
                     left, top + panel_height + 50, escape_xml(transport));
  out += "</svg>\n";
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  out << text;
  if (!out.flush()) throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
}

}  // namespace courier_bench
