// What durability costs: a FIFO exactly-once channel (16 groups, 1 producer,
// 1 consumer, 64-byte bodies, an idempotency key per message) in memory,
// kept in SQLite with each sync policy, and the same work done by hand with
// one SQLite transaction per message (the baseline a user would write
// first). Rounds alternate between the scenarios so that a slow phase of
// this shared machine hits all of them.
//
//   courier_durable_bench [--messages N] [--slow-messages N] [--batch B] [--rounds R] [--dir D]
//
// --messages: per round for the in-memory, group-commit and off scenarios;
// --slow-messages: for every_send and the one-transaction-per-message
// baseline, which sync to disk once per message. Prints messages/s per
// scenario (median of the rounds) and the ratios.
#include "courier/channel.hpp"
#include "courier/sqlite/durable.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using seconds_f = std::chrono::duration<double>;

constexpr std::size_t groups = 16;
constexpr std::size_t body_size = 64;

struct settings {
  std::size_t messages = 500'000;
  std::size_t slow_messages = 4'000;
  std::size_t rounds = 3;
  // Messages per send_batch: the producer's sends wait for their commit, so
  // a producer that sent one message at a time would measure the commit's
  // latency, not the store's throughput (64: ~130k msg/s here; 256: ~250k).
  std::size_t batch = 256;
  std::filesystem::path dir;
};

std::string body_of(std::size_t number) {
  std::string body = fmt::format("parcel {:>12}", number);
  body.resize(body_size, '.');
  return body;
}

// One producer sending in batches of send_batch, one consumer receiving and
// acking in batches; returns messages/s from the first send to the last ack.
double run_channel(courier::channel<std::string>& channel, std::size_t messages, std::size_t send_batch) {
  const auto start = std::chrono::steady_clock::now();
  std::thread producer([&] {
    std::vector<std::pair<std::string, courier::send_options>> batch;
    for (std::size_t sent = 0; sent < messages;) {
      batch.clear();
      for (std::size_t i = 0; i < send_batch && sent < messages; ++i, ++sent) {
        batch.emplace_back(body_of(sent), courier::send_options{.group = std::to_string(sent % groups),
                                                                .idempotency_key = std::to_string(sent)});
      }
      channel.send_batch(std::move(batch));
      batch = {};
    }
  });
  std::size_t acked = 0;
  std::vector<courier::receipt> receipts;
  while (acked < messages) {
    auto got = channel.receive(64, 1s);
    if (got.empty()) {
      fmt::print(stderr, "durable bench: nothing received for 1 s after {} of {} messages\n", acked, messages);
      std::exit(1);
    }
    receipts.clear();
    for (auto& item : got) receipts.push_back(item.receipt());
    const auto result = channel.ack(receipts);
    if (!result.ok()) {
      fmt::print(stderr, "durable bench: an ack failed: {}\n", result.failed.front().second.what());
      std::exit(1);
    }
    acked += result.acked;
  }
  producer.join();
  return static_cast<double>(messages) / seconds_f(std::chrono::steady_clock::now() - start).count();
}

double run_memory(std::size_t messages, std::size_t send_batch) {
  courier::channel<std::string> channel({.ordering = courier::ordering::fifo});
  return run_channel(channel, messages, send_batch);
}

double run_durable(const std::filesystem::path& file, courier::sqlite::sync_policy policy, std::size_t messages,
                   std::size_t send_batch) {
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + "-wal");
  double rate = 0;
  {
    auto store = courier::sqlite::store::open(file, {.sync = policy});
    courier::channel<std::string> channel({
        .ordering = courier::ordering::fifo,
        .durable = courier::sqlite::durable<std::string>(store, "bench"),
    });
    rate = run_channel(channel, messages, send_batch);
  }
  std::filesystem::remove(file);
  return rate;
}

void check(sqlite3* db, int result, const char* what) {
  if (result != SQLITE_OK && result != SQLITE_DONE && result != SQLITE_ROW) {
    fmt::print(stderr, "durable bench baseline: {}: {}\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The same work without courier: the producer inserts each message (its key
// unique, so a retry would be refused) in a transaction of its own; the
// consumer takes the oldest waiting message of each group and marks each
// acked in a transaction of its own. WAL, synchronous=FULL, like courier's
// durable policies.
double run_one_transaction_each(const std::filesystem::path& file, std::size_t messages) {
  std::filesystem::remove(file);
  sqlite3* db = nullptr;
  check(db, sqlite3_open(file.c_str(), &db), "open");
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr),
        "pragmas");
  check(db,
        sqlite3_exec(db,
                     "CREATE TABLE messages(id INTEGER PRIMARY KEY, grp TEXT NOT NULL, key TEXT NOT NULL UNIQUE, "
                     "body BLOB NOT NULL, acked INTEGER NOT NULL DEFAULT 0);"
                     "CREATE INDEX waiting ON messages(acked, grp, id);",
                     nullptr, nullptr, nullptr),
        "schema");
  std::mutex connection;
  const auto start = std::chrono::steady_clock::now();
  std::thread producer([&] {
    sqlite3_stmt* insert = nullptr;
    check(db, sqlite3_prepare_v2(db, "INSERT INTO messages(grp, key, body) VALUES(?, ?, ?)", -1, &insert, nullptr),
          "prepare insert");
    for (std::size_t sent = 0; sent < messages; ++sent) {
      const std::string group = std::to_string(sent % groups);
      const std::string key = std::to_string(sent);
      const std::string body = body_of(sent);
      std::lock_guard lock(connection);
      check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "begin");
      sqlite3_bind_text(insert, 1, group.data(), static_cast<int>(group.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert, 3, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      check(db, sqlite3_step(insert), "insert");
      sqlite3_reset(insert);
      check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
    }
    sqlite3_finalize(insert);
  });
  sqlite3_stmt* oldest = nullptr;
  sqlite3_stmt* ack = nullptr;
  check(db,
        sqlite3_prepare_v2(db, "SELECT min(id), body FROM messages WHERE acked = 0 GROUP BY grp", -1, &oldest,
                           nullptr),
        "prepare select");
  check(db, sqlite3_prepare_v2(db, "UPDATE messages SET acked = 1 WHERE id = ?", -1, &ack, nullptr),
        "prepare ack");
  std::size_t acked = 0;
  std::vector<std::int64_t> taken;
  while (acked < messages) {
    taken.clear();
    {
      std::lock_guard lock(connection);
      while (sqlite3_step(oldest) == SQLITE_ROW) taken.push_back(sqlite3_column_int64(oldest, 0));
      sqlite3_reset(oldest);
    }
    if (taken.empty()) {
      std::this_thread::sleep_for(50us);
      continue;
    }
    for (std::int64_t id : taken) {
      std::lock_guard lock(connection);
      check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "begin");
      sqlite3_bind_int64(ack, 1, id);
      check(db, sqlite3_step(ack), "ack");
      sqlite3_reset(ack);
      check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
      ++acked;
    }
  }
  producer.join();
  const double rate = static_cast<double>(messages) / seconds_f(std::chrono::steady_clock::now() - start).count();
  sqlite3_finalize(oldest);
  sqlite3_finalize(ack);
  sqlite3_close(db);
  std::filesystem::remove(file);
  return rate;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int usage(std::string_view problem) {
  fmt::print(stderr,
             "courier_durable_bench: {}\n"
             "usage: courier_durable_bench [--messages N] [--slow-messages N] [--batch B] [--rounds R] [--dir D]\n",
             problem);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  settings config;
  config.dir = std::filesystem::temp_directory_path() / fmt::format("courier_durable_bench_{}", ::getpid());
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", flag));
    const std::string_view value = argv[++i];
    if (flag == "--dir") {
      config.dir = value;
      continue;
    }
    std::size_t number = 0;
    const auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (failure != std::errc() || end != value.data() + value.size() || number == 0) {
      return usage(fmt::format("{} {}: not a positive number", flag, value));
    }
    if (flag == "--messages") {
      config.messages = number;
    } else if (flag == "--slow-messages") {
      config.slow_messages = number;
    } else if (flag == "--batch") {
      config.batch = number;
    } else if (flag == "--rounds") {
      config.rounds = number;
    } else {
      return usage(fmt::format("unknown option {}", flag));
    }
  }
  std::filesystem::create_directories(config.dir);
  const auto file = config.dir / "bench.db";
  fmt::print("durable channel: FIFO, {} groups, 1 producer (send_batch of {}), 1 consumer, {}-byte bodies, "
             "a key per message; {} rounds\n",
             groups, config.batch, body_size, config.rounds);

  struct scenario {
    std::string name;
    std::size_t messages;
    std::function<double(std::size_t)> run;
  };
  using courier::sqlite::sync_policy;
  const std::vector<scenario> scenarios = {
      {"in-memory channel", config.messages, [&](std::size_t n) { return run_memory(n, config.batch); }},
      {"durable, group_commit", config.messages,
       [&](std::size_t n) { return run_durable(file, sync_policy::group_commit, n, config.batch); }},
      {"durable, sync off", config.messages,
       [&](std::size_t n) { return run_durable(file, sync_policy::off, n, config.batch); }},
      {"durable, every_send", config.slow_messages,
       [&](std::size_t n) { return run_durable(file, sync_policy::every_send, n, config.batch); }},
      {"SQLite, 1 transaction/message", config.slow_messages,
       [&](std::size_t n) { return run_one_transaction_each(file, n); }},
  };
  std::map<std::string, std::vector<double>> rates;
  for (std::size_t round = 1; round <= config.rounds; ++round) {
    for (const auto& each : scenarios) {
      const double rate = each.run(each.messages);
      rates[each.name].push_back(rate);
      fmt::print("  round {}: {:<32} {:>12.0f} msg/s\n", round, each.name, rate);
      std::fflush(stdout);
    }
  }
  std::filesystem::remove_all(config.dir);
  const double baseline = median(rates["SQLite, 1 transaction/message"]);
  const double memory = median(rates["in-memory channel"]);
  fmt::print("\n{:<32} {:>12} {:>14} {:>14}\n", "scenario (median)", "msg/s", "x 1 txn/msg", "x in-memory");
  for (const auto& each : scenarios) {
    const double rate = median(rates[each.name]);
    fmt::print("{:<32} {:>12.0f} {:>13.1f}x {:>13.3f}x\n", each.name, rate, rate / baseline, rate / memory);
  }
  return 0;
}
