// courier::aws::client: the one HTTP core under courier's AWS adapters (SQS,
// DynamoDB, SNS). It knows how to reach and talk to an AWS service, nothing
// about any one service: the configuration chain (config.hpp), libcurl's
// SigV4 signing, a pool of kept-alive connections, bounded retries and the
// mapping of AWS's error answers onto courier::aws::error.
//
// Protocols: call_json() speaks the JSON 1.0 protocol (a POST with
// X-Amz-Target: <service.json_target>.<Action>) that SQS and DynamoDB use.
// The Query protocol (a form-encoded POST, an XML answer) that SNS speaks
// goes through the same exchange and retry loop: call_query() returns the
// answer's XML text for the service's client to parse.
//
// Retries: throttling, HTTP 5xx and transport failures are tried again with
// exponential backoff and full jitter, at most client_options::max_attempts
// times in all; nothing else is. A retried write may have been applied by
// the attempt whose answer was lost: the service clients above make their
// writes safe to repeat (DynamoDB's conditions, SQS's dedup ids) or say so.
//
// Every call is synchronous and thread-safe (connections come from the
// pool, so a long poll on one thread does not hold up a call on another).
#pragma once

#include "courier/aws/config.hpp"
#include "courier/aws/error.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace aws {

struct client_options {
  config settings = {};                         // resolved with config::resolve() when the client is made
  int max_attempts = 4;                         // first try included
  std::chrono::milliseconds backoff_base{50};   // before the first retry, doubled each time
  std::chrono::milliseconds backoff_cap{2000};  // no single pause is longer
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{30000};
  // A response body longer than this fails the request with
  // error("ResponseTooLarge"), not retried: an endpoint that streams
  // without end does not grow memory with it.
  std::size_t max_response_bytes = 64 * 1024 * 1024;
  // Messaging services (SQS, SNS): a message whose body and attributes are
  // longer is refused before it is sent; 0: the service's own limit
  // (service::max_message_bytes).
  std::size_t max_message_bytes = 0;
};

struct call_options {
  // Added to request_timeout for this call (a long poll's wait).
  std::chrono::milliseconds extra_time{0};
  // When set, the call ends with error("Cancelled") soon after *cancel
  // becomes true.
  const std::atomic<bool>* cancel = nullptr;
};

// A Query-protocol request's parameters, in order: ("Action" and "Version"
// are added by call_query).
using form = std::vector<std::pair<std::string, std::string>>;

class client {
 public:
  // Resolves options.settings for the service (config::resolve) and checks
  // them; throws error("MissingConfiguration"). Makes no request. which
  // must outlive the client (services are constants).
  client(const service& which, client_options options);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // One JSON 1.0 action: returns the answer's object, or throws
  // courier::aws::error (the answer's __type as aws_code()). Thread-safe.
  boost::json::object call_json(std::string_view action, const boost::json::object& body,
                                const call_options& options = {});

  // One Query-protocol action with API version version: returns the XML
  // answer's text, or throws courier::aws::error (the <Error><Code> of the
  // answer as aws_code()). Thread-safe.
  std::string call_query(std::string_view action, std::string_view version, const form& parameters,
                         const call_options& options = {});

  const service& which() const noexcept;
  const config& settings() const noexcept;
  const client_options& options() const noexcept;

  // Requests made, retries included (for tests and the benchmark).
  // Thread-safe.
  std::size_t requests_made() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aws
}  // namespace v1
}  // namespace courier
