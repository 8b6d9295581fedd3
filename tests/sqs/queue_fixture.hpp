// A test fixture with an SQS client on the moto fixture's server and queues
// of the test's own, named after the test and deleted after it.
#pragma once

#include "courier/sqs/client.hpp"
#include "moto_env.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace courier_test {

struct queue_fixture : ::testing::Test {
  courier::sqs::client sqs{fixture_options()};
  std::vector<std::string> queues;

  // A new queue's URL; fifo: a FIFO queue (".fifo").
  std::string queue(bool fifo, std::map<std::string, std::string> attributes = {}) {
    if (fifo) attributes["FifoQueue"] = "true";
    const std::string name = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                             std::to_string(queues.size()) + (fifo ? ".fifo" : "");
    queues.push_back(sqs.create_queue(name, attributes));
    return queues.back();
  }
  void TearDown() override {
    for (const auto& url : queues) sqs.delete_queue(url);
  }
};

}  // namespace courier_test
