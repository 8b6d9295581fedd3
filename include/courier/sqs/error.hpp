// courier::sqs::error: what went wrong talking to SQS, with AWS's own words.
//
// Every failure of the SQS client surfaces as this exception: an error AWS
// returned (code() is its error code, such as "QueueDoesNotExist" or
// "InvalidParameterValue", message() its message), a request courier
// refused before sending (code() "MessageTooLong", ...), or a transport
// failure (code() "TransportError", message() what libcurl said). It never
// carries credentials.
#pragma once

#include <stdexcept>
#include <string>

namespace courier {
inline namespace v1 {
namespace sqs {

class error : public std::runtime_error {
 public:
  // operation: the SQS action ("SendMessage"); status: the HTTP status, 0
  // when no response came; attempts: how many times it was tried.
  error(std::string operation, std::string code, std::string message, int status = 0, int attempts = 1)
      : std::runtime_error(describe(operation, code, message, status, attempts)),
        operation_(std::move(operation)),
        code_(std::move(code)),
        message_(std::move(message)),
        status_(status),
        attempts_(attempts) {}

  const std::string& operation() const noexcept { return operation_; }
  const std::string& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  int http_status() const noexcept { return status_; }
  int attempts() const noexcept { return attempts_; }

 private:
  static std::string describe(const std::string& operation, const std::string& code,
                              const std::string& message, int status, int attempts) {
    std::string text = "SQS " + operation + ": " + code;
    if (!message.empty()) text += ": " + message;
    if (status != 0) text += " (HTTP " + std::to_string(status) + ")";
    if (attempts > 1) text += " after " + std::to_string(attempts) + " attempts";
    return text;
  }

  std::string operation_;
  std::string code_;
  std::string message_;
  int status_;
  int attempts_;
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
