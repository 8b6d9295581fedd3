// A durable channel keeps each message's W3C trace context: it comes out
// unchanged after the store is reopened, and a store of format 1 (before
// trace contexts) is brought up to date on open, its messages kept.
#include "courier/channel.hpp"
#include "courier/sqlite/durable.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>
#include <boost/describe.hpp>

#include <filesystem>
#include <string>

namespace {

using namespace std::chrono_literals;

struct note {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(note, (), (text))

const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class durable_trace : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ =
        std::filesystem::temp_directory_path() /
        ("courier_trace_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
         "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  std::filesystem::path file() const { return directory_ / "store.db"; }
  std::filesystem::path directory_;
};

void run_sql(const std::filesystem::path& file, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

TEST_F(durable_trace, a_traceparent_comes_out_unchanged_after_the_store_is_reopened) {
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
    notes.send(note{"traced"}, {.trace = {parent, "congo=t61rcWkgMzE"}});
    notes.send(note{"plain"});
  }
  auto store = courier::sqlite::store::open(file());
  courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
  auto kept = notes.receive(2, 1s);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].message().text, "traced");
  EXPECT_EQ(kept[0].trace(), (courier::trace_context{parent, "congo=t61rcWkgMzE"}));
  EXPECT_TRUE(kept[1].trace().empty());
}

TEST_F(durable_trace, a_store_of_format_1_is_brought_up_to_date_and_keeps_its_messages) {
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
    notes.send(note{"from before"});
  }
  // What format 1 looked like: no trace columns.
  run_sql(file(),
          "ALTER TABLE courier_messages_1 DROP COLUMN traceparent; "
          "ALTER TABLE courier_messages_1 DROP COLUMN tracestate; PRAGMA user_version = 1;");
  {
    auto store = courier::sqlite::store::open(file());
    courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
    notes.send(note{"after"}, {.trace = {parent, ""}});
  }
  auto store = courier::sqlite::store::open(file());
  std::int64_t version = 0;
  store->with_connection([&](sqlite3* db) {
    sqlite3_stmt* query = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &query, nullptr);
    if (sqlite3_step(query) == SQLITE_ROW) version = sqlite3_column_int64(query, 0);
    sqlite3_finalize(query);
  });
  EXPECT_EQ(version, 2);
  courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
  auto kept = notes.receive(2, 1s);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].message().text, "from before");
  EXPECT_TRUE(kept[0].trace().empty());
  EXPECT_EQ(kept[1].trace().traceparent, parent);
}

}  // namespace
