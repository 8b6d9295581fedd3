// A courier::channel<T> kept in a courier::sqlite::store: what it recovers
// after the channel and its store are gone (as after a crash: nothing is
// flushed or closed on purpose before the reopen that is not also done by
// SIGKILL, see crash_test.cpp for the real kill), and how it refuses files
// it must not touch.
#include "courier/sqlite/durable.hpp"

#include "courier/channel.hpp"
#include "courier/sqlite/idempotent_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct parcel {
  int number = 0;
  std::string vendor;
};
BOOST_DESCRIBE_STRUCT(parcel, (), (number, vendor))

// A fresh directory per test, removed after.
class durable_channel : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = std::filesystem::temp_directory_path() /
                 ("courier_sqlite_" + std::string(test->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::filesystem::path file(const char* name = "store.db") const { return directory_ / name; }

  courier::channel_options<parcel> fifo(const std::shared_ptr<courier::sqlite::store>& store) {
    return {.ordering = courier::ordering::fifo,
            .visibility_timeout = 30s,
            .time_source = clock,
            .durable = courier::sqlite::durable<parcel>(store, "parcels")};
  }

  std::shared_ptr<courier::manual_clock> clock = std::make_shared<courier::manual_clock>();
  std::filesystem::path directory_;
};

std::vector<int> numbers(const std::vector<courier::delivery<parcel>>& deliveries) {
  std::vector<int> out;
  for (const auto& d : deliveries) out.push_back(d.message().number);
  return out;
}

template <class Call>
std::string error_text(Call&& call, courier::errc expected) {
  try {
    call();
  } catch (const courier::error& failure) {
    EXPECT_EQ(failure.code(), expected) << failure.what();
    return failure.what();
  }
  ADD_FAILURE() << "expected a courier::error";
  return {};
}

std::int64_t count_rows(courier::sqlite::store& store, const std::string& sql) {
  std::int64_t result = -1;
  store.with_connection([&](sqlite3* db) {
    sqlite3_stmt* query = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &query, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    if (sqlite3_step(query) == SQLITE_ROW) result = sqlite3_column_int64(query, 0);
    sqlite3_finalize(query);
  });
  return result;
}

// Polls query until it counts `expected` rows or `limit` passes; returns the
// last count. For the store's writer thread, whose purges run on the wall
// clock: the test waits for the state, not for a moment.
std::int64_t rows_once_settled(courier::sqlite::store& store, const std::string& query, std::int64_t expected,
                               std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::int64_t rows = count_rows(store, query);
  while (rows != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    rows = count_rows(store, query);
  }
  return rows;
}

TEST_F(durable_channel, messages_keys_and_group_order_survive_a_reopen) {
  courier::send_result first;
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(fifo(store));
    first = channel.send(parcel{1, "acme"}, {.group = "acme", .idempotency_key = "p1"});
    channel.send(parcel{2, "acme"}, {.group = "acme", .idempotency_key = "p2"});
    channel.send(parcel{10, "bolt"}, {.group = "bolt"});
    channel.send(parcel{3, "acme"}, {.group = "acme"});
  }
  auto store = courier::sqlite::store::open(file());
  courier::channel<parcel> channel(fifo(store));
  EXPECT_EQ(channel.stats().waiting, 4u);
  // The retried send is answered from the recovered key.
  const auto again = channel.send(parcel{1, "acme"}, {.group = "acme", .idempotency_key = "p1"});
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.id, first.id);
  // Ids go on from where they were, never reused.
  const auto fresh = channel.send(parcel{4, "acme"}, {.group = "acme"});
  EXPECT_GT(fresh.id.value, first.id.value + 3);

  std::vector<int> acme;
  for (int round = 0; round < 4; ++round) {
    for (auto& d : channel.receive(10)) {
      if (d.group() == "acme") acme.push_back(d.message().number);
      d.ack();
    }
  }
  EXPECT_THAT(acme, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(channel.stats().waiting, 0u);
}

TEST_F(durable_channel, acked_messages_stay_acked_and_in_flight_ones_come_back_when_visibility_ends) {
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(fifo(store));
    channel.send(parcel{1, "acme"}, {.group = "acme"});
    channel.send(parcel{2, "bolt"}, {.group = "bolt"});
    auto got = channel.receive(10);
    ASSERT_EQ(got.size(), 2u);
    for (auto& d : got) {
      if (d.message().number == 1) d.ack();  // 2 stays in flight: the process "dies" holding it
    }
  }
  auto store = courier::sqlite::store::open(file());
  courier::channel<parcel> channel(fifo(store));
  EXPECT_EQ(channel.stats().waiting, 1u);
  EXPECT_TRUE(channel.receive(10).empty())
      << "still hidden: its visibility timeout runs on across the restart";
  clock->advance(31s);
  auto got = channel.receive(10);
  ASSERT_THAT(numbers(got), ElementsAre(2));
  EXPECT_EQ(got[0].receive_count(), 2u) << "the receive count is kept";
  got[0].ack();
}

// The stored times are wall-clock readings made through the channel's clock,
// which may read behind the wall clock (the default coarse clock by up to a
// tick): a message sent just before the store closed can carry a time a few
// milliseconds ahead of the reopened channel's. A message never delivered
// nor delayed was due when it was stored and must be due at once after a
// reopen, however far ahead its stored time looks (here, a minute).
TEST_F(durable_channel, a_message_due_when_the_store_closed_is_due_at_once_after_a_reopen) {
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(fifo(store));
    channel.send(parcel{1, "acme"}, {.group = "acme"});
    channel.send(parcel{2, "bolt"}, {.group = "bolt"});
    store->with_connection([](sqlite3* db) {
      ASSERT_EQ(sqlite3_exec(db,
                             "UPDATE courier_messages_1 SET sent_at = sent_at + 60000, "
                             "visible_at = visible_at + 60000 WHERE grp = 'bolt'",
                             nullptr, nullptr, nullptr),
                SQLITE_OK);
    });
  }
  auto store = courier::sqlite::store::open(file());
  courier::channel<parcel> channel(fifo(store));
  std::vector<int> got;
  for (auto& d : channel.receive(10)) got.push_back(d.message().number);
  std::sort(got.begin(), got.end());
  EXPECT_THAT(got, ElementsAre(1, 2));
}

TEST_F(durable_channel, dead_letters_are_kept_with_their_channel) {
  {
    auto store = courier::sqlite::store::open(file());
    auto options = fifo(store);
    options.max_receives = 1;
    courier::channel<parcel> channel(options);
    channel.send(parcel{1, "acme"}, {.group = "acme"});
    channel.send(parcel{2, "acme"}, {.group = "acme"});
    channel.receive(1).at(0).nack();  // its only receive: dead-lettered
    // The dead letter's acceptance is durable before the channel closes.
  }
  auto store = courier::sqlite::store::open(file());
  auto options = fifo(store);
  options.max_receives = 1;
  courier::channel<parcel> channel(options);
  auto dead = channel.dead_letters().receive(10);
  ASSERT_THAT(numbers(dead), ElementsAre(1));
  EXPECT_EQ(dead[0].group(), "acme");
  auto rest = channel.receive(10);
  EXPECT_THAT(numbers(rest), ElementsAre(2)) << "the group moved on past its dead letter";
  // A duplicate of the dead letter's send still says where it went.
}

TEST_F(durable_channel,
       receive_counts_carry_over_so_a_message_that_keeps_crashing_its_consumer_is_dead_lettered) {
  auto options_for = [&](const std::shared_ptr<courier::sqlite::store>& store) {
    auto options = fifo(store);
    options.max_receives = 2;
    return options;
  };
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(options_for(store));
    channel.send(parcel{1, "acme"}, {.group = "acme"});
    ASSERT_EQ(channel.receive(1).size(), 1u);  // receive 1; then the consumer "crashes"
  }
  auto store = courier::sqlite::store::open(file());
  courier::channel<parcel> channel(options_for(store));
  clock->advance(31s);
  auto got = channel.receive(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].receive_count(), 2u);
  clock->advance(31s);  // receive 2 expires too: that was its last
  EXPECT_TRUE(channel.receive(1).empty());
  // Deliverable once its move is durable: wait for the store's writer.
  EXPECT_THAT(numbers(channel.dead_letters().receive(1, 5s)), ElementsAre(1));
}

TEST_F(durable_channel, send_batch_returns_when_all_are_durable) {
  std::vector<std::pair<parcel, courier::send_options>> batch;
  for (int i = 0; i < 100; ++i) {
    batch.emplace_back(parcel{i, "acme"},
                       courier::send_options{.group = "acme", .idempotency_key = std::to_string(i)});
  }
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(fifo(store));
    const auto results = channel.send_batch(batch);
    ASSERT_EQ(results.size(), 100u);
    EXPECT_LT(results.front().sequence, results.back().sequence);
    EXPECT_EQ(count_rows(*store, "SELECT count(*) FROM courier_messages_1"), 100);
  }
  auto store = courier::sqlite::store::open(file());
  courier::channel<parcel> channel(fifo(store));
  std::vector<int> order;
  while (order.size() < 100) {
    auto got = channel.receive(1);
    ASSERT_EQ(got.size(), 1u);
    order.push_back(got[0].message().number);
    got[0].ack();
  }
  for (int i = 0; i < 100; ++i) ASSERT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST_F(durable_channel, every_sync_policy_recovers_what_send_confirmed) {
  for (auto policy : {courier::sqlite::sync_policy::every_send, courier::sqlite::sync_policy::group_commit,
                      courier::sqlite::sync_policy::off}) {
    const auto path = file(("policy" + std::to_string(static_cast<int>(policy)) + ".db").c_str());
    {
      auto store = courier::sqlite::store::open(path, {.sync = policy});
      courier::channel<parcel> channel(fifo(store));
      for (int i = 0; i < 20; ++i) channel.send(parcel{i, "acme"}, {.group = "acme"});
    }  // sync off: closing the store still writes what was recorded
    auto store = courier::sqlite::store::open(path, {.sync = policy});
    courier::channel<parcel> channel(fifo(store));
    EXPECT_EQ(channel.stats().waiting, 20u) << "policy " << static_cast<int>(policy);
  }
}

TEST_F(durable_channel, settled_messages_are_deleted_once_their_window_has_passed) {
  auto store = courier::sqlite::store::open(file(), {.retention_interval = 20ms});
  auto options = fifo(store);
  options.dedup_window = 100ms;
  options.time_source = nullptr;  // the window is measured on the wall clock
  courier::channel<parcel> channel(options);
  for (int i = 0; i < 50; ++i)
    channel.send(parcel{i, "acme"}, {.group = "acme", .idempotency_key = std::to_string(i)});
  channel.send(parcel{99, "bolt"}, {.group = "bolt"});  // never acked: must stay
  for (int acked = 0; acked < 50;) {
    for (auto& d : channel.receive(16, 1s)) {
      if (d.group() == "bolt") continue;  // stays in flight, unsettled
      d.ack();
      ++acked;
    }
  }
  EXPECT_EQ(rows_once_settled(*store, "SELECT count(*) FROM courier_messages_1", 1), 1);
  EXPECT_EQ(count_rows(*store, "SELECT count(*) FROM courier_messages_1 WHERE grp = 'bolt'"), 1);
}

TEST_F(durable_channel, a_message_acked_after_its_window_passed_is_deleted_too) {
  auto store = courier::sqlite::store::open(file(), {.retention_interval = 5ms});
  auto options = fifo(store);
  options.dedup_window = 30ms;
  options.time_source = nullptr;
  courier::channel<parcel> channel(options);
  channel.send(parcel{1, "acme"}, {.group = "acme", .idempotency_key = "slow"});
  auto slow = channel.receive(1, 1s);
  ASSERT_EQ(slow.size(), 1u);
  // A later message settled and purged proves a purge has passed the slow
  // one while it was still in flight.
  channel.send(parcel{2, "bolt"}, {.group = "bolt", .idempotency_key = "quick"});
  auto quick = channel.receive(1, 1s);
  ASSERT_EQ(quick.size(), 1u);
  quick[0].ack();
  ASSERT_EQ(rows_once_settled(*store, "SELECT count(*) FROM courier_messages_1 WHERE grp = 'bolt'", 0), 0);
  ASSERT_EQ(count_rows(*store, "SELECT count(*) FROM courier_messages_1"), 1);
  slow[0].ack();
  // Kept, it would stay until the store is opened again: under a backlog
  // older than the window, the file would grow with every message.
  EXPECT_EQ(rows_once_settled(*store, "SELECT count(*) FROM courier_messages_1", 0), 0);
}

TEST_F(durable_channel, the_file_stays_the_same_size_under_a_steady_stream) {
  auto store = courier::sqlite::store::open(file(), {.retention_interval = 10ms});
  auto options = fifo(store);
  options.dedup_window = 50ms;
  options.time_source = nullptr;
  courier::channel<parcel> channel(options);
  const std::string vendor(200, 'v');
  std::vector<std::uintmax_t> sizes;
  int number = 0;
  for (int phase = 0; phase < 6; ++phase) {
    const auto until = std::chrono::steady_clock::now() + 300ms;
    while (std::chrono::steady_clock::now() < until) {
      std::vector<std::pair<parcel, courier::send_options>> batch;
      for (int i = 0; i < 50; ++i, ++number) {
        batch.emplace_back(parcel{number, vendor},
                           courier::send_options{.group = std::to_string(number % 4),
                                                 .idempotency_key = std::to_string(number)});
      }
      channel.send_batch(batch);
      std::size_t acked = 0;
      while (acked < 50) {
        auto got = channel.receive(16, 1s);
        ASSERT_FALSE(got.empty());
        for (auto& d : got) d.ack();
        acked += got.size();
      }
    }
    // What the file holds, not when SQLite last checkpointed on its own: on
    // a slow machine the first phases' pages were still all in the WAL, and
    // the main file's 4 KiB made every later phase look like growth.
    store->with_connection([](sqlite3* db) {
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    });
    sizes.push_back(std::filesystem::file_size(file()));
  }
  // Once settled messages are deleted as fast as new ones arrive, the file
  // reuses its free pages. Not exactly flat: the live rows follow the send
  // rate over the window, which varies (a sanitizer's warm-up: +56% seen).
  // Kept messages would grow it by the second phase's size with every phase,
  // to three times that and more by the sixth.
  EXPECT_GT(number, 2000) << "too few messages to say anything";
  EXPECT_LE(sizes.back(), sizes[1] * 2) << "sizes per phase: " << ::testing::PrintToString(sizes);
  EXPECT_LT(count_rows(*store, "SELECT count(*) FROM courier_messages_1"), number / 2);
}

TEST_F(durable_channel, a_full_disk_fails_the_send_and_loses_nothing_accepted) {
  {
    auto store = courier::sqlite::store::open(file(), {.max_size = 256 * 1024});
    courier::channel<parcel> channel(fifo(store));
    const std::string big(10'000, 'x');
    int accepted = 0;
    std::string failure;
    for (int i = 0; i < 200 && failure.empty(); ++i) {
      try {
        channel.send(parcel{i, big}, {.group = "acme", .idempotency_key = std::to_string(i)});
        ++accepted;
      } catch (const courier::error& e) {
        EXPECT_EQ(e.code(), courier::errc::storage_failed);
        failure = e.what();
      }
    }
    ASSERT_FALSE(failure.empty()) << "the store never filled up";
    EXPECT_THAT(failure, HasSubstr("full"));
    EXPECT_GT(accepted, 5);
    // The failed send was not accepted: it is not delivered, and retrying its key is a new send.
    std::vector<int> got;
    while (true) {
      auto batch = channel.receive(1);
      if (batch.empty()) break;
      got.push_back(batch[0].message().number);
      batch[0].ack();
    }
    EXPECT_EQ(got.size(), static_cast<std::size_t>(accepted));
  }
  // Nothing accepted was lost: reopen (acks above freed no space in time, so
  // some may be back) and find every accepted message either acked or waiting.
  auto store = courier::sqlite::store::open(file());
  EXPECT_GE(count_rows(*store, "SELECT count(*) FROM courier_messages_1"), 5);
  EXPECT_EQ(count_rows(*store, "SELECT count(*) FROM courier_messages_1 WHERE body = ''"), 0);
}

TEST_F(durable_channel, sends_work_again_once_the_disk_has_room) {
  auto store = courier::sqlite::store::open(file(), {.max_size = 128 * 1024});
  courier::channel<parcel> channel(fifo(store));
  const std::string big(20'000, 'x');
  std::string failed_key;
  for (int i = 0; i < 100 && failed_key.empty(); ++i) {
    try {
      channel.send(parcel{i, big}, {.group = "acme", .idempotency_key = "k" + std::to_string(i)});
    } catch (const courier::error&) {
      failed_key = "k" + std::to_string(i);
    }
  }
  ASSERT_FALSE(failed_key.empty());
  // Consume and ack everything, then delete the settled rows: room again.
  for (auto got = channel.receive(10); !got.empty(); got = channel.receive(10)) {
    for (auto& d : got) d.ack();
  }
  store->with_connection([](sqlite3* db) {
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM courier_messages_1 WHERE state != 0", nullptr, nullptr, nullptr),
              SQLITE_OK);
  });
  // The failed send's key was forgotten with it: sending it again is new.
  const auto sent = channel.send(parcel{1000, "small"}, {.group = "acme", .idempotency_key = failed_key});
  EXPECT_FALSE(sent.duplicate);
  auto got = channel.receive(1);
  ASSERT_THAT(numbers(got), ElementsAre(1000));
  got[0].ack();
}

TEST_F(durable_channel, a_file_that_is_not_sqlite_is_refused_and_left_as_it_was) {
  {
    std::ofstream out(file());
    out << "these are somebody's notes, not a database\n" << std::string(5000, 'n');
  }
  const auto before = std::filesystem::file_size(file());
  const auto text = error_text([&] { courier::sqlite::store::open(file()); }, courier::errc::invalid_store);
  EXPECT_THAT(text, HasSubstr("not an SQLite database"));
  EXPECT_EQ(std::filesystem::file_size(file()), before);
}

TEST_F(durable_channel, another_applications_database_is_refused) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const auto text = error_text([&] { courier::sqlite::store::open(file()); }, courier::errc::invalid_store);
  EXPECT_THAT(text, HasSubstr("another application"));
}

TEST_F(durable_channel, a_store_of_a_newer_format_is_refused) {
  { courier::sqlite::store::open(file()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const auto text = error_text([&] { courier::sqlite::store::open(file()); }, courier::errc::invalid_store);
  EXPECT_THAT(text, HasSubstr("newer"));
}

TEST_F(durable_channel, a_corrupt_store_is_refused_not_reset) {
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(fifo(store));
    const std::string vendor(300, 'v');
    for (int i = 0; i < 500; ++i) channel.send(parcel{i, vendor}, {.group = std::to_string(i % 7)});
  }
  // Fold the WAL into the file, then overwrite pages in its middle.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  const auto size = std::filesystem::file_size(file());
  ASSERT_GT(size, 64u * 1024);
  {
    std::fstream out(file(), std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(size / 2));
    const std::string garbage(8192, '\x5a');
    out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto text = error_text([&] { courier::sqlite::store::open(file()); }, courier::errc::invalid_store);
  EXPECT_THAT(text, HasSubstr("corrupt"));
  EXPECT_EQ(std::filesystem::file_size(file()), size) << "a refused file is not reset";
}

TEST_F(durable_channel, a_second_store_on_the_same_file_is_refused) {
  auto store = courier::sqlite::store::open(file());
  const auto text = error_text([&] { courier::sqlite::store::open(file()); }, courier::errc::storage_failed);
  EXPECT_THAT(text, HasSubstr("in use"));
}

TEST_F(durable_channel, a_read_only_file_is_refused_with_a_clear_error) {
  { courier::sqlite::store::open(file()); }
  std::filesystem::permissions(file(), std::filesystem::perms::owner_read |
                                           std::filesystem::perms::group_read |
                                           std::filesystem::perms::others_read);
  std::filesystem::permissions(directory_, std::filesystem::perms::all);
  // Root may write any file, so the check runs as an unprivileged user in a
  // child process when this test runs as root.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    try {
      courier::sqlite::store::open(file());
    } catch (const courier::error& e) {
      const std::string text = e.what();
      ::_exit(e.code() == courier::errc::storage_failed && text.find("read-only") != std::string::npos ? 0
                                                                                                       : 1);
    }
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong error, 2: opened a read-only file, 3: could not drop root";
}

TEST_F(durable_channel, two_channels_of_one_name_are_refused) {
  auto store = courier::sqlite::store::open(file());
  courier::channel<parcel> channel(fifo(store));
  error_text([&] { courier::sqlite::durable<parcel>(store, "parcels"); }, courier::errc::invalid_option);
}

TEST_F(durable_channel, a_stored_body_that_no_longer_decodes_is_refused_on_recovery) {
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<parcel> channel(fifo(store));
    channel.send(parcel{1, "acme"}, {.group = "acme"});
    store->with_connection([](sqlite3* db) {
      ASSERT_EQ(sqlite3_exec(db, "UPDATE courier_messages_1 SET body = '{\"weight\": 3}'", nullptr, nullptr,
                             nullptr),
                SQLITE_OK);
    });
  }
  auto store = courier::sqlite::store::open(file());
  const auto text =
      error_text([&] { courier::channel<parcel> channel(fifo(store)); }, courier::errc::invalid_store);
  EXPECT_THAT(text, HasSubstr("does not decode"));
}

// The consumer side: applied keys in the same file, in one transaction with
// the consumer's own effect.
TEST_F(durable_channel, an_applied_key_and_its_effect_commit_together) {
  {
    auto store = courier::sqlite::store::open(file());
    store->with_connection([](sqlite3* db) {
      ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE shipped(parcel INTEGER)", nullptr, nullptr, nullptr),
                SQLITE_OK);
    });
    courier::sqlite::idempotent_store applied(store, "shipping");
    const auto ship = [](int parcel) {
      return [parcel](sqlite3* db) {
        const std::string sql = "INSERT INTO shipped VALUES(" + std::to_string(parcel) + ")";
        ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
      };
    };
    EXPECT_EQ(applied.apply_in_transaction("p1", ship(1)), courier::apply_outcome::applied);
    EXPECT_EQ(applied.apply_in_transaction("p1", ship(1)), courier::apply_outcome::already_applied);
    // An effect that throws leaves neither its rows nor the key behind.
    EXPECT_THROW(applied.apply_in_transaction("p2",
                                              [&](sqlite3* db) {
                                                ship(2)(db);
                                                throw std::runtime_error("printer jammed");
                                              }),
                 std::runtime_error);
    EXPECT_FALSE(applied.applied("p2"));
  }
  auto store = courier::sqlite::store::open(file());
  courier::sqlite::idempotent_store applied(store, "shipping");
  EXPECT_TRUE(applied.applied("p1"));
  EXPECT_EQ(count_rows(*store, "SELECT count(*) FROM shipped"), 1);
  EXPECT_EQ(applied.apply_once("p1", [] { FAIL() << "applied twice"; }),
            courier::apply_outcome::already_applied);
  int effects = 0;
  EXPECT_EQ(applied.apply_once("p3", [&] { ++effects; }), courier::apply_outcome::applied);
  EXPECT_EQ(effects, 1);
  courier::sqlite::idempotent_store other(store, "billing");
  EXPECT_FALSE(other.applied("p1")) << "scopes keep their keys apart";
}

}  // namespace
