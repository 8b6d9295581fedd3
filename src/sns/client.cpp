// The SNS client (see courier/sns/client.hpp): SNS's actions as Query-protocol
// forms on the AWS core, their XML answers read by xml_answer.hpp.
#include "courier/sns/client.hpp"

#include "courier/detail/base64.hpp"
#include "xml_answer.hpp"

#include <fmt/format.h>

#include <utility>

namespace courier {
inline namespace v1 {
namespace sns {

namespace {

constexpr const char* api_version = "2010-03-31";

// A map as the Query protocol's "<prefix>.entry.N.key" / ".value" pairs
// (topic and subscription attributes).
void add_entries(aws::form& form, const std::string& prefix,
                 const std::map<std::string, std::string>& entries) {
  int n = 0;
  for (const auto& [key, value] : entries) {
    const std::string entry = fmt::format("{}.entry.{}.", prefix, ++n);
    form.emplace_back(entry + "key", key);
    form.emplace_back(entry + "value", value);
  }
}

// Message attributes as "<prefix>MessageAttributes.entry.N.Name", ".Value.DataType" and
// ".Value.StringValue" (or ".Value.BinaryValue", base64).
void add_message(aws::form& form, const std::string& prefix, const outgoing_message& message) {
  form.emplace_back(prefix + "Message", message.body);
  if (!message.group_id.empty()) form.emplace_back(prefix + "MessageGroupId", message.group_id);
  if (!message.deduplication_id.empty())
    form.emplace_back(prefix + "MessageDeduplicationId", message.deduplication_id);
  int n = 0;
  for (const auto& [name, attribute] : message.message_attributes) {
    const std::string entry = fmt::format("{}MessageAttributes.entry.{}.", prefix, ++n);
    form.emplace_back(entry + "Name", name);
    form.emplace_back(entry + "Value.DataType", attribute.data_type);
    if (attribute.data_type.starts_with("Binary")) {
      form.emplace_back(entry + "Value.BinaryValue", courier::detail::base64_encode(attribute.value));
    } else {
      form.emplace_back(entry + "Value.StringValue", attribute.value);
    }
  }
}

}  // namespace

struct client::impl {
  aws::client core;
  client_options options;  // as the core resolved them

  explicit impl(client_options o) : core(service, std::move(o)), options(core.options()) {
    if (options.max_message_bytes == 0) options.max_message_bytes = service.max_message_bytes;
  }

  detail::pt::ptree call(const std::string& action, const aws::form& form) {
    return detail::read_result(core.call_query(action, api_version, form), action);
  }

  void check_size(const outgoing_message& message, const char* operation) const {
    const std::size_t size = message_size(message);
    if (size > options.max_message_bytes) {
      throw error(
          "SNS", operation, "MessageTooLong",
          fmt::format("message{} is {} bytes (body and attributes), over the limit of {}; not published",
                      message.entry_id.empty() ? "" : " " + message.entry_id, size,
                      options.max_message_bytes));
    }
  }
};

client::client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

client::~client() = default;

const config& client::settings() const noexcept { return impl_->options.settings; }

const client_options& client::options() const noexcept { return impl_->options; }

std::size_t client::requests_made() const noexcept { return impl_->core.requests_made(); }

std::size_t client::message_size(const outgoing_message& message) {
  return sqs::message_size(message.body, message.message_attributes);
}

std::string client::create_topic(const std::string& name, const topic_options& options) {
  auto attributes = options.attributes;
  if (options.fifo) attributes["FifoTopic"] = "true";
  if (options.content_based_deduplication) attributes["ContentBasedDeduplication"] = "true";
  aws::form form{{"Name", name}};
  add_entries(form, "Attributes", attributes);
  const std::string arn = impl_->call("CreateTopic", form).get<std::string>("TopicArn", "");
  if (arn.empty()) throw error("SNS", "CreateTopic", "MalformedResponse", "answer names no TopicArn");
  return arn;
}

void client::delete_topic(const std::string& topic_arn) {
  impl_->call("DeleteTopic", {{"TopicArn", topic_arn}});
}

std::map<std::string, std::string> client::get_topic_attributes(const std::string& topic_arn) {
  return detail::read_entries(
      impl_->call("GetTopicAttributes", {{"TopicArn", topic_arn}}).get_child("Attributes", {}));
}

published client::publish(const std::string& topic_arn, const outgoing_message& message) {
  impl_->check_size(message, "Publish");
  aws::form form{{"TopicArn", topic_arn}};
  add_message(form, "", message);
  const auto result = impl_->call("Publish", form);
  return {result.get<std::string>("MessageId", ""), result.get<std::string>("SequenceNumber", "")};
}

publish_batch_result client::publish_batch(const std::string& topic_arn,
                                           std::span<const outgoing_message> messages) {
  aws::form form{{"TopicArn", topic_arn}};
  int n = 0;
  for (const auto& message : messages) {
    impl_->check_size(message, "PublishBatch");
    const std::string entry = fmt::format("PublishBatchRequestEntries.member.{}.", ++n);
    form.emplace_back(entry + "Id", message.entry_id);
    add_message(form, entry, message);
  }
  const auto result = impl_->call("PublishBatch", form);
  publish_batch_result out;
  for (const auto& [name, member] : result.get_child("Successful", {})) {
    if (name != "member") continue;
    out.successful.emplace_back(
        member.get<std::string>("Id", ""),
        published{member.get<std::string>("MessageId", ""), member.get<std::string>("SequenceNumber", "")});
  }
  for (const auto& [name, member] : result.get_child("Failed", {})) {
    if (name != "member") continue;
    out.failed.push_back({member.get<std::string>("Id", ""), member.get<std::string>("Code", ""),
                          member.get<std::string>("Message", ""),
                          member.get<std::string>("SenderFault", "") == "true"});
  }
  return out;
}

std::string client::subscribe(const std::string& topic_arn, const std::string& protocol,
                              const std::string& endpoint,
                              const std::map<std::string, std::string>& attributes) {
  aws::form form{{"TopicArn", topic_arn}, {"Protocol", protocol}, {"Endpoint", endpoint}};
  add_entries(form, "Attributes", attributes);
  form.emplace_back("ReturnSubscriptionArn", "true");
  const std::string arn = impl_->call("Subscribe", form).get<std::string>("SubscriptionArn", "");
  if (arn.empty()) throw error("SNS", "Subscribe", "MalformedResponse", "answer names no SubscriptionArn");
  return arn;
}

void client::unsubscribe(const std::string& subscription_arn) {
  impl_->call("Unsubscribe", {{"SubscriptionArn", subscription_arn}});
}

void client::set_subscription_attributes(const std::string& subscription_arn, const std::string& name,
                                         const std::string& value) {
  impl_->call("SetSubscriptionAttributes",
              {{"SubscriptionArn", subscription_arn}, {"AttributeName", name}, {"AttributeValue", value}});
}

std::map<std::string, std::string> client::get_subscription_attributes(const std::string& subscription_arn) {
  return detail::read_entries(
      impl_->call("GetSubscriptionAttributes", {{"SubscriptionArn", subscription_arn}})
          .get_child("Attributes", {}));
}

std::vector<subscription> client::list_subscriptions_by_topic(const std::string& topic_arn) {
  std::vector<subscription> out;
  std::string next;
  do {
    aws::form form{{"TopicArn", topic_arn}};
    if (!next.empty()) form.emplace_back("NextToken", next);
    const auto result = impl_->call("ListSubscriptionsByTopic", form);
    for (const auto& [name, member] : result.get_child("Subscriptions", {})) {
      if (name != "member") continue;
      out.push_back({member.get<std::string>("SubscriptionArn", ""), member.get<std::string>("TopicArn", ""),
                     member.get<std::string>("Protocol", ""), member.get<std::string>("Endpoint", ""),
                     member.get<std::string>("Owner", "")});
    }
    const std::string following = result.get<std::string>("NextToken", "");
    if (following == next) break;  // a page that points at itself would never end
    next = following;
  } while (!next.empty());
  return out;
}

}  // namespace sns
}  // namespace v1
}  // namespace courier
