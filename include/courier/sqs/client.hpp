// courier::sqs::client: the SQS operations courier needs, over the AWS JSON
// 1.0 protocol (X-Amz-Target: AmazonSQS.<Action>), signed with libcurl's
// SigV4, on reused connections.
//
// It is the layer under courier's SQS channel and is usable alone, on the
// AWS core (courier/aws/client.hpp) every courier AWS adapter shares: the
// configuration chain (AWS_ENDPOINT_URL_SQS), pooled connections, retries.
// Every call is synchronous and thread-safe. Failures throw
// courier::sqs::error (= courier::aws::error, service "SQS") with AWS's
// error code. A message whose body and attributes exceed max_message_bytes
// is refused before it is sent.
#pragma once

#include "courier/aws/client.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

using aws::config;
using aws::credentials;
using aws::error;
using aws::error_kind;

// SQS to the AWS core: SigV4 name "sqs", JSON targets "AmazonSQS.<Action>",
// messages up to 1 MiB (body and attributes; SQS's limit since 2025).
inline constexpr aws::service service{
    .id = "SQS", .signing_name = "sqs", .json_target = "AmazonSQS", .max_message_bytes = 1024 * 1024};

// The AWS core's options: settings, retries, timeouts, the response bound
// (the default 64 MiB fits ten 1-MiB messages JSON-escaped) and the message
// size limit.
using client_options = aws::client_options;

// A message attribute: DataType "String", "Number" or "Binary" (value
// base64-encoded on the wire; here the raw bytes).
struct attribute {
  std::string data_type = "String";
  std::string value = {};
  friend bool operator==(const attribute&, const attribute&) = default;
};
using attributes = std::map<std::string, attribute>;

// What SQS (and SNS) count toward the message size limit: the body, and
// each attribute's name, type and value.
std::size_t message_size(std::string_view body, const attributes& message_attributes);

// The message attribute that names a message's event type.
inline constexpr const char* event_type_attribute = "courier.type";

// The message attribute naming an SNS event's group (send_options::group),
// so a subscription's filter can pick groups (courier/sns/subscribe_queue.hpp).
inline constexpr const char* event_group_attribute = "courier.group";

// The message attribute carrying a message's key where SQS has no
// MessageDeduplicationId for it: a standard queue's idempotency key, and
// courier's id of an event published through SNS (courier/sns/publisher.hpp).
inline constexpr const char* event_id_attribute = "courier.id";

struct outgoing_message {
  std::string body = {};
  std::string group_id = {};  // FIFO queues: MessageGroupId
  std::string deduplication_id =
      {};                         // FIFO queues: MessageDeduplicationId (empty: content-based, if enabled)
  std::chrono::seconds delay{0};  // standard queues only
  attributes message_attributes = {};
  std::string entry_id = {};  // batches only: the entry's Id, unique within the batch
  // The AWSTraceHeader system attribute (X-Ray's form; see sqs/trace.hpp);
  // empty: none. Not one of the 10 message attributes.
  std::string aws_trace_header = {};
};

struct sent_message {
  std::string message_id = {};
  std::string sequence_number = {};  // FIFO queues
  std::string md5_of_body = {};
};

struct batch_failure {
  std::string entry_id = {};
  std::string code = {};
  std::string message = {};
  bool sender_fault = false;
};

struct send_batch_result {
  std::vector<std::pair<std::string, sent_message>> successful = {};  // entry id, what was sent
  std::vector<batch_failure> failed = {};
};

struct receipt_entry {
  std::string entry_id = {};
  std::string receipt_handle = {};
  std::chrono::seconds visibility{0};  // change_message_visibility_batch only
};

struct batch_result {
  std::vector<std::string> successful = {};  // entry ids
  std::vector<batch_failure> failed = {};
};

struct received_message {
  std::string message_id = {};
  std::string receipt_handle = {};
  std::string body = {};
  std::string md5_of_body = {};
  std::map<std::string, std::string> system_attributes = {};  // ApproximateReceiveCount, MessageGroupId, ...
  attributes message_attributes = {};

  // The system attribute, or "" (e.g. "MessageGroupId", "SequenceNumber").
  std::string system_attribute(const std::string& name) const;
  // ApproximateReceiveCount as a number (0 if absent).
  int receive_count() const;
  // The key an idempotent store applies it under: MessageDeduplicationId
  // (FIFO queues), else the sender's key in the "courier.id" attribute
  // (standard queues, SNS fan-out), else the MessageId.
  std::string dedup_id() const;
};

struct receive_request {
  int max_messages = 10;         // 1..10
  std::chrono::seconds wait{0};  // long poll: 0..20 s
  std::optional<std::chrono::seconds> visibility_timeout = {};
  std::string receive_request_attempt_id = {};  // FIFO: retrying a receive with it returns the same messages
  // When set, a long poll in progress ends (returning no messages) soon
  // after *cancel becomes true: how consumers stop promptly. Messages SQS
  // handed to an abandoned poll come back after their visibility timeout.
  const std::atomic<bool>* cancel = nullptr;
};

class client {
 public:
  // Resolves options.settings for SQS (aws::config::resolve) and checks
  // them. Makes no request.
  explicit client(client_options options = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  const config& settings() const noexcept;

  std::string create_queue(const std::string& name,
                           const std::map<std::string, std::string>& attributes = {});
  std::string get_queue_url(const std::string& name);
  std::map<std::string, std::string> get_queue_attributes(const std::string& queue_url,
                                                          const std::vector<std::string>& names = {"All"});
  // The queue's VisibilityTimeout attribute.
  std::chrono::seconds visibility_timeout(const std::string& queue_url);
  void set_queue_attributes(const std::string& queue_url,
                            const std::map<std::string, std::string>& attributes);
  void purge_queue(const std::string& queue_url);
  void delete_queue(const std::string& queue_url);

  sent_message send_message(const std::string& queue_url, const outgoing_message& message);
  // Up to 10 messages; each needs a distinct entry_id. Entries SQS refuses
  // come back in failed, not as an exception.
  send_batch_result send_message_batch(const std::string& queue_url,
                                       std::span<const outgoing_message> messages);
  std::vector<received_message> receive_message(const std::string& queue_url,
                                                const receive_request& request = {});
  void delete_message(const std::string& queue_url, const std::string& receipt_handle);
  batch_result delete_message_batch(const std::string& queue_url, std::span<const receipt_entry> entries);
  void change_message_visibility(const std::string& queue_url, const std::string& receipt_handle,
                                 std::chrono::seconds visibility);
  batch_result change_message_visibility_batch(const std::string& queue_url,
                                               std::span<const receipt_entry> entries);

  // Requests made, retries included (for tests and the benchmark).
  std::size_t requests_made() const noexcept;

  const client_options& options() const noexcept;

  // What SQS counts toward its size limit: the body, and each attribute's
  // name, type and value.
  static std::size_t message_size(const outgoing_message& message);

  // Throws error("MessageTooLong") when message exceeds the client's
  // max_message_bytes (SQS's 1 MiB unless set).
  void check_size(const outgoing_message& message, const char* operation) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sqs
}  // namespace v1
}  // namespace courier
