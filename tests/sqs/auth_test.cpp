// Signatures: courier's requests, signed by libcurl's SigV4, against a moto
// server that checks them (fixture moto_auth, user made by make_iam_user.py).
#include "courier/sqs/client.hpp"

#include "moto_env.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace {

std::string read_state(const std::string& name) {
  return courier_test::fixture_state("COURIER_TEST_MOTO_DIR", name);
}

courier::sqs::client_options signed_with(const std::string& secret) {
  courier::sqs::client_options options;
  options.settings = {
      .region = "us-east-1", .endpoint = read_state("endpoint"), .keys = {read_state("key_id"), secret, ""}};
  return options;
}

TEST(sqs_signatures, requests_signed_with_the_users_key_are_accepted) {
  courier::sqs::client sqs(signed_with(read_state("secret")));
  const std::string url = sqs.create_queue("signed-requests");
  sqs.send_message(url, {.body = "signed"});
  const auto got = sqs.receive_message(url);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "signed");
  sqs.delete_queue(url);
}

TEST(sqs_signatures, a_wrong_secret_fails_with_signature_does_not_match_and_the_secret_is_not_shown) {
  courier::sqs::client sqs(signed_with("not-the-secret-at-all"));
  try {
    sqs.create_queue("never-made");
    FAIL() << "a request signed with the wrong secret was accepted";
  } catch (const courier::sqs::error& e) {
    EXPECT_EQ(e.aws_code(), "SignatureDoesNotMatch");
    EXPECT_EQ(e.http_status(), 403);
    EXPECT_EQ(e.attempts(), 1);  // not retried
    EXPECT_THAT(e.what(), ::testing::Not(::testing::HasSubstr("not-the-secret-at-all")));
  }
}

}  // namespace
