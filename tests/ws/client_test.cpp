// courier::ws::client's own bounds (its behaviour with a server is in
// server_test.cpp): what waits for a server that does not answer is capped.
#include "courier/ws/client.hpp"

#include "courier/error.hpp"

#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <chrono>
#include <future>
#include <vector>

namespace {

using namespace std::chrono_literals;

// A port nothing listens on (bound, then closed).
std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(ws_client, publishes_past_max_pending_publishes_fail_at_once_with_channel_full) {
  courier::ws::client client(
      {.url = "ws://127.0.0.1:" + std::to_string(closed_port()) + "/courier", .max_pending_publishes = 3});
  client.connect();  // never connects: every publish waits
  std::vector<std::future<courier::ws::receipt_frame>> waiting;
  for (int i = 0; i < 3; ++i) waiting.push_back(client.publish("pickup", std::string(R"({"n":1})")));
  auto refused = client.publish("pickup", std::string(R"({"n":2})"));
  ASSERT_EQ(refused.wait_for(5s), std::future_status::ready) << "refused at once, not held";
  try {
    refused.get();
    ADD_FAILURE() << "a fourth publish was held";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::channel_full);
    EXPECT_NE(std::string(e.what()).find("3 publishes"), std::string::npos) << e.what();
  }
  for (auto& each : waiting) EXPECT_EQ(each.wait_for(0ms), std::future_status::timeout);
  client.close();
  for (auto& each : waiting) EXPECT_THROW(each.get(), courier::error) << "closing fails what waited";
}

}  // namespace
