// courier-bench's command line: what to run, on which transport, with which
// faults, and where to write the results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace courier_bench {

enum class transport { in_process, sqlite, sqs, ws };

// The guarantee levels, weakest first. Each scenario runs one.
enum class level { at_most_once, at_least_once, exactly_once, fifo };

const char* name_of(transport which);
const char* name_of(level which);

// Each fault as a probability per send (duplicate) or per delivery (the
// rest), decided by courier::testing::fault_dice from one seed.
struct fault_rates {
  double duplicate_send = 0;    // the producer sends again with the same key (a lost response)
  double consumer_failure = 0;  // the consumer throws: nack, delivered again
  double lost_ack = 0;          // the consumer applies, never acks: back after the visibility timeout
  double expired = 0;           // the delivery's visibility runs out while the consumer works
  double dropped = 0;           // the consumer's connection drops (ws)
  std::uint64_t seed = 1;

  bool any() const { return duplicate_send + consumer_failure + lost_ack + expired + dropped > 0; }
};

struct settings {
  courier_bench::transport transport = transport::in_process;
  std::vector<level> levels = {level::at_most_once, level::at_least_once, level::exactly_once, level::fifo};
  std::size_t messages = 0;  // 0: the transport's default
  std::size_t groups = 16;
  // Messages per second the producer paces itself to; 0: as fast as it can
  // (then latency is mostly time spent queued behind the backlog).
  double rate = 0;
  fault_rates faults;
  std::string endpoint;          // sqs
  std::string store = "memory";  // sqs: where the exactly-once levels keep applied keys (memory, dynamodb)
  std::string file;              // sqlite: the store (default: a temporary file)
  std::string json_file;         // --json
  std::string svg_file;          // --plot
  bool durable_crash = false;    // --durable: the SIGKILL crash run instead of the scenarios
  std::size_t kills = 100;       // --durable
  bool quiet = false;            // no progress lines
};

// Bad arguments: main prints the message and the usage, exits 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

settings parse(int argc, const char* const* argv);
const char* usage();

}  // namespace courier_bench
