// courier-bench's output: the table a person reads, the JSON a script
// reads, and an SVG chart of throughput and latency per scenario.
#pragma once

#include "ledger.hpp"
#include "settings.hpp"

#include <string>
#include <vector>

namespace courier_bench {

std::string table(const std::vector<result>& results);
std::string json(const settings& chosen, const std::vector<result>& results);
// A self-contained SVG: bars of messages/s (left) and p50/p99/p99.9 latency
// on a log scale (right), one group of bars per scenario.
std::string svg(const std::vector<result>& results);

// Writes text to path; throws std::runtime_error naming the file on failure.
void write_file(const std::string& path, const std::string& text);

}  // namespace courier_bench
