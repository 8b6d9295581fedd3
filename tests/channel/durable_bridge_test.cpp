// durable_bridge: stored times round-trip, every change reaches the
// journal, and a write's report says which messages became durable and
// which sends failed.
#include "courier/detail/channel/durable_bridge.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using courier::clock;
using courier::journal_write;
using courier::stored_message;
using courier::detail::dedup_key;
using courier::detail::durable_bridge;
using namespace std::chrono_literals;

// Records what the bridge asks of a journal; hands out tickets in order.
class recording_journal final : public courier::channel_journal {
 public:
  courier::recovered_channel recover(std::chrono::milliseconds) override { return {}; }
  void start(std::function<void(const journal_write&)>) override {}
  void stop() override {}
  std::uint64_t record_accepted(stored_message message, bool by_send) override {
    log.push_back("accepted " + std::to_string(message.id) + (by_send ? " by send" : ""));
    return ++ticket;
  }
  std::uint64_t record_delivered(std::uint64_t id, std::uint32_t count, courier::stored_time) override {
    log.push_back("delivered " + std::to_string(id) + " #" + std::to_string(count));
    return ++ticket;
  }
  std::uint64_t record_settled(std::uint64_t id, courier::stored_state) override {
    log.push_back("settled " + std::to_string(id));
    return ++ticket;
  }
  std::uint64_t record_dead_lettered(std::uint64_t id, channel_journal&, stored_message letter) override {
    log.push_back("dead-lettered " + std::to_string(id) + " as " + std::to_string(letter.id));
    return ++ticket;
  }
  std::uint64_t last_ticket() const override { return ticket; }
  void wait_durable(std::uint64_t) override {}
  std::shared_ptr<channel_journal> dead_letter_journal() override { return nullptr; }

  std::vector<std::string> log;
  std::uint64_t ticket = 0;
};

courier::durability<int> durability_on(std::shared_ptr<recording_journal> journal) {
  return {journal, [](const int& value) { return std::to_string(value); },
          [](std::string_view text) { return std::stoi(std::string(text)); }};
}

stored_message message(std::uint64_t id) { return stored_message{.id = id, .body = std::to_string(id)}; }

TEST(durable_bridge, it_needs_both_encode_and_decode) {
  courier::durability<int> half{
      std::make_shared<recording_journal>(), [](const int&) { return std::string(); }, {}};
  EXPECT_THROW(durable_bridge<int>(half, clock::time_point{}), courier::error);
}

TEST(durable_bridge, stored_times_round_trip_and_keep_their_order) {
  const durable_bridge<int> bridge(durability_on(std::make_shared<recording_journal>()),
                                   clock::time_point{} + 5s);
  const auto at = clock::time_point{} + 7s;
  // Stored times are whole milliseconds of the wall clock.
  const auto back = bridge.from_stored(bridge.to_stored(at));
  EXPECT_LT(std::chrono::abs(back - at), 1ms);
  EXPECT_LT(bridge.to_stored(at), bridge.to_stored(at + 1ms));
}

TEST(durable_bridge, a_write_releases_its_messages_in_ticket_order) {
  auto journal = std::make_shared<recording_journal>();
  durable_bridge<int> bridge(durability_on(journal), clock::time_point{});
  EXPECT_EQ(bridge.accepted(message(1), dedup_key("k1"), true, nullptr, 0), 1u);
  EXPECT_EQ(bridge.accepted(message(2), dedup_key(), true, nullptr, 0), 2u);
  bridge.delivered(1, 1, clock::time_point{});
  bridge.acked(1);
  EXPECT_EQ(journal->log, (std::vector<std::string>{"accepted 1 by send", "accepted 2 by send",
                                                    "delivered 1 #1", "settled 1"}));
  std::vector<std::uint64_t> durable;
  const auto keep = [&](std::uint64_t id) { durable.push_back(id); };
  const auto fail = [](const auto&) { FAIL() << "nothing failed"; };
  bridge.wrote(journal_write{.last_ticket = 1}, keep, fail);
  EXPECT_EQ(durable, (std::vector<std::uint64_t>{1}));
  bridge.wrote(journal_write{.last_ticket = 4}, keep, fail);
  EXPECT_EQ(durable, (std::vector<std::uint64_t>{1, 2}));
}

TEST(durable_bridge, a_failed_write_drops_its_sends_with_their_keys_and_keeps_the_rest_unsaved) {
  auto journal = std::make_shared<recording_journal>();
  durable_bridge<int> bridge(durability_on(journal), clock::time_point{});
  bridge.accepted(message(1), dedup_key("k1"), true, nullptr, 0);
  bridge.accepted(message(2), dedup_key("k2"), false, nullptr, 0);  // from inside the channel: no key kept
  std::vector<std::uint64_t> durable;
  std::vector<std::string> failed_keys;
  const auto keep = [&](std::uint64_t id) { durable.push_back(id); };
  const auto fail = [&](const durable_bridge<int>::unsaved& entry) { failed_keys.push_back(entry.key.key); };
  bridge.wrote(journal_write{.last_ticket = 2, .failed_ids = {1}, .failure = "disk full"}, keep, fail);
  EXPECT_EQ(failed_keys, (std::vector<std::string>{"k1"}));
  EXPECT_TRUE(durable.empty());
  bridge.wrote(journal_write{.last_ticket = 2, .failure = "disk full"}, keep, fail);  // written again later
  EXPECT_TRUE(durable.empty());
  bridge.wrote(journal_write{.last_ticket = 2}, keep, fail);
  EXPECT_EQ(durable, (std::vector<std::uint64_t>{2}));
}

TEST(durable_bridge, a_body_that_does_not_decode_is_an_invalid_store_naming_the_message) {
  const durable_bridge<int> bridge(durability_on(std::make_shared<recording_journal>()), clock::time_point{});
  try {
    (void)bridge.decode(stored_message{.id = 3, .group = "g", .body = "not a number"});
    FAIL() << "decoded";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::make_error_code(courier::errc::invalid_store));
    EXPECT_NE(std::string(e.what()).find("recovering message 3 (group 'g')"), std::string::npos);
  }
}

}  // namespace
