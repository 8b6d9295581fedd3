#include "settings.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string_view>

namespace courier_bench {

const char* name_of(transport which) {
  switch (which) {
    case transport::in_process:
      return "in-process";
    case transport::sqlite:
      return "sqlite";
    case transport::sqs:
      return "sqs";
    case transport::ws:
      return "ws";
  }
  return "?";
}

const char* name_of(level which) {
  switch (which) {
    case level::at_most_once:
      return "at-most-once";
    case level::at_least_once:
      return "at-least-once";
    case level::exactly_once:
      return "exactly-once";
    case level::fifo:
      return "fifo";
  }
  return "?";
}

const char* usage() {
  return "usage: courier-bench [options]\n"
         "  Measures what each delivery guarantee costs and checks that it held.\n"
         "  --transport T        in-process (default), sqlite (a durable channel), sqs, ws (server and "
         "clients)\n"
         "  --endpoint URL       sqs: the SQS endpoint (moto_server, or AWS with the usual credentials)\n"
         "  --store S            sqs: the exactly-once levels' applied keys in memory (default) or in a\n"
         "                       DynamoDB table the run makes (dynamodb: the store consumers on several\n"
         "                       hosts share; AWS_ENDPOINT_URL_DYNAMODB, else the --endpoint)\n"
         "  --file PATH          sqlite: the store (default: a temporary file)\n"
         "  --levels L,...       at-most-once,at-least-once,exactly-once,fifo (default: all)\n"
         "  --messages N         per scenario (default: 200000 in-process, 100000 sqlite, 20000 ws, 300 "
         "sqs)\n"
         "  --groups G           FIFO message groups (default 16)\n"
         "  --rate R             messages/s the producer paces to (default: as fast as it can)\n"
         "  --duplicate-rate P   a send repeated with the same key (0..1)\n"
         "  --failure-rate P     a consumer throws (nack)\n"
         "  --lost-ack-rate P    a consumer applies and never acks\n"
         "  --expire-rate P      a delivery's visibility runs out while the consumer works\n"
         "  --drop-rate P        the consumer's connection drops (ws)\n"
         "  --seed S             seed of every fault (default 1)\n"
         "  --json FILE          write the results as JSON\n"
         "  --plot FILE.svg      draw throughput and latency per scenario\n"
         "  --durable [--kills N]  the crash run: SIGKILL a worker on a durable channel N times (default "
         "100,\n"
         "                       20000 messages)\n"
         "  --quiet              no progress lines\n"
         "  --help\n"
         "Exit: 0 every guarantee held, 1 one was broken (or the run failed), 2 bad arguments.\n";
}

namespace {

std::size_t count_of(std::string_view flag, std::string_view text) {
  std::size_t value = 0;
  const auto [end, failure] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (failure != std::errc() || end != text.data() + text.size() || value == 0) {
    throw usage_error(fmt::format("{} {}: not a positive whole number", flag, text));
  }
  return value;
}

double rate_of(std::string_view flag, std::string_view text) {
  double value = 0;
  const auto [end, failure] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (failure != std::errc() || end != text.data() + text.size() || !(value >= 0 && value <= 1)) {
    throw usage_error(fmt::format("{} {}: not a rate between 0 and 1", flag, text));
  }
  return value;
}

std::vector<level> levels_of(std::string_view text) {
  std::vector<level> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    bool known = false;
    for (level each : {level::at_most_once, level::at_least_once, level::exactly_once, level::fifo}) {
      if (name == name_of(each)) {
        out.push_back(each);
        known = true;
      }
    }
    if (!known) throw usage_error(fmt::format("--levels: unknown level '{}'", name));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  if (out.empty()) throw usage_error("--levels: name at least one level");
  return out;
}

}  // namespace

settings parse(int argc, const char* const* argv) {
  settings chosen;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") throw usage_error("");
    if (flag == "--durable") {
      chosen.durable_crash = true;
      continue;
    }
    if (flag == "--quiet") {
      chosen.quiet = true;
      continue;
    }
    if (i + 1 >= argc) throw usage_error(fmt::format("{} needs a value", flag));
    const std::string_view value = argv[++i];
    if (flag == "--transport") {
      if (value == "in-process") {
        chosen.transport = transport::in_process;
      } else if (value == "sqlite") {
        chosen.transport = transport::sqlite;
      } else if (value == "sqs") {
        chosen.transport = transport::sqs;
      } else if (value == "ws") {
        chosen.transport = transport::ws;
      } else {
        throw usage_error(fmt::format("--transport {}: expected in-process, sqlite, sqs or ws", value));
      }
    } else if (flag == "--endpoint") {
      chosen.endpoint = value;
    } else if (flag == "--store") {
      if (value != "memory" && value != "dynamodb") {
        throw usage_error(fmt::format("--store {}: expected memory or dynamodb", value));
      }
      chosen.store = value;
    } else if (flag == "--file") {
      chosen.file = value;
    } else if (flag == "--levels") {
      chosen.levels = levels_of(value);
    } else if (flag == "--messages") {
      chosen.messages = count_of(flag, value);
    } else if (flag == "--rate") {
      chosen.rate = static_cast<double>(count_of(flag, value));
    } else if (flag == "--groups") {
      chosen.groups = count_of(flag, value);
    } else if (flag == "--kills") {
      chosen.kills = count_of(flag, value);
    } else if (flag == "--duplicate-rate") {
      chosen.faults.duplicate_send = rate_of(flag, value);
    } else if (flag == "--failure-rate") {
      chosen.faults.consumer_failure = rate_of(flag, value);
    } else if (flag == "--lost-ack-rate") {
      chosen.faults.lost_ack = rate_of(flag, value);
    } else if (flag == "--expire-rate") {
      chosen.faults.expired = rate_of(flag, value);
    } else if (flag == "--drop-rate") {
      chosen.faults.dropped = rate_of(flag, value);
    } else if (flag == "--seed") {
      chosen.faults.seed = count_of(flag, value);
    } else if (flag == "--json") {
      chosen.json_file = value;
    } else if (flag == "--plot") {
      chosen.svg_file = value;
    } else {
      throw usage_error(fmt::format("unknown option {}", flag));
    }
  }
  if (chosen.transport == transport::sqs && chosen.endpoint.empty()) {
    throw usage_error("--transport sqs needs --endpoint URL");
  }
  if (chosen.transport != transport::sqs && !chosen.endpoint.empty()) {
    throw usage_error("--endpoint is for --transport sqs");
  }
  if (chosen.store != "memory" && chosen.transport != transport::sqs) {
    throw usage_error("--store is for --transport sqs");
  }
  if (chosen.faults.dropped > 0 && chosen.transport != transport::ws) {
    throw usage_error("--drop-rate: only --transport ws drops connections");
  }
  if (chosen.messages == 0 && chosen.durable_crash) {
    // The crash run paces its sends over the kills: tens of thousands, not
    // the scenarios' hundreds of thousands.
    chosen.messages = 20'000;
  }
  if (chosen.messages == 0) {
    chosen.messages = chosen.transport == transport::in_process ? 200'000
                      : chosen.transport == transport::sqlite   ? 100'000
                      : chosen.transport == transport::ws       ? 20'000
                                                                : 300;
  }
  return chosen;
}

}  // namespace courier_bench
