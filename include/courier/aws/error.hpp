// courier::aws::error: what went wrong talking to an AWS service, with AWS's
// own words.
//
// Every failure of courier's AWS clients (SQS, DynamoDB, SNS) surfaces as this
// exception, a courier::error like every exception courier throws. Its code()
// says what kind of failure it was (aws::error_kind, category "courier.aws");
// service() names the service ("SQS"), operation() the action; aws_code() is
// the code string: AWS's own ("QueueDoesNotExist",
// "ConditionalCheckFailedException", ...) when AWS answered with an error, or
// courier's for a request it refused before sending ("MessageTooLong",
// "MissingConfiguration"), a transport failure ("TransportError", message()
// what libcurl said), a response it could not use ("MalformedResponse",
// "ResponseTooLarge") or a cancelled one ("Cancelled"). response() keeps the
// body of AWS's error answer (bounded by the client's max_response_bytes):
// DynamoDB puts the item that failed a condition there. It never carries
// credentials.
#pragma once

#include "courier/error.hpp"

#include <string>
#include <string_view>
#include <system_error>

namespace courier {
inline namespace v1 {
namespace aws {

enum class error_kind {
  aws_error = 1,  // AWS (or the endpoint) answered with an error; aws_code() is AWS's code
  not_sent,       // courier refused the request before sending it
  transport,      // no response came (connection, TLS, timeout)
  bad_response,   // a response courier could not use
  cancelled,      // the caller cancelled it
};

// The category of aws::error_kind; its name is "courier.aws". Thread-safe.
inline const std::error_category& error_category() noexcept {
  class category final : public std::error_category {
   public:
    const char* name() const noexcept override { return "courier.aws"; }
    std::string message(int value) const override {
      switch (static_cast<error_kind>(value)) {
        case error_kind::aws_error:
          return "the AWS endpoint answered with an error";
        case error_kind::not_sent:
          return "the request was not sent";
        case error_kind::transport:
          return "no response from the AWS endpoint";
        case error_kind::bad_response:
          return "an unusable response from the AWS endpoint";
        case error_kind::cancelled:
          return "cancelled";
      }
      return "unknown AWS error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(error_kind value) noexcept {
  return {static_cast<int>(value), error_category()};
}

class error : public courier::error {
 public:
  // service: "SQS", "DynamoDB"; operation: the action ("SendMessage");
  // code: AWS's error code or courier's (see above); status: the HTTP
  // status, 0 when no response came; attempts: how many times it was tried;
  // response: the error answer's body.
  error(std::string service, std::string operation, std::string code, std::string message, int status = 0,
        int attempts = 1, std::string response = {})
      : courier::error(make_error_code(kind_of(code)),
                       describe(service, operation, code, message, status, attempts)),
        service_(std::move(service)),
        operation_(std::move(operation)),
        aws_code_(std::move(code)),
        message_(std::move(message)),
        response_(std::move(response)),
        status_(status),
        attempts_(attempts) {}

  const std::string& service() const noexcept { return service_; }
  const std::string& operation() const noexcept { return operation_; }
  const std::string& aws_code() const noexcept { return aws_code_; }
  const std::string& message() const noexcept { return message_; }
  const std::string& response() const noexcept { return response_; }
  int http_status() const noexcept { return status_; }
  int attempts() const noexcept { return attempts_; }

 private:
  // courier's own codes are a closed set; anything else came from AWS.
  static error_kind kind_of(std::string_view code) noexcept {
    if (code == "TransportError") return error_kind::transport;
    if (code == "Cancelled") return error_kind::cancelled;
    if (code == "MalformedResponse" || code == "ResponseTooLarge") return error_kind::bad_response;
    if (code == "MessageTooLong" || code == "MissingConfiguration") return error_kind::not_sent;
    return error_kind::aws_error;
  }

  static std::string describe(const std::string& service, const std::string& operation,
                              const std::string& code, const std::string& message, int status, int attempts) {
    std::string text = service + " " + operation + ": " + code;
    if (!message.empty()) text += ": " + message;
    if (status != 0) text += " (HTTP " + std::to_string(status) + ")";
    if (attempts > 1) text += " after " + std::to_string(attempts) + " attempts";
    return text;
  }

  std::string service_;
  std::string operation_;
  std::string aws_code_;
  std::string message_;
  std::string response_;
  int status_;
  int attempts_;
};

}  // namespace aws
}  // namespace v1
}  // namespace courier

template <>
struct std::is_error_code_enum<courier::aws::error_kind> : std::true_type {};
