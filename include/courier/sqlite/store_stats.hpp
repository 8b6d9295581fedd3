// A store's figures (store::stats()): what its writer did, and how big
// the file is.
#pragma once

#include "courier/latency_histogram.hpp"

#include <cstdint>

namespace courier {
inline namespace v1 {
namespace sqlite {

struct store_stats {
  std::uint64_t transactions = 0;         // committed by the writer
  std::uint64_t failed_transactions = 0;  // rolled back (a full disk, an I/O error): their changes retried
  std::uint64_t changes_written = 0;      // sends, deliveries, acks... committed
  std::uint64_t pending_changes = 0;      // recorded, waiting for the writer
  // One transaction from BEGIN to COMMIT, the sync to disk included.
  latency_histogram commit_duration = {};
  std::uint64_t file_bytes = 0;  // the database file and its write-ahead log
};

}  // namespace sqlite
}  // namespace v1
}  // namespace courier
