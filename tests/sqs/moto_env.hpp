// Where the CTest fixtures (moto.sh, fault_proxy.py, make_iam_user.py) left
// their state, for the SQS and DynamoDB tests. Every lookup fails loudly: a test that
// needs the server never runs without it.
#pragma once

#include "courier/aws/client.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace courier_test {

// The file name in the folder the environment variable names.
inline std::string fixture_state(const char* variable, const std::string& name) {
  const char* dir = std::getenv(variable);
  if (dir == nullptr)
    throw std::runtime_error(std::string(variable) + " is not set: run the SQS tests through ctest");
  std::ifstream file(std::string(dir) + "/" + name);
  std::string value;
  if (!(file >> value)) throw std::runtime_error("fixture state missing: " + std::string(dir) + "/" + name);
  return value;
}

// Client options for the server (or proxy) whose state variable names;
// file "upstream_endpoint" with the proxy's: the server behind it.
inline courier::aws::client_options fixture_options(const char* variable = "COURIER_TEST_MOTO_DIR",
                                                    const char* file = "endpoint") {
  courier::aws::client_options options;
  options.settings = {
      .region = "us-east-1", .endpoint = fixture_state(variable, file), .keys = {"testing", "testing"}};
  return options;
}

}  // namespace courier_test
