// The proof that a durable channel keeps its guarantees across real crashes
// (see crash_run.hpp). The program that calls crash_main is both the
// harness and the worker it kills:
//
//   <program> [--kills N] [--messages M] [--groups G] [--seed S] [--dir D]
//
// starts itself as a worker on a store in D, kills it with SIGKILL after a
// random (seeded) time, N times, then lets one last worker finish the work,
// and checks the records against what the producer was told:
//   - every send that returned success was applied, and exactly once;
//   - no message was applied twice (the consumer's effect and its applied
//     key commit in one transaction, courier::sqlite::idempotent_store);
//   - per group, messages were applied in the order they were sent;
//   - nothing is left waiting or in flight in the channel.
// Exit code 0 when all of that holds, 1 with a report when not.
//
// The worker (--crash-worker D) runs a producer that sends messages 0..M-1 in
// batches, each message with its number as idempotency key and number % G as
// its group, and appends the numbers of each confirmed batch to
// D/confirmed.log; on a restart it sends again from the first unconfirmed
// number with the same keys, as a real client retries. Two consumer threads
// apply each message (a row in an effects table) and ack it.
#include "crash_run.hpp"

#include "courier/channel.hpp"
#include "courier/sqlite/durable.hpp"
#include "courier/sqlite/idempotent_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace courier_crash {

namespace {

using namespace std::chrono_literals;

struct settings {
  int kills = 25;
  int messages = 3000;
  int groups = 8;
  std::uint64_t seed = 1;
  std::filesystem::path dir;
  bool worker = false;
  bool final_run = false;  // worker: exit 0 once all is sent and applied
  // Worker: pause between send batches, so that the sends spread over the
  // kills instead of all landing before the first (the harness sets it).
  std::chrono::microseconds pace{};
};

constexpr int send_batch_size = 16;

// --- the worker ----------------------------------------------------------

// The numbers the producer was told are durable, from complete lines only
// (a kill may cut the last line short).
std::set<int> read_confirmed(const std::filesystem::path& log) {
  std::set<int> confirmed;
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    confirmed.insert(std::stoi(text.substr(start, end - start)));
    start = end + 1;
  }
  return confirmed;
}

std::int64_t applied_count(courier::sqlite::store& store) {
  std::int64_t count = 0;
  store.with_connection([&](sqlite3* db) {
    sqlite3_stmt* query = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(DISTINCT number) FROM effects", -1, &query, nullptr);
    if (sqlite3_step(query) == SQLITE_ROW) count = sqlite3_column_int64(query, 0);
    sqlite3_finalize(query);
  });
  return count;
}

int run_worker(const settings& config) {
  auto store = courier::sqlite::store::open(config.dir / "store.db");
  store->with_connection([](sqlite3* db) {
    sqlite3_exec(db,
                 "CREATE TABLE IF NOT EXISTS effects(applied INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "number INTEGER NOT NULL, grp TEXT NOT NULL)",
                 nullptr, nullptr, nullptr);
  });
  courier::sqlite::idempotent_store applied(store, "crash_test");
  courier::channel<std::string> channel({
      .ordering = courier::ordering::fifo,
      .visibility_timeout = 300ms,
      .durable = courier::sqlite::durable<std::string>(store, "work"),
  });

  auto consumer = channel.consume(
      [&](courier::delivery<std::string>& item) {
        const std::string& number = item.message();
        const std::string group = item.group();
        applied.apply_in_transaction(number, [&](sqlite3* db) {
          const std::string sql =
              fmt::format("INSERT INTO effects(number, grp) VALUES({}, '{}')", std::stoi(number), group);
          if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sqlite3_errmsg(db));
          }
        });
      },
      {.concurrency = 2, .batch = 8, .poll = 20ms});

  const auto log_path = config.dir / "confirmed.log";
  const std::set<int> confirmed = read_confirmed(log_path);
  int next = 0;
  while (confirmed.count(next) != 0) ++next;
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) {
    std::perror("confirmed.log");
    return 3;
  }
  while (next < config.messages) {
    std::vector<std::pair<std::string, courier::send_options>> batch;
    std::string lines;
    for (int k = next; k < std::min(next + send_batch_size, config.messages); ++k) {
      batch.emplace_back(std::to_string(k), courier::send_options{.group = std::to_string(k % config.groups),
                                                                  .idempotency_key = std::to_string(k)});
      lines += std::to_string(k) + "\n";
    }
    next += static_cast<int>(batch.size());
    channel.send_batch(std::move(batch));
    if (::write(log, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) return 3;
    if (!config.final_run) std::this_thread::sleep_for(config.pace);
  }
  ::close(log);
  if (!config.final_run) {
    for (;;) std::this_thread::sleep_for(1s);  // until killed
  }
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (applied_count(*store) < config.messages || channel.stats().waiting != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      fmt::print(stderr, "worker: not done after 120 s: applied {} of {}, waiting {}\n",
                 applied_count(*store), config.messages, channel.stats().waiting);
      return 4;
    }
    std::this_thread::sleep_for(20ms);
  }
  consumer.stop();
  return 0;
}

// --- the harness ---------------------------------------------------------

pid_t start_worker(const settings& config, bool final_run) {
  const pid_t child = ::fork();
  if (child < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (child == 0) {
    std::vector<std::string> args = {"/proc/self/exe",
                                     "--crash-worker",
                                     config.dir.string(),
                                     "--messages",
                                     std::to_string(config.messages),
                                     "--groups",
                                     std::to_string(config.groups),
                                     "--pace-us",
                                     std::to_string(config.pace.count())};
    if (final_run) args.push_back("--final");
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::perror("execv");
    ::_exit(127);
  }
  return child;
}

struct effect {
  int number;
  std::string group;
};

// The effects applied so far. A worker killed early in its start-up may
// have made the file but not the table yet: that is no effects, when
// may_be_unmade; after the final worker the table must be there.
std::vector<effect> read_effects(const std::filesystem::path& file, bool may_be_unmade = false) {
  std::vector<effect> effects;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    fmt::print(stderr, "cannot open {}: {}\n", file.string(), sqlite3_errmsg(db));
    std::exit(1);
  }
  if (may_be_unmade && sqlite3_table_column_metadata(db, nullptr, "effects", nullptr, nullptr, nullptr,
                                                     nullptr, nullptr, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return effects;
  }
  sqlite3_stmt* query = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT number, grp FROM effects ORDER BY applied", -1, &query, nullptr) !=
      SQLITE_OK) {
    fmt::print(stderr, "reading effects: {}\n", sqlite3_errmsg(db));
    std::exit(1);
  }
  while (sqlite3_step(query) == SQLITE_ROW) {
    effects.push_back(
        {sqlite3_column_int(query, 0), reinterpret_cast<const char*>(sqlite3_column_text(query, 1))});
  }
  sqlite3_finalize(query);
  sqlite3_close(db);
  return effects;
}

int run_harness(settings config) {
  if (config.dir.empty()) {
    config.dir = std::filesystem::temp_directory_path() / fmt::format("courier_crash_{}", ::getpid());
  }
  std::filesystem::remove_all(config.dir);
  std::filesystem::create_directories(config.dir);
  fmt::print("crash test: {} kills, {} messages in {} groups, seed {}, in {}\n", config.kills,
             config.messages, config.groups, config.seed, config.dir.string());
  std::mt19937_64 random(config.seed);
  // Early kills land in start-up and recovery, later ones mid-stream.
  std::uniform_int_distribution<int> lifetime_ms(20, 400);
  // Spread the sends over about two thirds of the workers' lives.
  const int batches = (config.messages + send_batch_size - 1) / send_batch_size;
  config.pace = std::chrono::microseconds(config.kills * 210'000 * 2 / 3 / std::max(batches, 1));
  for (int kill = 1; kill <= config.kills; ++kill) {
    const pid_t child = start_worker(config, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(lifetime_ms(random)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      fmt::print(stderr, "crash test: worker {} ended by itself (status {:#x}) before the kill\n", kill,
                 status);
      return 1;
    }
    const auto confirmed = read_confirmed(config.dir / "confirmed.log");
    const auto applied = std::filesystem::exists(config.dir / "store.db")
                             ? read_effects(config.dir / "store.db", /*may_be_unmade=*/true).size()
                             : 0;
    fmt::print("  kill {:2}: {} sends confirmed, {} effects so far\n", kill, confirmed.size(), applied);
    std::fflush(stdout);
  }
  const pid_t last = start_worker(config, true);
  int status = 0;
  ::waitpid(last, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "crash test: the final worker failed (status {:#x})\n", status);
    return 1;
  }

  // The checks, against the producer's own records.
  const std::set<int> confirmed = read_confirmed(config.dir / "confirmed.log");
  const std::vector<effect> effects = read_effects(config.dir / "store.db");
  std::map<int, int> times_applied;
  std::map<std::string, int> last_in_group;
  int twice = 0;
  int reordered = 0;
  int wrong_group = 0;
  for (const effect& done : effects) {
    if (++times_applied[done.number] == 2) ++twice;
    if (done.group != std::to_string(done.number % config.groups)) ++wrong_group;
    auto [previous, fresh] = last_in_group.try_emplace(done.group, done.number);
    if (!fresh) {
      if (done.number <= previous->second) ++reordered;
      previous->second = done.number;
    }
  }
  int lost = 0;
  for (int number : confirmed) {
    if (times_applied.count(number) == 0) ++lost;
  }
  int never_sent = 0;
  for (int number = 0; number < config.messages; ++number) {
    if (times_applied.count(number) == 0) ++never_sent;
  }
  // Nothing stuck: a channel opened on the store now has nothing waiting.
  std::size_t waiting = 0;
  {
    auto store = courier::sqlite::store::open(config.dir / "store.db");
    courier::channel<std::string> channel({
        .ordering = courier::ordering::fifo,
        .durable = courier::sqlite::durable<std::string>(store, "work"),
    });
    waiting = channel.stats().waiting;
  }
  fmt::print(
      "crash test: {} confirmed sends, {} effects; lost {}, applied twice {}, reordered {}, wrong group {}, "
      "unapplied {}, left waiting {}\n",
      confirmed.size(), effects.size(), lost, twice, reordered, wrong_group, never_sent, waiting);
  const bool held = lost == 0 && twice == 0 && reordered == 0 && wrong_group == 0 && never_sent == 0 &&
                    waiting == 0 && static_cast<int>(confirmed.size()) == config.messages;
  fmt::print("crash test: {}\n", held ? "every guarantee held" : "A GUARANTEE WAS BROKEN");
  if (held) std::filesystem::remove_all(config.dir);
  return held ? 0 : 1;
}

int usage(const char* problem) {
  fmt::print(stderr, "crash run: {}\nusage: [--kills N] [--messages M] [--groups G] [--seed S] [--dir D]\n",
             problem);
  return 2;
}

}  // namespace

int crash_main(int argc, const char* const* argv) {
  settings config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    try {
      if (arg == "--crash-worker" && has_value) {
        config.worker = true;
        config.dir = argv[++i];
      } else if (arg == "--final") {
        config.final_run = true;
      } else if (arg == "--kills" && has_value) {
        config.kills = std::stoi(argv[++i]);
      } else if (arg == "--messages" && has_value) {
        config.messages = std::stoi(argv[++i]);
      } else if (arg == "--groups" && has_value) {
        config.groups = std::stoi(argv[++i]);
      } else if (arg == "--seed" && has_value) {
        config.seed = std::stoull(argv[++i]);
      } else if (arg == "--pace-us" && has_value) {
        config.pace = std::chrono::microseconds(std::stoll(argv[++i]));
      } else if (arg == "--dir" && has_value) {
        config.dir = argv[++i];
      } else {
        return usage(("unknown or incomplete argument " + arg).c_str());
      }
    } catch (const std::exception&) {
      return usage(("not a number after " + arg).c_str());
    }
  }
  if (config.messages <= 0 || config.groups <= 0 || config.kills < 0) return usage("counts must be positive");
  try {
    return config.worker ? run_worker(config) : run_harness(config);
  } catch (const std::exception& e) {
    fmt::print(stderr, "crash run{}: {}\n", config.worker ? " worker" : "", e.what());
    return 1;
  }
}

}  // namespace courier_crash
