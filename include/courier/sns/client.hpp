// courier::sns::client: the SNS operations courier needs to fan events out
// across services: topics (standard and FIFO), publishing one message or a
// batch, and subscriptions of SQS queues with raw delivery and a filter
// policy.
//
// SNS speaks the Query protocol: a form-encoded POST, an XML answer. The
// request goes through the AWS core every courier adapter shares
// (courier/aws/client.hpp: the configuration chain with
// AWS_ENDPOINT_URL_SNS, SigV4, pooled connections, retries); the answer is
// read with Boost.PropertyTree's XML parser. Every call is synchronous and
// thread-safe. Failures throw courier::aws::error (service "SNS") with
// SNS's error code; a message longer than max_message_bytes is refused
// before it is sent.
//
// A retried Publish may publish twice (its first answer lost): SNS has no
// dedup on standard topics. FIFO topics dedup by MessageDeduplicationId for
// five minutes, as SQS FIFO queues do; courier's publisher also carries its
// own message id (courier/sns/publisher.hpp) so subscribers on standard
// topics can dedup with an idempotent store.
#pragma once

#include "courier/aws/client.hpp"
#include "courier/sqs/client.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sns {

using aws::config;
using aws::error;

// SNS to the AWS core: SigV4 name "sns", the Query protocol, messages up to
// 256 KiB (body and attributes).
inline constexpr aws::service service{
    .id = "SNS", .signing_name = "sns", .json_target = "", .max_message_bytes = 256 * 1024};

using client_options = aws::client_options;

// Message attributes are SQS's: with raw delivery SNS hands them to the
// subscribed queue as they were published.
using sqs::attribute;
using sqs::attributes;

struct topic_options {
  // A FIFO topic (its name must end in ".fifo"): order per message group,
  // dedup of MessageDeduplicationId for five minutes; only FIFO queues can
  // subscribe.
  bool fifo = false;
  // FIFO topics: the dedup id of a message published without one is a
  // SHA-256 of its body.
  bool content_based_deduplication = false;
  std::map<std::string, std::string> attributes = {};  // any other topic attribute
};

struct outgoing_message {
  std::string body = {};
  std::string group_id = {};          // FIFO topics: MessageGroupId (required)
  std::string deduplication_id = {};  // FIFO topics: MessageDeduplicationId
  attributes message_attributes = {};
  std::string entry_id = {};  // publish_batch() only: unique within the batch
};

struct published {
  std::string message_id = {};
  std::string sequence_number = {};  // FIFO topics
};

struct publish_batch_result {
  std::vector<std::pair<std::string, published>> successful = {};  // entry id, what was published
  std::vector<sqs::batch_failure> failed = {};
};

struct subscription {
  std::string subscription_arn = {};  // "PendingConfirmation" until an HTTP endpoint confirms
  std::string topic_arn = {};
  std::string protocol = {};  // "sqs", "https", ...
  std::string endpoint = {};  // for "sqs": the queue's ARN
  std::string owner = {};
};

class client {
 public:
  // Resolves options.settings for SNS (aws::config::resolve) and checks
  // them. Makes no request.
  explicit client(client_options options = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Creates the topic, or returns the ARN of the one of that name (SNS
  // answers CreateTopic with the existing topic when the attributes agree,
  // and with InvalidParameter when they do not).
  std::string create_topic(const std::string& name, const topic_options& options = {});
  void delete_topic(const std::string& topic_arn);
  std::map<std::string, std::string> get_topic_attributes(const std::string& topic_arn);

  // Publishes one message; returns once SNS accepted it.
  published publish(const std::string& topic_arn, const outgoing_message& message);
  // Up to 10 messages, each with a distinct entry_id. Entries SNS refuses
  // come back in failed, not as an exception.
  publish_batch_result publish_batch(const std::string& topic_arn,
                                     std::span<const outgoing_message> messages);

  // Subscribes endpoint (for protocol "sqs", a queue's ARN) with the given
  // subscription attributes (RawMessageDelivery, FilterPolicy, ...);
  // returns the subscription's ARN.
  std::string subscribe(const std::string& topic_arn, const std::string& protocol,
                        const std::string& endpoint,
                        const std::map<std::string, std::string>& attributes = {});
  void unsubscribe(const std::string& subscription_arn);
  void set_subscription_attributes(const std::string& subscription_arn, const std::string& name,
                                   const std::string& value);
  std::map<std::string, std::string> get_subscription_attributes(const std::string& subscription_arn);
  // Every subscription of the topic (all pages).
  std::vector<subscription> list_subscriptions_by_topic(const std::string& topic_arn);

  // What SNS counts toward its size limit: the body, and each attribute's
  // name, type and value.
  static std::size_t message_size(const outgoing_message& message);

  const config& settings() const noexcept;
  const client_options& options() const noexcept;
  // Requests made, retries included (for tests and the benchmark).
  std::size_t requests_made() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sns
}  // namespace v1
}  // namespace courier
