// receipt_ledger: every verdict a receipt can get, without exceptions, and
// the error each refusal becomes.
#include "courier/detail/channel/receipt_ledger.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace {

using courier::clock;
using courier::delivery_outcome;
using courier::errc;
using courier::message_id;
using courier::receipt;
using courier::detail::live_delivery;
using courier::detail::receipt_ledger;
using courier::detail::receipt_verdict;
using namespace std::chrono_literals;

const clock::time_point t0{};

TEST(receipt_ledger, the_current_open_delivery_may_settle) {
  const receipt_ledger ledger(1s, 1024);
  const receipt handle{message_id{1}, 4};
  EXPECT_EQ(ledger.check(handle, live_delivery{4, true, true}, false, t0).verdict, receipt_verdict::open);
  // An ack may still settle a delivery whose visibility ran out; nack and extend may not.
  EXPECT_EQ(ledger.check(handle, live_delivery{4, true, false}, true, t0).verdict, receipt_verdict::open);
  EXPECT_EQ(ledger.check(handle, live_delivery{4, true, false}, false, t0).verdict, receipt_verdict::expired);
}

TEST(receipt_ledger, an_older_or_nacked_delivery_is_refused) {
  const receipt_ledger ledger(1s, 1024);
  const auto again = ledger.check(receipt{message_id{1}, 4}, live_delivery{5, true, true}, true, t0);
  EXPECT_EQ(again.verdict, receipt_verdict::delivered_again);
  EXPECT_EQ(again.current_delivery, 5u);
  EXPECT_EQ(ledger.check(receipt{message_id{1}, 4}, live_delivery{4, false, false}, true, t0).verdict,
            receipt_verdict::nacked);
}

TEST(receipt_ledger, a_settled_message_tells_its_acking_delivery_from_any_other) {
  receipt_ledger ledger(1s, 1024);
  ledger.settled(1, 4, delivery_outcome::acked, t0);
  ledger.settled(2, 6, delivery_outcome::dead_lettered, t0);
  EXPECT_EQ(ledger.check(receipt{message_id{1}, 4}, std::nullopt, true, t0).verdict,
            receipt_verdict::already_acked);
  const auto other = ledger.check(receipt{message_id{1}, 3}, std::nullopt, true, t0);
  EXPECT_EQ(other.verdict, receipt_verdict::settled);
  EXPECT_EQ(other.outcome, delivery_outcome::acked);
  const auto dead = ledger.check(receipt{message_id{2}, 6}, std::nullopt, true, t0);
  EXPECT_EQ(dead.verdict, receipt_verdict::settled);
  EXPECT_EQ(dead.outcome, delivery_outcome::dead_lettered);
}

TEST(receipt_ledger, settlements_are_forgotten_after_their_lifetime) {
  receipt_ledger ledger(1s, 1024);
  ledger.settled(1, 1, delivery_outcome::acked, t0);
  EXPECT_EQ(ledger.check(receipt{message_id{1}, 1}, std::nullopt, true, t0 + 999ms).verdict,
            receipt_verdict::already_acked);
  EXPECT_EQ(ledger.check(receipt{message_id{1}, 1}, std::nullopt, true, t0 + 1s).verdict,
            receipt_verdict::unknown);
  EXPECT_EQ(ledger.check(receipt{message_id{9}, 1}, std::nullopt, true, t0).verdict,
            receipt_verdict::unknown);
}

TEST(receipt_ledger, each_refusal_becomes_the_error_its_operation_throws) {
  const receipt handle{message_id{1}, 4};
  const auto unknown = receipt_ledger::refusal({receipt_verdict::unknown}, handle, "ack");
  EXPECT_EQ(unknown.code(), courier::make_error_code(errc::unknown_receipt));
  EXPECT_NE(std::string(unknown.what()).find("ack("), std::string::npos);
  const auto again = receipt_ledger::refusal({receipt_verdict::delivered_again, {}, 5}, handle, "nack");
  EXPECT_EQ(again.code(), courier::make_error_code(errc::stale_receipt));
  EXPECT_NE(std::string(again.what()).find("delivered again since (delivery 5)"), std::string::npos);
  const auto acked = receipt_ledger::refusal({receipt_verdict::already_acked}, handle, "extend");
  EXPECT_NE(std::string(acked.what()).find("already acked"), std::string::npos);
  const auto expired = receipt_ledger::refusal({receipt_verdict::expired}, handle, "nack");
  EXPECT_NE(std::string(expired.what()).find("visibility timeout has passed"), std::string::npos);
}

}  // namespace
