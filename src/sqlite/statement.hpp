// Small RAII wrappers over SQLite's C API, for courier::sqlite's sources
// only: a connection's errors as courier::error, and prepared statements.
#pragma once

#include "courier/error.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace sqlite::detail {

// SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR and the like: the store cannot
// write. SQLITE_CORRUPT, SQLITE_NOTADB: the file is not what it should be.
inline errc code_of(int result) {
  switch (result & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return errc::invalid_store;
    default:
      return errc::storage_failed;
  }
}

[[noreturn]] inline void fail(sqlite3* db, int result, std::string_view doing) {
  std::string message(doing);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(result);
  message += " (SQLite ";
  message += std::to_string(result);
  message += ")";
  throw error(code_of(result), message);
}

inline void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  const int result = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (result != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(result);
    sqlite3_free(message);
    throw error(code_of(result), std::string(sql) + ": " + text);
  }
}

class statement {
 public:
  statement() = default;
  statement(sqlite3* db, std::string_view sql) : db_(db) {
    const int result = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &handle_, nullptr);
    if (result != SQLITE_OK) fail(db, result, std::string("preparing ") + std::string(sql));
  }
  statement(statement&& other) noexcept : db_(other.db_), handle_(other.handle_) { other.handle_ = nullptr; }
  statement& operator=(statement&& other) noexcept {
    std::swap(db_, other.db_);
    std::swap(handle_, other.handle_);
    return *this;
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(handle_); }

  statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(handle_, index, value));
    return *this;
  }
  statement& bind(int index, std::uint64_t value) { return bind(index, static_cast<std::int64_t>(value)); }
  statement& bind(int index, std::string_view text) {
    check(sqlite3_bind_text(handle_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
    return *this;
  }
  statement& bind_blob(int index, std::string_view bytes) {
    check(sqlite3_bind_blob(handle_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC));
    return *this;
  }

  // Steps once: true while it yields rows. Throws on an error.
  bool step() {
    const int result = sqlite3_step(handle_);
    if (result == SQLITE_ROW) return true;
    if (result == SQLITE_DONE) return false;
    const std::string sql = sqlite3_sql(handle_);
    sqlite3_reset(handle_);
    fail(db_, result, sql);
  }
  // Runs a statement that yields no rows, then resets it for the next use.
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(handle_);
    sqlite3_clear_bindings(handle_);
  }

  std::int64_t integer(int column) const { return sqlite3_column_int64(handle_, column); }
  std::string_view text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(handle_, column));
    return {data != nullptr ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(handle_, column))};
  }
  std::string_view blob(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(handle_, column));
    return {data != nullptr ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(handle_, column))};
  }

 private:
  void check(int result) {
    if (result != SQLITE_OK) fail(db_, result, "binding a parameter");
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* handle_ = nullptr;
};

}  // namespace sqlite::detail
}  // namespace v1
}  // namespace courier
