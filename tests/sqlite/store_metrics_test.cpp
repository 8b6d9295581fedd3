// A sqlite::store's figures: the writer's transactions and changes counted
// exactly, failed writes counted, the file's size, promtool accepting the
// exposition.
#include "courier/channel.hpp"
#include "courier/prometheus.hpp"
#include "courier/sqlite/durable.hpp"

#include "../metric_samples.hpp"
#include "../promtool.hpp"

#include <gtest/gtest.h>
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

class store_metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("courier_store_metrics_" +
                  std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
                  std::to_string(::getpid()));
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  std::filesystem::path file() const { return directory_ / "store.db"; }
  std::filesystem::path directory_;
};

TEST_F(store_metrics, count_each_transaction_and_change_the_writer_committed) {
  auto registry = std::make_shared<courier::metrics_registry>();
  // every_send: one transaction per send; no purge until an hour from now.
  auto store = courier::sqlite::store::open(
      file(),
      {.sync = courier::sqlite::sync_policy::every_send, .retention_interval = 1h, .metrics = registry});
  courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
  for (int n = 0; n < 3; ++n) notes.send(note{"n" + std::to_string(n)});  // each returns once committed

  auto metrics = registry->read();
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_store_transactions_total").value, 3);
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_store_changes_written_total").value, 3);
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_store_failed_transactions_total").value, 0);
  EXPECT_EQ(courier_test::sample_of(metrics, "courier_store_pending_changes").value, 0);
  EXPECT_GT(courier_test::sample_of(metrics, "courier_store_file_bytes").value, 0);
  const auto* commits = metrics.find("db_client_operation_duration_seconds");
  ASSERT_NE(commits, nullptr);
  EXPECT_EQ(commits->samples.at(0).count, 3u);
  const std::string text = courier::render_prometheus(metrics);
  EXPECT_NE(text.find("db_namespace=\"" + file().string() + "\""), std::string::npos) << text;
  const auto [status, said] = courier_test::promtool_check(text);
  EXPECT_EQ(status, 0) << said << "\n" << text;
}

TEST_F(store_metrics, a_write_the_disk_refuses_is_counted_as_failed) {
  auto registry = std::make_shared<courier::metrics_registry>();
  auto store = courier::sqlite::store::open(file(), {.max_size = 64 * 1024, .metrics = registry});
  courier::channel<note> notes({.durable = courier::sqlite::durable<note>(store, "notes")});
  EXPECT_THROW(notes.send(note{std::string(256 * 1024, 'x')}), courier::error);
  EXPECT_GE(store->stats().failed_transactions, 1u);
  EXPECT_GE(courier_test::sample_of(registry->read(), "courier_store_failed_transactions_total").value, 1);
}

TEST_F(store_metrics, a_closed_store_is_no_longer_reported) {
  auto registry = std::make_shared<courier::metrics_registry>();
  {
    auto store = courier::sqlite::store::open(file(), {.metrics = registry});
    EXPECT_NE(registry->read().find("courier_store_transactions_total"), nullptr);
  }
  EXPECT_TRUE(registry->read().families().empty());
}

}  // namespace
