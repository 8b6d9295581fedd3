// The SQS client through a proxy that fails on purpose (fault_proxy.py:
// 15% HTTP 500, 10% throttling, 10% dropped connections, half of those after
// moto applied the request): every operation still succeeds through bounded
// retries, nothing is duplicated (a FIFO queue's dedup ids absorb the
// retried sends whose answers were lost), and without retries each failure
// surfaces with its code.
#include "courier/sqs/client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

namespace {

using namespace std::chrono_literals;

std::string endpoint_in(const char* variable) {
  const char* dir = std::getenv(variable);
  if (dir == nullptr) throw std::runtime_error(std::string(variable) + " is not set: run through ctest");
  std::ifstream file(std::string(dir) + "/endpoint");
  std::string endpoint;
  if (!(file >> endpoint)) throw std::runtime_error(std::string("no endpoint in ") + dir);
  return endpoint;
}

courier::sqs::client_options through_proxy(int attempts) {
  courier::sqs::client_options options;
  options.settings = {.region = "us-east-1",
                      .endpoint = endpoint_in("COURIER_TEST_PROXY_DIR"),
                      .keys = {"testing", "testing", ""}};
  options.max_attempts = attempts;
  options.backoff_base = 1ms;
  options.backoff_cap = 20ms;
  return options;
}

TEST(sqs_faults, retries_carry_every_operation_through_and_nothing_is_duplicated) {
  courier::sqs::client sqs(through_proxy(12));
  const std::string url = sqs.create_queue("faults-retried.fifo", {{"FifoQueue", "true"}});
  constexpr int messages = 40;
  for (int i = 0; i < messages; ++i) {
    sqs.send_message(url, {.body = "m" + std::to_string(i),
                           .group_id = "g" + std::to_string(i % 4),
                           .deduplication_id = "d" + std::to_string(i)});
  }
  std::multiset<std::string> received;
  for (int round = 0; round < 200 && received.size() < messages; ++round) {
    for (const auto& m : sqs.receive_message(url, {.max_messages = 10, .visibility_timeout = 2s})) {
      received.insert(m.body);
      try {
        sqs.delete_message(url, m.receipt_handle);
      } catch (const courier::sqs::error& e) {
        // A delete whose answer was lost and retried may find the handle gone.
        EXPECT_EQ(e.code(), "ReceiptHandleIsInvalid") << e.what();
      }
    }
  }
  std::set<std::string> unique(received.begin(), received.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(messages));
  for (const auto& body : unique) EXPECT_EQ(received.count(body), 1U) << body << " delivered twice";
  EXPECT_GT(sqs.requests_made(), static_cast<std::size_t>(messages) * 2);  // the faults really happened
  sqs.delete_queue(url);
}

TEST(sqs_faults, without_retries_each_failure_surfaces_with_its_code) {
  courier::sqs::client sqs(through_proxy(1));
  const std::set<std::string> injected = {"InternalError", "ThrottlingException", "TransportError"};
  std::set<std::string> codes;
  for (int i = 0; i < 300 && codes.size() < injected.size(); ++i) {
    try {
      sqs.get_queue_url("faults-never-there");  // QueueDoesNotExist when the proxy lets it through
    } catch (const courier::sqs::error& e) {
      if (injected.contains(e.code())) codes.insert(e.code());
      EXPECT_EQ(e.attempts(), 1);
    }
  }
  EXPECT_TRUE(codes.contains("InternalError"));
  EXPECT_TRUE(codes.contains("ThrottlingException"));
  EXPECT_TRUE(codes.contains("TransportError"));
}

}  // namespace
