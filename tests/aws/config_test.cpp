// Where courier's AWS clients find region, credentials and endpoint.
#include "courier/aws/config.hpp"

#include "courier/aws/error.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using courier::aws::config;

constexpr courier::aws::service sqs{.id = "SQS", .signing_name = "sqs"};
constexpr courier::aws::service dynamodb{.id = "DynamoDB", .signing_name = "dynamodb"};

// Clears every AWS variable the resolution reads, and points the shared
// files at a fresh temporary folder, for the test's lifetime.
class aws_environment : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                             "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS",
                             "AWS_ENDPOINT_URL_DYNAMODB"}) {
      unsetenv(name);
    }
    dir_ = fs::temp_directory_path() / fmt::format("courier-aws-{}", ::getpid());
    fs::create_directories(dir_);
    setenv("AWS_CONFIG_FILE", (dir_ / "config").c_str(), 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", (dir_ / "credentials").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const char* name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  fs::path dir_;
};

TEST_F(aws_environment, environment_variables_are_read) {
  setenv("AWS_REGION", "eu-west-1", 1);
  setenv("AWS_DEFAULT_REGION", "us-east-2", 1);  // AWS_REGION wins
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
  setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
  const auto c = config::resolve({}, sqs);
  EXPECT_EQ(c.region, "eu-west-1");
  EXPECT_EQ(c.keys.access_key_id, "AKIDENV");
  EXPECT_EQ(c.keys.secret_access_key, "secretenv");
  EXPECT_EQ(c.keys.session_token, "tokenenv");
  EXPECT_EQ(c.endpoint, "https://sqs.eu-west-1.amazonaws.com");
  EXPECT_EQ(c.profile, "default");
  EXPECT_EQ(config::resolve({}, dynamodb).endpoint, "https://dynamodb.eu-west-1.amazonaws.com");
}

TEST_F(aws_environment, a_named_profile_comes_from_the_shared_files) {
  write("config", "[default]\nregion = us-east-1\n\n[profile work]\nregion = ap-south-1\n# a comment\n");
  write("credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n"
        "[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = s2\naws_session_token = t2\n");
  setenv("AWS_PROFILE", "work", 1);
  const auto c = config::resolve({}, sqs);
  EXPECT_EQ(c.profile, "work");
  EXPECT_EQ(c.region, "ap-south-1");
  EXPECT_EQ(c.keys.access_key_id, "AKIDWORK");
  EXPECT_EQ(c.keys.session_token, "t2");
}

TEST_F(aws_environment, explicit_settings_win_over_everything) {
  setenv("AWS_REGION", "eu-west-1", 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
  setenv("AWS_ENDPOINT_URL", "http://general:1", 1);
  setenv("AWS_ENDPOINT_URL_SQS", "http://sqs-only:2/", 1);
  EXPECT_EQ(config::resolve({}, sqs).endpoint, "http://sqs-only:2");  // the SQS one, without the slash
  EXPECT_EQ(config::resolve({}, dynamodb).endpoint, "http://general:1");
  setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb-only:4",
         1);  // DynamoDB upper-cased, as the AWS CLI reads it
  EXPECT_EQ(config::resolve({}, dynamodb).endpoint, "http://dynamodb-only:4");
  config mine{.region = "us-west-2", .endpoint = "http://mine:3", .keys = {"AKIDMINE", "m", ""}};
  const auto c = config::resolve(mine, sqs);
  EXPECT_EQ(c.region, "us-west-2");
  EXPECT_EQ(c.endpoint, "http://mine:3");
  EXPECT_EQ(c.keys.access_key_id, "AKIDMINE");
}

TEST_F(aws_environment, missing_region_or_credentials_are_named_in_the_error) {
  try {
    config::resolve({}, sqs);
    FAIL() << "resolved without a region";
  } catch (const courier::aws::error& e) {
    EXPECT_EQ(e.aws_code(), "MissingConfiguration");
    EXPECT_EQ(e.code(), courier::aws::error_kind::not_sent);
    EXPECT_STREQ(e.code().category().name(), "courier.aws");
    EXPECT_EQ(e.service(), "SQS");
    EXPECT_THAT(e.what(), ::testing::HasSubstr("no region"));
  }
  setenv("AWS_REGION", "eu-west-1", 1);
  try {
    config::resolve({}, sqs);
    FAIL() << "resolved without credentials";
  } catch (const courier::aws::error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("no credentials"));
  }
}

TEST_F(aws_environment, printing_a_config_never_shows_the_secret) {
  config c{.region = "r", .endpoint = "e", .keys = {"AKIDVISIBLE", "TOPSECRET", "SESSIONSECRET"}};
  const std::string printed = fmt::format("{}", c);
  EXPECT_THAT(printed, ::testing::HasSubstr("AKIDVISIBLE"));
  EXPECT_THAT(printed, ::testing::Not(::testing::HasSubstr("TOPSECRET")));
  EXPECT_THAT(printed, ::testing::Not(::testing::HasSubstr("SESSIONSECRET")));
}

}  // namespace
