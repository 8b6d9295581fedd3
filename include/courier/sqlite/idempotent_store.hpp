// courier::sqlite::idempotent_store: the applied keys of a consumer, kept in
// a courier::sqlite::store, so an exactly-once effect survives a crash.
//
// The in-memory store (courier::memory_idempotent_store) forgets what it
// applied when the process dies, and a consumer that dies between its effect
// and marking the key applies it again after the restart. This store closes
// that gap for effects that live in the same SQLite file: apply_in_transaction
// runs the effect and records the key in one transaction, so both happen or
// neither does.
//
//   courier::sqlite::idempotent_store applied(store, "shipping");
//   applied.apply_in_transaction(delivery.message().key, [&](sqlite3* db) {
//     insert_shipment(db, delivery.message());  // the consumer's own table
//   });
//
// Effects elsewhere (an HTTP call, another database) use apply_once() from
// the idempotent_store interface: the key is recorded after the effect
// returns, as with the in-memory store.
//
// Keys are kept for retention after they were applied, then deleted. The
// store keeps keys only: payloads are not compared and results not kept
// (see courier/idempotent_store.hpp); claims do not expire (one host: the
// file is not shared across machines; for that, courier::dynamodb).
// Thread-safe.
#pragma once

#include "courier/idempotent_store.hpp"
#include "courier/sqlite/store.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

struct sqlite3;

namespace courier {
inline namespace v1 {
namespace sqlite {

class idempotent_store final : public courier::idempotent_store {
 public:
  // scope separates the keys of different consumers in one store.
  explicit idempotent_store(std::shared_ptr<store> in, std::string scope = "default",
                            std::chrono::milliseconds retention = std::chrono::hours(24));

  // Runs effect with the store's connection inside a transaction that also
  // records key as applied, unless key was applied before (then nothing
  // runs: already_applied). If effect throws, the transaction rolls back,
  // the key stays unapplied and the exception propagates. effect must only
  // use the database: it runs while the store's connection is held (see
  // store::with_connection). Throws courier::error (storage_failed) when
  // the transaction cannot be committed; then nothing was applied.
  apply_outcome apply_in_transaction(std::string_view key, const std::function<void(sqlite3*)>& effect);

  // Whether key was applied within the retention.
  bool applied(std::string_view key);

 private:
  // The idempotent_store interface (see courier/idempotent_store.hpp).
  claim do_begin(const claim_request& request) override;
  void do_commit(std::string_view key, std::string_view result) override;
  void do_abort(std::string_view key) override;

  bool applied_locked(sqlite3* db, std::string_view key);
  void record_locked(sqlite3* db, std::string_view key);

  std::shared_ptr<store> store_;
  const std::string scope_;
  const std::chrono::milliseconds retention_;
  std::mutex in_progress_mutex_;
  std::set<std::string, std::less<>> in_progress_;
  std::int64_t next_purge_ = 0;
};

}  // namespace sqlite
}  // namespace v1
}  // namespace courier
