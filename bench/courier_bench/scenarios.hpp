// The scenarios courier-bench runs, one function per transport. Each runs
// one guarantee level with the settings' faults, checks it with a ledger,
// and returns the result.
#pragma once

#include "ledger.hpp"
#include "settings.hpp"

#include <boost/describe.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace courier_bench {

// What every scenario sends: which message it is, and when it was sent.
struct bench_message {
  std::uint64_t number = 0;
  std::int64_t sent_ns = 0;
};
BOOST_DESCRIBE_STRUCT(bench_message, (), (number, sent_ns))

// Called about every 100 ms while a scenario runs: messages done so far.
using progress_fn = std::function<void(std::size_t done)>;

// In-process: at-most-once on a courier::bus (post), the others on a
// courier::channel; with transport::sqlite, every level on a durable channel.
result run_local(level guarantee, const settings& chosen, const progress_fn& progress);

// Over SQS (sqs::channel on a queue the run creates and deletes).
result run_sqs(level guarantee, const settings& chosen, const progress_fn& progress);

}  // namespace courier_bench
