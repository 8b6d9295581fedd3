// Interop with the AWS SDK users already have: what courier sends, boto3
// reads unchanged, and the other way round (tests/sqs/boto3_peer.py).
#include "courier/sqs/client.hpp"

#include "moto_env.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

namespace {

// Runs the boto3 peer and returns what it printed; fails the test if it failed.
std::string boto3(const std::string& arguments) {
  const std::string command = "python3 " COURIER_BOTO3_PEER " " + arguments;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe.get()) != nullptr) out += chunk.data();
  const int status = pclose(pipe.release());
  if (status != 0) throw std::runtime_error("boto3 peer failed (" + std::to_string(status) + "): " + command);
  return out;
}

struct interop : ::testing::Test {
  courier::sqs::client sqs{courier_test::fixture_options()};
  std::string url;
  void SetUp() override {
    url = sqs.create_queue(
        "interop-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".fifo",
        {{"FifoQueue", "true"}});
  }
  void TearDown() override { sqs.delete_queue(url); }
};

TEST_F(interop, boto3_reads_what_courier_sent) {
  courier::sqs::outgoing_message m{.body = R"({"parcel":7,"to":"Zoë"})",
                                   .group_id = "acme",
                                   .deduplication_id = "p7",
                                   .message_attributes = {{"kind", {"String", "from-courier"}}}};
  sqs.send_message(url, m);
  const auto seen = boost::json::parse(boto3("receive " + sqs.settings().endpoint + " " + url)).as_object();
  EXPECT_EQ(seen.at("body").as_string(), m.body);
  EXPECT_EQ(seen.at("group").as_string(), "acme");
  EXPECT_EQ(seen.at("dedup").as_string(), "p7");
  EXPECT_EQ(seen.at("attributes").as_object().at("kind").as_string(), "from-courier");
}

TEST_F(interop, courier_reads_what_boto3_sent) {
  boto3("send " + sqs.settings().endpoint + " " + url + " 'hello from boto3' vendor-9 d9");
  const auto got = sqs.receive_message(url, {.max_messages = 1, .wait = std::chrono::seconds(5)});
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "hello from boto3");
  EXPECT_EQ(got[0].system_attribute("MessageGroupId"), "vendor-9");
  EXPECT_EQ(got[0].system_attribute("MessageDeduplicationId"), "d9");
  EXPECT_EQ(got[0].message_attributes.at("kind").value, "from-boto3");
  sqs.delete_message(url, got[0].receipt_handle);
}

}  // namespace
