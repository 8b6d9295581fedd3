// Where courier's AWS clients find their region, credentials and endpoint:
// the way the AWS CLI and SDKs do, so an application configured for them
// works unchanged, for every service courier speaks (SQS, DynamoDB, SNS).
//
// resolve(explicit_settings, service) fills each field from the first place
// that has it:
//   region       explicit, AWS_REGION, AWS_DEFAULT_REGION, the profile's
//                `region` in ~/.aws/config
//   credentials  explicit, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
//                AWS_SESSION_TOKEN), the profile in ~/.aws/credentials, then
//                in ~/.aws/config
//   endpoint     explicit, AWS_ENDPOINT_URL_<SERVICE> (AWS_ENDPOINT_URL_SQS,
//                AWS_ENDPOINT_URL_DYNAMODB, ...), AWS_ENDPOINT_URL, else
//                https://<service>.<region>.amazonaws.com
//   profile      explicit, AWS_PROFILE, "default"
// The files are AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE when set.
// Throws courier::aws::error (code "MissingConfiguration") when no region
// or no credentials can be found. fmt-printing a config shows the key id
// but never the secret or the session token.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace aws {

// What tells one AWS service from another to the shared client: the rest
// (signing, retries, errors) is the same for all of them.
struct service {
  // The service id in messages and in AWS_ENDPOINT_URL_<ID> (upper-cased,
  // spaces as underscores, as the AWS CLI reads it): "SQS", "DynamoDB".
  std::string_view id;
  // SigV4's service name, also the default endpoint's host prefix: "sqs".
  std::string_view signing_name;
  // The JSON protocol's X-Amz-Target prefix ("AmazonSQS",
  // "DynamoDB_20120810"); empty for a Query-protocol service.
  std::string_view json_target = {};
  // The largest message the service takes (body and attributes), checked
  // before sending; 0 for services without messages.
  std::size_t max_message_bytes = 0;
};

struct credentials {
  std::string access_key_id = {};
  std::string secret_access_key = {};
  std::string session_token = {};  // empty unless temporary credentials
};

struct config {
  std::string region = {};
  std::string endpoint = {};  // scheme://host[:port], no path
  credentials keys = {};
  std::string profile = {};

  // See the header comment. Thread-safe (reads the environment and files).
  static config resolve(const config& explicit_settings, const service& for_service);
};

}  // namespace aws
}  // namespace v1
}  // namespace courier

template <>
struct fmt::formatter<courier::aws::config> : fmt::formatter<std::string_view> {
  auto format(const courier::aws::config& c, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "region {}, endpoint {}, key id {}, secret ***{}, profile {}", c.region,
                          c.endpoint, c.keys.access_key_id,
                          c.keys.session_token.empty() ? "" : ", session token ***", c.profile);
  }
};
