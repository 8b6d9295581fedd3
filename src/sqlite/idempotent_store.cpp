// courier::sqlite::idempotent_store (see its header).
#include "courier/sqlite/idempotent_store.hpp"

#include "courier/error.hpp"
#include "statement.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

namespace courier {
inline namespace v1 {
namespace sqlite {

namespace {

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

idempotent_store::idempotent_store(std::shared_ptr<store> in, std::string scope,
                                   std::chrono::milliseconds retention)
    : store_(std::move(in)), scope_(std::move(scope)), retention_(retention) {
  if (!store_) throw error(errc::invalid_option, "sqlite::idempotent_store: no store");
}

bool idempotent_store::applied_locked(sqlite3* db, std::string_view key) {
  detail::statement query(db, "SELECT applied_at FROM courier_applied WHERE scope = ? AND key = ?");
  query.bind(1, std::string_view(scope_)).bind(2, key);
  return query.step() && query.integer(0) + retention_.count() > wall_now_ms();
}

// Records key (inside the caller's transaction), and now and then deletes
// the keys past their retention.
void idempotent_store::record_locked(sqlite3* db, std::string_view key) {
  const std::int64_t now = wall_now_ms();
  detail::statement add(db, "INSERT OR REPLACE INTO courier_applied(scope, key, applied_at) VALUES(?, ?, ?)");
  add.bind(1, std::string_view(scope_)).bind(2, key).bind(3, now).run();
  if (now >= next_purge_) {
    next_purge_ = now + 1000;
    detail::statement purge(db, "DELETE FROM courier_applied WHERE scope = ? AND applied_at <= ?");
    purge.bind(1, std::string_view(scope_)).bind(2, now - retention_.count()).run();
  }
}

apply_outcome idempotent_store::apply_in_transaction(std::string_view key,
                                                     const std::function<void(sqlite3*)>& effect) {
  apply_outcome outcome = apply_outcome::applied;
  store_->with_connection([&](sqlite3* db) {
    detail::exec(db, "BEGIN IMMEDIATE");
    try {
      if (applied_locked(db, key)) {
        outcome = apply_outcome::already_applied;
        detail::exec(db, "ROLLBACK");
        return;
      }
      effect(db);
      record_locked(db, key);
      detail::exec(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  });
  return outcome;
}

bool idempotent_store::applied(std::string_view key) {
  bool found = false;
  store_->with_connection([&](sqlite3* db) { found = applied_locked(db, key); });
  return found;
}

claim idempotent_store::do_begin(const claim_request& request) {
  if (applied(request.key)) return {apply_outcome::already_applied, {}};
  std::lock_guard lock(in_progress_mutex_);
  if (!in_progress_.emplace(request.key).second) return {apply_outcome::busy, {}};
  return {};
}

void idempotent_store::do_commit(std::string_view key, std::string_view /*result: not kept*/) {
  store_->with_connection([&](sqlite3* db) {
    detail::exec(db, "BEGIN IMMEDIATE");
    try {
      record_locked(db, key);
      detail::exec(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  });
  do_abort(key);  // no longer in progress
}

void idempotent_store::do_abort(std::string_view key) {
  std::lock_guard lock(in_progress_mutex_);
  if (const auto found = in_progress_.find(key); found != in_progress_.end()) in_progress_.erase(found);
}

}  // namespace sqlite
}  // namespace v1
}  // namespace courier
