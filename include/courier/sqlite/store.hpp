// courier::sqlite::store: one SQLite file (WAL mode) that keeps durable
// channels and applied idempotency keys, so they survive a crash.
//
//   auto store = courier::sqlite::store::open("parcels.db");
//   courier::channel<pickup> pickups({.ordering = courier::ordering::fifo,
//                                     .durable = courier::sqlite::durable<pickup>(store, "pickups")});
//
// Why SQLite: it is the most tested embedded store there is, and its
// transactions give what a channel needs (a message accepted and its key
// recorded together, a dead letter moved in one step). Not a log format of
// our own.
//
// How it writes. One thread per store writes the journals of all its
// channels: it takes every change recorded since its last transaction and
// commits them in one (group commit), so a commit's cost is shared by all
// the sends it holds. See sync_policy for when a send returns.
//
// One process at a time: the store holds SQLite's exclusive lock while open,
// so a second process (or a second store in this one) opening the same file
// fails with errc::storage_failed instead of interleaving writes. SIGKILL
// releases the lock with the process.
//
// What open() refuses, with errc::invalid_store, never resetting anything:
// a file that is not SQLite, an SQLite database of another application, one
// written by a newer courier, one that fails SQLite's quick_check (corrupt).
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/metrics.hpp"
#include "courier/sqlite/store_stats.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct sqlite3;

namespace courier {
inline namespace v1 {
namespace sqlite {

enum class sync_policy {
  // Each send is its own transaction, synced to disk (fsync) before send()
  // returns: the slowest, and the simplest to reason about.
  every_send,
  // Sends wait for the transaction that holds them; the writer commits
  // whatever was recorded while the previous commit ran (plus
  // commit_delay), synced to disk. Durable like every_send, at a fraction
  // of the cost when several sends (or send_batch) are in flight.
  group_commit,
  // send() does not wait and SQLite does not sync: a crash of the process
  // loses nothing the writer already committed, a crash of the machine may
  // lose the last transactions. For measuring, or data that can be lost.
  off,
};

struct store_options {
  sync_policy sync = sync_policy::group_commit;
  // group_commit: how long the writer waits for more changes after the
  // first before it commits. Zero: commit at once (batches still form while
  // a commit runs).
  std::chrono::microseconds commit_delay = {};
  // Changes one transaction holds at most.
  std::size_t max_batch = 8192;
  // How often settled messages whose dedup window has passed are deleted.
  std::chrono::milliseconds retention_interval = std::chrono::seconds(1);
  // Run SQLite's quick_check when opening (reads the whole file once).
  bool verify_on_open = true;
  // Largest size the file may grow to, in bytes; 0: no limit. Past it a
  // write fails as it would on a full disk (SQLITE_FULL).
  std::uint64_t max_size = 0;
  // Where the store reports its figures (store_stats), labelled
  // db_system_name="sqlite" and db_namespace=the file's path.
  std::shared_ptr<metrics_registry> metrics = {};
};

class store : public std::enable_shared_from_this<store> {
 public:
  // Opens (or creates) the store at path. Throws courier::error:
  // invalid_store (see the header comment), storage_failed (cannot be
  // opened or written: a missing directory, a read-only file, in use).
  static std::shared_ptr<store> open(const std::filesystem::path& path, store_options options = {});

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // The journal of the channel called name (created on first use). Each
  // channel of a store has its own name; its dead letters are name + ".dead".
  // Throws invalid_option when a journal of that name is already open.
  std::shared_ptr<channel_journal> journal(std::string_view name);

  // Runs work with the store's connection, with no other use of it (the
  // writer's transactions included) in between. For applications that keep
  // their own tables in the same file; see idempotent_store for doing so in
  // one transaction with an applied key. work must not send to a durable
  // channel of this store (the send would wait for the writer, which waits
  // for work).
  void with_connection(const std::function<void(sqlite3*)>& work);

  // What the writer did so far, and the file's size now. Thread-safe.
  store_stats stats() const;

  const std::filesystem::path& path() const noexcept;
  const store_options& options() const noexcept;

  class impl;

 private:
  explicit store(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
  metrics_registry::registration metrics_;  // reset first by the destructor
};

}  // namespace sqlite
}  // namespace v1
}  // namespace courier
