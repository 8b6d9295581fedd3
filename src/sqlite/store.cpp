// courier::sqlite::store: the file, its schema, and the writer thread that
// commits the journals of its channels (see store.hpp).
#include "courier/sqlite/store.hpp"

#include "courier/error.hpp"
#include "statement.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqlite {

struct journal_state;

namespace {

// PRAGMA application_id of a courier store ("cour"): tells it apart from
// every other SQLite database.
constexpr std::int32_t courier_application_id = 0x636f7572;
// PRAGMA user_version: the schema's version. A newer one is refused; an
// older one is brought up to date when opened (see migrate()).
//   1: the first.
//   2: messages carry their W3C trace context (traceparent, tracestate).
constexpr std::int32_t format_version = 2;

// A message table's trace context columns (format 2).
constexpr const char* trace_columns =
    "traceparent TEXT NOT NULL DEFAULT '', tracestate TEXT NOT NULL DEFAULT ''";

// After a failed write, the writer waits this long before it tries again,
// so a full disk does not turn it into a busy loop.
constexpr auto retry_pause = std::chrono::milliseconds(50);

stored_time wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t single_integer(sqlite3* db, const char* sql) {
  detail::statement query(db, sql);
  if (!query.step()) return 0;
  return query.integer(0);
}

// One change recorded by a journal, waiting for the writer.
struct change {
  enum class kind : std::uint8_t { accepted, delivered, settled };
  kind what = kind::accepted;
  bool by_send = false;
  bool joined_to_next = false;  // written in the same transaction as the next change
  std::uint64_t ticket = 0;
  journal_state* journal = nullptr;
  stored_message
      message;  // accepted: all of it; delivered: id, receive_count, visible_at; settled: id, state
};

}  // namespace

// What the store knows of one channel's journal. Owned by the store, so the
// writer may still refer to it after the channel is gone.
struct journal_state {
  std::string name;
  std::string table;
  detail::statement insert;
  detail::statement deliver;
  detail::statement settle;
  detail::statement purge;
  detail::statement remove;
  detail::statement save_counters;
  std::chrono::milliseconds dedup_window{};
  bool open = false;  // a channel uses it now
  std::uint64_t last_id = 0;
  std::uint64_t last_sequence = 0;
  bool counters_changed = false;
  // Settled messages may be deleted once their dedup window has passed:
  // (highest id of a write, latest sent_at in it), oldest first.
  std::deque<std::pair<std::uint64_t, stored_time>> written;
  // The highest id a purge has covered. A message at or below it that is
  // settled only now (acked after its window passed) is deleted at once:
  // the purge that covered it found it unsettled and will not come back.
  std::uint64_t purged_through = 0;
  std::uint64_t last_ticket = 0;  // the newest change it recorded
  std::mutex callback_mutex;
  std::function<void(const journal_write&)> on_write;
};

class store::impl {
 public:
  impl(std::filesystem::path file, store_options chosen)
      : path(std::move(file)), options(std::move(chosen)) {}

  ~impl() {
    stop_writer();
    journals.clear();  // finalizes their statements before the connection closes
    sqlite3_close_v2(db);
  }

  void open_file();
  // Brings a store of an older format (from) up to this one. Inside the
  // open transaction: a crash leaves the old format whole.
  void migrate(std::int64_t from);
  journal_state& journal(std::string_view name);
  recovered_channel recover(journal_state& journal, std::chrono::milliseconds window);

  std::uint64_t record(change&& item) {
    std::lock_guard lock(buffer_mutex);
    return record_locked(std::move(item));
  }

  // Two changes that must be written in one transaction; returns the
  // first's ticket.
  std::uint64_t record_joined(change&& first, change&& second) {
    std::lock_guard lock(buffer_mutex);
    first.joined_to_next = true;
    const std::uint64_t ticket = record_locked(std::move(first));
    record_locked(std::move(second));
    return ticket;
  }

  std::uint64_t record_locked(change&& item) {
    item.ticket = ++last_ticket;
    item.journal->last_ticket = item.ticket;
    buffer.push_back(std::move(item));
    if (writer_idle) {
      writer_idle = false;
      buffer_cv.notify_one();
    }
    return last_ticket;
  }

  void wait_durable(std::uint64_t ticket) {
    if (options.sync == sync_policy::off) return;
    std::unique_lock lock(buffer_mutex);
    decided_cv.wait(lock, [&] { return decided_ticket >= ticket; });
    for (const auto& failed : failures) {
      if (ticket >= failed.first_ticket && ticket <= failed.last_ticket) {
        throw error(errc::storage_failed, fmt::format("writing to {}: {}", path.string(), failed.reason));
      }
    }
  }

  // Waits until every change of journal is decided, then stops calling it.
  void close_journal(journal_state& journal) {
    {
      std::unique_lock lock(buffer_mutex);
      decided_cv.wait(lock, [&] { return decided_ticket >= journal.last_ticket || writer_stopped; });
    }
    std::lock_guard lock(journal.callback_mutex);
    journal.on_write = nullptr;
    std::lock_guard registry(journals_mutex);
    journal.open = false;
  }

  std::uint64_t newest_ticket() {
    std::lock_guard lock(buffer_mutex);
    return last_ticket;
  }

  void start_writer() {
    writer = std::thread([this] { write_loop(); });
  }

  void stop_writer() {
    {
      std::lock_guard lock(buffer_mutex);
      stopping = true;
      buffer_cv.notify_one();
    }
    if (writer.joinable()) writer.join();
  }

  std::filesystem::path path;
  store_options options;
  sqlite3* db = nullptr;
  // Lock order: connection_mutex, then journals_mutex, then buffer_mutex.
  std::mutex connection_mutex;  // one user of db at a time

  std::mutex journals_mutex;
  std::map<std::string, std::unique_ptr<journal_state>, std::less<>> journals;

  // What the writer did so far, and the file's size now. Thread-safe.
  store_stats stats() {
    store_stats out;
    out.transactions = transactions.load(std::memory_order_relaxed);
    out.failed_transactions = failed_transactions.load(std::memory_order_relaxed);
    out.changes_written = changes_written.load(std::memory_order_relaxed);
    commit_duration.add_to(out.commit_duration);
    {
      std::lock_guard lock(buffer_mutex);
      out.pending_changes = buffer.size() + retry.size();
    }
    std::error_code ignored;
    for (const char* suffix : {"", "-wal"}) {
      const auto size = std::filesystem::file_size(path.string() + suffix, ignored);
      if (!ignored) out.file_bytes += size;
    }
    return out;
  }

 private:
  struct failure {
    std::uint64_t first_ticket;
    std::uint64_t last_ticket;
    std::string reason;
  };

  void write_loop();
  std::vector<change> take_batch(std::unique_lock<std::mutex>& lock);
  void write(std::vector<change>& batch);
  // A count only the writer adds to: no read-modify-write needed.
  static void bump(std::atomic<std::uint64_t>& count, std::uint64_t by) noexcept {
    count.store(count.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  void apply(change& item);
  // What a purge deleted in one journal: through this id, the first
  // `covered` entries of its written list.
  struct purge_done {
    journal_state* journal;
    std::uint64_t through;
    std::size_t covered;
  };
  std::vector<purge_done> purge_settled(stored_time now);
  void purged(const std::vector<purge_done>& done);
  void report(std::vector<change>& batch, const std::string& reason);

  std::mutex buffer_mutex;
  std::condition_variable buffer_cv;   // the writer waits for changes
  std::condition_variable decided_cv;  // senders wait for their ticket
  std::vector<change> buffer;
  std::vector<change> retry;  // changes of failed writes, written again first
  std::uint64_t last_ticket = 0;
  std::uint64_t decided_ticket = 0;
  std::deque<failure> failures;  // recent failed writes, for wait_durable
  bool writer_idle = false;
  bool stopping = false;
  bool writer_stopped = false;
  bool failed_while_stopping = false;  // the writer's own
  std::thread writer;
  // The writer's counts (it is their only writer; see store_stats).
  std::atomic<std::uint64_t> transactions{0};
  std::atomic<std::uint64_t> failed_transactions{0};
  std::atomic<std::uint64_t> changes_written{0};
  courier::detail::single_writer_histogram commit_duration;
  stored_time next_purge = 0;
};

void store::impl::open_file() {
  const std::string where = path.string();
  int result = sqlite3_open_v2(where.c_str(), &db,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (result != SQLITE_OK) detail::fail(db, result, fmt::format("opening {}", where));
  sqlite3_extended_result_codes(db, 1);
  if (sqlite3_db_readonly(db, "main") == 1) {
    throw error(errc::storage_failed, fmt::format("opening {}: the file is read-only", where));
  }
  // Held for as long as the store is open: no second writer can interleave.
  detail::exec(db, "PRAGMA locking_mode=EXCLUSIVE");
  std::int64_t application_id = 0;
  std::int64_t version = 0;
  std::int64_t tables = 0;
  try {
    application_id = single_integer(db, "PRAGMA application_id");
    version = single_integer(db, "PRAGMA user_version");
    tables = single_integer(db, "SELECT count(*) FROM sqlite_schema");
  } catch (const error& e) {
    if (e.code() == errc::invalid_store) {
      throw error(errc::invalid_store,
                  fmt::format("opening {}: not an SQLite database, or a corrupt one ({})", where, e.what()));
    }
    if (sqlite3_errcode(db) == SQLITE_BUSY) {
      throw error(errc::storage_failed, fmt::format("opening {}: in use by another store or process", where));
    }
    throw;
  }
  const bool fresh = application_id == 0 && tables == 0;
  if (!fresh && application_id != courier_application_id) {
    throw error(errc::invalid_store,
                fmt::format("opening {}: an SQLite database of another application (application_id {:#x}, "
                            "{} tables), not a courier store; refusing to touch it",
                            where, application_id, tables));
  }
  if (version > format_version) {
    throw error(errc::invalid_store,
                fmt::format("opening {}: written by a newer courier (format {}, this one reads {})", where,
                            version, format_version));
  }
  if (!fresh && options.verify_on_open) {
    detail::statement check(db, "PRAGMA quick_check");
    std::string problems;
    while (check.step()) {
      if (check.text(0) != "ok") problems += fmt::format("{}{}", problems.empty() ? "" : "; ", check.text(0));
    }
    if (!problems.empty()) {
      throw error(errc::invalid_store,
                  fmt::format("opening {}: the file is corrupt: {:.300}", where, problems));
    }
  }
  try {
    detail::exec(db, "PRAGMA journal_mode=WAL");
    detail::exec(db, options.sync == sync_policy::off ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL");
    // A checkpoint leaves the WAL file at this size at most, so the store's
    // files do not keep a burst's peak.
    detail::exec(db, "PRAGMA journal_size_limit=16777216");
    if (options.max_size != 0) {
      const std::int64_t page_size = single_integer(db, "PRAGMA page_size");
      detail::exec(db, fmt::format("PRAGMA max_page_count={}",
                                   std::max<std::uint64_t>(options.max_size / page_size, 1))
                           .c_str());
    }
    if (fresh) {
      detail::exec(db, "BEGIN IMMEDIATE");
      detail::exec(db, fmt::format("PRAGMA application_id={}", courier_application_id).c_str());
      detail::exec(db, fmt::format("PRAGMA user_version={}", format_version).c_str());
      detail::exec(db,
                   "CREATE TABLE courier_channels(name TEXT PRIMARY KEY, table_name TEXT NOT NULL UNIQUE, "
                   "last_id INTEGER NOT NULL, last_sequence INTEGER NOT NULL)");
      detail::exec(db,
                   "CREATE TABLE courier_applied(scope TEXT NOT NULL, key TEXT NOT NULL, "
                   "applied_at INTEGER NOT NULL, PRIMARY KEY(scope, key)) WITHOUT ROWID");
      detail::exec(db, "CREATE INDEX courier_applied_by_time ON courier_applied(applied_at)");
      detail::exec(db, "COMMIT");
    } else {
      // Takes the exclusive lock now rather than at the first write, and
      // brings an older format up to date in the same transaction.
      detail::exec(db, "BEGIN IMMEDIATE");
      try {
        migrate(version);
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
      detail::exec(db, "COMMIT");
    }
  } catch (const error& e) {
    if (sqlite3_errcode(db) == SQLITE_BUSY) {
      throw error(errc::storage_failed, fmt::format("opening {}: in use by another store or process", where));
    }
    throw error(static_cast<errc>(e.code().value()), fmt::format("opening {}: {}", where, e.what()));
  }
}

void store::impl::migrate(std::int64_t from) {
  if (from < 2) {
    std::vector<std::string> tables;
    detail::statement each(db, "SELECT table_name FROM courier_channels");
    while (each.step()) tables.emplace_back(each.text(0));
    for (const auto& table : tables) {
      // ADD COLUMN with a constant default rewrites nothing: old rows read ''.
      detail::exec(
          db, fmt::format("ALTER TABLE {} ADD COLUMN traceparent TEXT NOT NULL DEFAULT ''", table).c_str());
      detail::exec(
          db, fmt::format("ALTER TABLE {} ADD COLUMN tracestate TEXT NOT NULL DEFAULT ''", table).c_str());
    }
  }
  if (from < format_version) {
    detail::exec(db, fmt::format("PRAGMA user_version={}", format_version).c_str());
  }
}

journal_state& store::impl::journal(std::string_view name) {
  std::lock_guard connection(connection_mutex);
  std::lock_guard registry(journals_mutex);
  auto found = journals.find(name);
  if (found == journals.end()) {
    auto state = std::make_unique<journal_state>();
    state->name = std::string(name);
    detail::statement lookup(
        db, "SELECT table_name, last_id, last_sequence FROM courier_channels WHERE name = ?");
    lookup.bind(1, name);
    if (lookup.step()) {
      state->table = std::string(lookup.text(0));
      state->last_id = static_cast<std::uint64_t>(lookup.integer(1));
      state->last_sequence = static_cast<std::uint64_t>(lookup.integer(2));
    } else {
      // Table names are numbered, not derived from the channel's name, so
      // any name is safe.
      const std::int64_t number = single_integer(db, "SELECT count(*) FROM courier_channels") + 1;
      state->table = fmt::format("courier_messages_{}", number);
      detail::exec(db, "BEGIN IMMEDIATE");
      try {
        detail::exec(db, fmt::format("CREATE TABLE {}(id INTEGER PRIMARY KEY, sequence INTEGER NOT NULL, "
                                     "grp TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL, "
                                     "sent_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, "
                                     "receive_count INTEGER NOT NULL, state INTEGER NOT NULL, "
                                     "{})",
                                     state->table, trace_columns)
                             .c_str());
        detail::statement add(db, "INSERT INTO courier_channels VALUES(?, ?, 0, 0)");
        add.bind(1, name).bind(2, std::string_view(state->table)).run();
        detail::exec(db, "COMMIT");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
    }
    const std::string& table = state->table;
    state->insert = detail::statement(
        db,
        fmt::format("INSERT INTO {}(id, sequence, grp, key, body, sent_at, visible_at, receive_count, state, "
                    "traceparent, tracestate) VALUES(?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
                    table));
    state->deliver = detail::statement(
        db, fmt::format("UPDATE {} SET receive_count = ?, visible_at = ? WHERE id = ?", table));
    state->settle = detail::statement(db, fmt::format("UPDATE {} SET state = ? WHERE id = ?", table));
    state->purge = detail::statement(db, fmt::format("DELETE FROM {} WHERE id <= ? AND state != 0", table));
    state->remove = detail::statement(db, fmt::format("DELETE FROM {} WHERE id = ?", table));
    state->save_counters =
        detail::statement(db, "UPDATE courier_channels SET last_id = ?, last_sequence = ? WHERE name = ?");
    found = journals.emplace(std::string(name), std::move(state)).first;
  }
  journal_state& state = *found->second;
  if (state.open) {
    throw error(errc::invalid_option,
                fmt::format("{}: a channel named '{}' is already open in this store", path.string(), name));
  }
  state.open = true;
  return state;
}

recovered_channel store::impl::recover(journal_state& journal, std::chrono::milliseconds window) {
  std::lock_guard connection(connection_mutex);
  journal.dedup_window = window;
  recovered_channel state;
  state.last_id = journal.last_id;
  state.last_sequence = journal.last_sequence;
  const stored_time now = wall_now();
  detail::statement rows(
      db, fmt::format("SELECT id, sequence, grp, key, body, sent_at, visible_at, receive_count, "
                      "state, traceparent, tracestate FROM {} ORDER BY id",
                      journal.table));
  std::uint64_t highest = 0;
  stored_time latest = 0;
  while (rows.step()) {
    stored_message row{
        .id = static_cast<std::uint64_t>(rows.integer(0)),
        .sequence = static_cast<std::uint64_t>(rows.integer(1)),
        .group = std::string(rows.text(2)),
        .key = std::string(rows.text(3)),
        .body = {},
        .sent_at = rows.integer(5),
        .visible_at = rows.integer(6),
        .receive_count = static_cast<std::uint32_t>(rows.integer(7)),
        .state = static_cast<stored_state>(rows.integer(8)),
    };
    highest = std::max(highest, row.id);
    latest = std::max(latest, row.sent_at);
    if (!row.key.empty() && row.sent_at + window.count() > now) {
      state.keys.push_back({row.key, row.id, row.sequence, row.sent_at, row.state});
    }
    if (row.state == stored_state::waiting) {
      row.body = std::string(rows.blob(4));
      row.traceparent = std::string(rows.text(9));
      row.tracestate = std::string(rows.text(10));
      state.waiting.push_back(std::move(row));
    }
  }
  state.last_id = std::max(state.last_id, highest);
  if (highest != 0) journal.written.emplace_back(highest, latest);
  return state;
}

std::vector<change> store::impl::take_batch(std::unique_lock<std::mutex>& lock) {
  std::vector<change> batch = std::move(retry);
  retry.clear();
  if (options.sync == sync_policy::group_commit && options.commit_delay.count() > 0 &&
      buffer.size() < options.max_batch && !stopping) {
    // Gather more: the senders already waiting share this commit.
    buffer_cv.wait_for(lock, options.commit_delay,
                       [&] { return buffer.size() >= options.max_batch || stopping; });
  }
  std::size_t take = std::min(buffer.size(), options.max_batch);
  if (options.sync == sync_policy::every_send) {
    // Up to and including the first send: each send its own transaction.
    const auto first_send =
        std::find_if(buffer.begin(), buffer.end(), [](const change& item) { return item.by_send; });
    if (first_send != buffer.end()) take = static_cast<std::size_t>(first_send - buffer.begin()) + 1;
  }
  // A dead letter and its removal from its channel go in one transaction.
  while (take < buffer.size() && take > 0 && buffer[take - 1].joined_to_next) ++take;
  if (batch.empty() && take == buffer.size()) {
    batch.swap(buffer);
  } else {
    batch.insert(batch.end(), std::make_move_iterator(buffer.begin()),
                 std::make_move_iterator(buffer.begin() + static_cast<std::ptrdiff_t>(take)));
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(take));
  }
  return batch;
}

void store::impl::write_loop() {
  std::unique_lock lock(buffer_mutex);
  for (;;) {
    const bool nothing = buffer.empty() && retry.empty();
    // Stopping: write what is left once more, but do not retry a store that
    // keeps failing forever (what it could not write was never durable, and
    // recovery treats it so: an unwritten ack is a redelivery).
    if (stopping && (nothing || failed_while_stopping)) break;
    if (nothing) {
      writer_idle = true;
      buffer_cv.wait_for(lock, options.retention_interval);
      writer_idle = false;
      if (buffer.empty() && retry.empty() && !stopping) {
        // Idle: a chance to delete what retention allows.
        lock.unlock();
        try {
          std::vector<change> none;
          write(none);
        } catch (...) {
        }
        lock.lock();
      }
      continue;
    }
    std::vector<change> batch = take_batch(lock);
    lock.unlock();
    write(batch);
    lock.lock();
  }
  writer_stopped = true;
  decided_cv.notify_all();
}

void store::impl::apply(change& item) {
  journal_state& journal = *item.journal;
  stored_message& message = item.message;
  switch (item.what) {
    case change::kind::accepted:
      journal.insert.bind(1, message.id)
          .bind(2, message.sequence)
          .bind(3, std::string_view(message.group))
          .bind(4, std::string_view(message.key))
          .bind_blob(5, message.body)
          .bind(6, message.sent_at)
          .bind(7, message.visible_at)
          .bind(8, std::string_view(message.traceparent))
          .bind(9, std::string_view(message.tracestate))
          .run();
      journal.last_id = std::max(journal.last_id, message.id);
      journal.last_sequence = std::max(journal.last_sequence, message.sequence);
      journal.counters_changed = true;
      if (journal.written.empty() || journal.written.back().first < message.id) {
        journal.written.emplace_back(message.id, message.sent_at);
      }
      break;
    case change::kind::delivered:
      journal.deliver.bind(1, static_cast<std::int64_t>(message.receive_count))
          .bind(2, message.visible_at)
          .bind(3, message.id)
          .run();
      break;
    case change::kind::settled:
      if (message.id <= journal.purged_through) {
        journal.remove.bind(1, message.id).run();
      } else {
        journal.settle.bind(1, static_cast<std::int64_t>(message.state)).bind(2, message.id).run();
      }
      break;
  }
}

// Deletes settled messages whose keys can no longer deduplicate. Caller
// holds connection_mutex inside a transaction; it calls purged() once that
// transaction commits, so a rolled-back purge is tried again.
std::vector<store::impl::purge_done> store::impl::purge_settled(stored_time now) {
  next_purge = now + options.retention_interval.count();
  std::vector<purge_done> done;
  std::lock_guard registry(journals_mutex);
  for (auto& [name, journal] : journals) {
    const auto& written = journal->written;
    std::size_t covered = 0;
    while (covered < written.size() && written[covered].second + journal->dedup_window.count() <= now)
      ++covered;
    if (covered == 0) continue;
    const std::uint64_t through = written[covered - 1].first;
    journal->purge.bind(1, through).run();
    done.push_back({journal.get(), through, covered});
  }
  return done;
}

void store::impl::purged(const std::vector<purge_done>& done) {
  std::lock_guard registry(journals_mutex);
  for (const purge_done& purge : done) {
    auto& written = purge.journal->written;
    written.erase(written.begin(), written.begin() + static_cast<std::ptrdiff_t>(purge.covered));
    purge.journal->purged_through = purge.through;
  }
}

void store::impl::write(std::vector<change>& batch) {
  const stored_time now = wall_now();
  const bool purge_due = now >= next_purge;
  if (batch.empty() && !purge_due) return;
  std::string reason;
  {
    std::lock_guard connection(connection_mutex);
    const auto began = std::chrono::steady_clock::now();
    try {
      detail::exec(db, "BEGIN IMMEDIATE");
      for (change& item : batch) apply(item);
      for (change& item : batch) {
        journal_state& journal = *item.journal;
        if (!journal.counters_changed) continue;
        journal.counters_changed = false;
        journal.save_counters.bind(1, journal.last_id)
            .bind(2, journal.last_sequence)
            .bind(3, std::string_view(journal.name))
            .run();
      }
      std::vector<purge_done> purges;
      if (purge_due) purges = purge_settled(now);
      detail::exec(db, "COMMIT");
      commit_duration.record(std::chrono::steady_clock::now() - began);
      bump(transactions, 1);
      bump(changes_written, batch.size());
      purged(purges);
    } catch (const std::exception& e) {
      bump(failed_transactions, 1);
      reason = e.what();
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      for (change& item : batch) item.journal->counters_changed = false;
    }
  }
  if (!batch.empty()) report(batch, reason);
  if (!reason.empty()) {
    std::unique_lock lock(buffer_mutex);
    buffer_cv.wait_for(lock, retry_pause, [&] { return stopping; });
    if (stopping) failed_while_stopping = true;
  }
}

// Tells senders and channels how the write of batch went.
void store::impl::report(std::vector<change>& batch, const std::string& reason) {
  const std::uint64_t first = batch.front().ticket;
  const std::uint64_t last = batch.back().ticket;
  const bool failed = !reason.empty();
  // Per journal: the ids of the sends that failed with this write.
  std::map<journal_state*, journal_write> outcomes;
  for (const change& item : batch) {
    if (item.what != change::kind::accepted) continue;
    journal_write& outcome = outcomes[item.journal];
    outcome.last_ticket = last;
    if (failed) {
      outcome.failure = reason;
      if (item.by_send) outcome.failed_ids.push_back(item.message.id);
    }
  }
  if (failed) {
    std::lock_guard lock(buffer_mutex);
    // Everything but the failed sends is written again, in its order.
    std::vector<change> again;
    for (change& item : batch) {
      if (!(item.what == change::kind::accepted && item.by_send)) again.push_back(std::move(item));
    }
    again.insert(again.end(), std::make_move_iterator(retry.begin()), std::make_move_iterator(retry.end()));
    retry = std::move(again);
  }
  // Channels first, senders after: when send() returns, its message is
  // already deliverable (or, if the write failed, already gone).
  for (auto& [journal, outcome] : outcomes) {
    std::lock_guard lock(journal->callback_mutex);
    if (journal->on_write) journal->on_write(outcome);
  }
  std::lock_guard lock(buffer_mutex);
  decided_ticket = std::max(decided_ticket, last);
  if (failed) {
    failures.push_back({first, last, reason});
    if (failures.size() > 1024) failures.pop_front();
  }
  decided_cv.notify_all();
}

namespace {

// What a channel holds: the store (kept alive while the channel is) and its
// journal's state.
class journal_handle final : public channel_journal {
 public:
  journal_handle(std::shared_ptr<store> owner, store::impl& state, journal_state& journal)
      : owner_(std::move(owner)), store_(state), journal_(journal) {}
  ~journal_handle() override { stop(); }

  recovered_channel recover(std::chrono::milliseconds dedup_window) override {
    return store_.recover(journal_, dedup_window);
  }
  void start(std::function<void(const journal_write&)> on_write) override {
    std::lock_guard lock(journal_.callback_mutex);
    journal_.on_write = std::move(on_write);
  }
  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    store_.close_journal(journal_);
  }
  std::uint64_t record_accepted(stored_message message, bool by_send) override {
    return store_.record(change{.what = change::kind::accepted,
                                .by_send = by_send,
                                .journal = &journal_,
                                .message = std::move(message)});
  }
  std::uint64_t record_delivered(std::uint64_t id, std::uint32_t receive_count,
                                 stored_time visible_until) override {
    return store_.record(
        change{.what = change::kind::delivered,
               .journal = &journal_,
               .message = {.id = id, .visible_at = visible_until, .receive_count = receive_count}});
  }
  std::uint64_t record_settled(std::uint64_t id, stored_state outcome) override {
    return store_.record(
        change{.what = change::kind::settled, .journal = &journal_, .message = {.id = id, .state = outcome}});
  }
  std::uint64_t record_dead_lettered(std::uint64_t id, channel_journal& dead_letters,
                                     stored_message letter) override {
    auto& dead = dynamic_cast<journal_handle&>(dead_letters);
    return store_.record_joined(
        change{.what = change::kind::accepted, .journal = &dead.journal_, .message = std::move(letter)},
        change{.what = change::kind::settled,
               .journal = &journal_,
               .message = {.id = id, .state = stored_state::dead_lettered}});
  }
  std::uint64_t last_ticket() const override {
    // Called under the channel's lock, after this channel's own record
    // calls: the newest ticket of the whole store is at least as new.
    return store_.newest_ticket();
  }
  void wait_durable(std::uint64_t ticket) override { store_.wait_durable(ticket); }
  std::shared_ptr<channel_journal> dead_letter_journal() override {
    return owner_->journal(journal_.name + ".dead");
  }

 private:
  std::shared_ptr<store> owner_;
  store::impl& store_;
  journal_state& journal_;
  bool stopped_ = false;
};

}  // namespace

std::shared_ptr<store> store::open(const std::filesystem::path& path, store_options options) {
  if (options.max_batch == 0) throw error(errc::invalid_option, "store_options::max_batch must not be 0");
  if (options.retention_interval <= std::chrono::milliseconds::zero()) {
    throw error(errc::invalid_option, "store_options::retention_interval must be positive");
  }
  auto state = std::make_unique<impl>(path, std::move(options));
  state->open_file();
  state->start_writer();
  std::shared_ptr<store> opened(new store(std::move(state)));
  if (const auto& registry = opened->impl_->options.metrics) {
    store* self = opened.get();
    opened->metrics_ = registry->add([self](metric_set& out) {
      const store_stats now = self->stats();
      const std::vector<std::pair<std::string, std::string>> labels = {
          {"db_system_name", "sqlite"}, {"db_namespace", self->path().string()}};
      const metric_set::labelled add(out, labels);
      using enum metric_type;
      add("courier_store_transactions_total", counter, "Transactions the store's writer committed.",
          static_cast<double>(now.transactions));
      add("courier_store_failed_transactions_total", counter,
          "Transactions rolled back (a full disk, an I/O error); their changes are written again.",
          static_cast<double>(now.failed_transactions));
      add("courier_store_changes_written_total", counter,
          "Changes committed: sends, deliveries, acks, dead letters.",
          static_cast<double>(now.changes_written));
      add("courier_store_pending_changes", gauge, "Changes recorded and waiting for the writer.",
          static_cast<double>(now.pending_changes));
      add("courier_store_file_bytes", gauge, "The database file and its write-ahead log.",
          static_cast<double>(now.file_bytes));
      auto commit = now.commit_duration.sample(labels);
      commit.labels.emplace_back("db_operation_name", "COMMIT");
      out.add("db_client_operation_duration_seconds", histogram,
              "One write transaction of the store's writer, BEGIN to COMMIT, the sync to disk included.",
              std::move(commit));
    });
  }
  return opened;
}

store::store(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
store::~store() { metrics_.reset(); }  // first: a scrape in progress reads this store

store_stats store::stats() const { return impl_->stats(); }

std::shared_ptr<channel_journal> store::journal(std::string_view name) {
  journal_state& state = impl_->journal(name);
  return std::make_shared<journal_handle>(shared_from_this(), *impl_, state);
}

void store::with_connection(const std::function<void(sqlite3*)>& work) {
  std::lock_guard connection(impl_->connection_mutex);
  work(impl_->db);
}

const std::filesystem::path& store::path() const noexcept { return impl_->path; }
const store_options& store::options() const noexcept { return impl_->options; }

}  // namespace sqlite
}  // namespace v1
}  // namespace courier
