// Where the SQS client finds its region, credentials and endpoint: the way
// the AWS CLI and SDKs do, so an application configured for them works
// unchanged.
//
// resolve(explicit_settings) fills each field from the first place that has
// it:
//   region       explicit, AWS_REGION, AWS_DEFAULT_REGION, the profile's
//                `region` in ~/.aws/config
//   credentials  explicit, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
//                AWS_SESSION_TOKEN), the profile in ~/.aws/credentials, then
//                in ~/.aws/config
//   endpoint     explicit, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, else
//                https://sqs.<region>.amazonaws.com
//   profile      explicit, AWS_PROFILE, "default"
// The files are AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE when set.
// Throws courier::sqs::error (code "MissingConfiguration") when no region
// or no credentials can be found. fmt-printing a config shows the key id
// but never the secret or the session token.
#pragma once

#include <fmt/format.h>

#include <string>

namespace courier {
inline namespace v1 {
namespace sqs {

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

  static config resolve(const config& explicit_settings);
  static config resolve() { return resolve(config{}); }
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier

template <>
struct fmt::formatter<courier::sqs::config> : fmt::formatter<std::string_view> {
  auto format(const courier::sqs::config& c, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "region {}, endpoint {}, key id {}, secret ***{}, profile {}", c.region,
                          c.endpoint, c.keys.access_key_id,
                          c.keys.session_token.empty() ? "" : ", session token ***", c.profile);
  }
};
