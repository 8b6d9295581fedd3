// The SQS client (see courier/sqs/client.hpp): SQS's actions and their JSON
// shapes, on the AWS core.
#include "courier/sqs/client.hpp"

#include "courier/detail/base64.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <charconv>
#include <utility>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace json = boost::json;

namespace {

std::string string_field(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || !value->is_string()) return {};
  return std::string(value->as_string());
}

json::object attributes_to_json(const attributes& attrs) {
  json::object out;
  for (const auto& [name, attribute] : attrs) {
    json::object one{{"DataType", attribute.data_type}};
    if (attribute.data_type.starts_with("Binary")) {
      one["BinaryValue"] = courier::detail::base64_encode(attribute.value);
    } else {
      one["StringValue"] = attribute.value;
    }
    out[name] = std::move(one);
  }
  return out;
}

attributes attributes_from_json(const json::object& object, const char* operation) {
  attributes out;
  for (const auto& [name, value] : object) {
    if (!value.is_object()) continue;
    const auto& one = value.as_object();
    attribute a{string_field(one, "DataType"), {}};
    if (a.data_type.starts_with("Binary")) {
      auto bytes = courier::detail::base64_decode(string_field(one, "BinaryValue"));
      if (!bytes)
        throw error("SQS", operation, "MalformedResponse",
                    fmt::format("attribute {}: BinaryValue is not base64", std::string(name)));
      a.value = std::move(*bytes);
    } else {
      a.value = string_field(one, "StringValue");
    }
    out.emplace(std::string(name), std::move(a));
  }
  return out;
}

json::object message_to_json(const outgoing_message& message) {
  json::object out{{"MessageBody", message.body}};
  if (!message.group_id.empty()) out["MessageGroupId"] = message.group_id;
  if (!message.deduplication_id.empty()) out["MessageDeduplicationId"] = message.deduplication_id;
  if (message.delay.count() != 0) out["DelaySeconds"] = message.delay.count();
  if (!message.message_attributes.empty())
    out["MessageAttributes"] = attributes_to_json(message.message_attributes);
  if (!message.aws_trace_header.empty()) {
    out["MessageSystemAttributes"] = json::object{
        {"AWSTraceHeader", json::object{{"DataType", "String"}, {"StringValue", message.aws_trace_header}}}};
  }
  return out;
}

std::vector<batch_failure> failures_from_json(const json::object& response) {
  std::vector<batch_failure> out;
  if (const auto* failed = response.if_contains("Failed"); failed != nullptr && failed->is_array()) {
    for (const auto& entry : failed->as_array()) {
      if (!entry.is_object()) continue;
      const auto& f = entry.as_object();
      const auto* sender = f.if_contains("SenderFault");
      out.push_back({string_field(f, "Id"), string_field(f, "Code"), string_field(f, "Message"),
                     sender != nullptr && sender->is_bool() && sender->as_bool()});
    }
  }
  return out;
}

const json::array& array_field(const json::object& response, std::string_view key) {
  static const json::array empty;
  const auto* value = response.if_contains(key);
  return value != nullptr && value->is_array() ? value->as_array() : empty;
}

}  // namespace

std::string received_message::system_attribute(const std::string& name) const {
  const auto found = system_attributes.find(name);
  return found == system_attributes.end() ? std::string() : found->second;
}

int received_message::receive_count() const {
  const std::string text = system_attribute("ApproximateReceiveCount");
  int count = 0;
  std::from_chars(text.data(), text.data() + text.size(), count);
  return count;
}

std::string received_message::dedup_id() const {
  if (std::string id = system_attribute("MessageDeduplicationId"); !id.empty()) return id;
  const auto key = message_attributes.find(event_id_attribute);
  if (key != message_attributes.end() && !key->second.value.empty()) return key->second.value;
  return message_id;
}

struct client::impl {
  aws::client core;
  client_options options;  // as the core resolved them

  explicit impl(client_options o) : core(service, std::move(o)), options(core.options()) {
    if (options.max_message_bytes == 0) options.max_message_bytes = service.max_message_bytes;
  }

  json::object call(std::string_view action, const json::object& body,
                    std::chrono::milliseconds extra_time = std::chrono::milliseconds(0),
                    const std::atomic<bool>* cancel = nullptr) {
    return core.call_json(action, body, {.extra_time = extra_time, .cancel = cancel});
  }
};

client::client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

client::~client() = default;

const config& client::settings() const noexcept { return impl_->options.settings; }

std::size_t client::requests_made() const noexcept { return impl_->core.requests_made(); }

const client_options& client::options() const noexcept { return impl_->options; }

std::size_t message_size(std::string_view body, const attributes& message_attributes) {
  std::size_t size = body.size();
  for (const auto& [name, attribute] : message_attributes) {
    size += name.size() + attribute.data_type.size() + attribute.value.size();
  }
  return size;
}

std::size_t client::message_size(const outgoing_message& message) {
  return sqs::message_size(message.body, message.message_attributes);
}

void client::check_size(const outgoing_message& message, const char* operation) const {
  const std::size_t size = message_size(message);
  const std::size_t limit = impl_->options.max_message_bytes;
  if (size > limit) {
    throw error("SQS", operation, "MessageTooLong",
                fmt::format("message{} is {} bytes (body and attributes), over the limit of {}; not sent",
                            message.entry_id.empty() ? "" : " " + message.entry_id, size, limit));
  }
}

std::string client::create_queue(const std::string& name,
                                 const std::map<std::string, std::string>& attributes) {
  json::object body{{"QueueName", name}};
  if (!attributes.empty()) {
    json::object attrs;
    for (const auto& [key, value] : attributes) attrs[key] = value;
    body["Attributes"] = std::move(attrs);
  }
  return string_field(impl_->call("CreateQueue", body), "QueueUrl");
}

std::string client::get_queue_url(const std::string& name) {
  return string_field(impl_->call("GetQueueUrl", {{"QueueName", name}}), "QueueUrl");
}

std::map<std::string, std::string> client::get_queue_attributes(const std::string& queue_url,
                                                                const std::vector<std::string>& names) {
  json::array wanted;
  for (const auto& name : names) wanted.emplace_back(name);
  const auto response =
      impl_->call("GetQueueAttributes", {{"QueueUrl", queue_url}, {"AttributeNames", wanted}});
  std::map<std::string, std::string> out;
  if (const auto* attrs = response.if_contains("Attributes"); attrs != nullptr && attrs->is_object()) {
    for (const auto& [key, value] : attrs->as_object()) {
      if (value.is_string()) out.emplace(std::string(key), std::string(value.as_string()));
    }
  }
  return out;
}

std::chrono::seconds client::visibility_timeout(const std::string& queue_url) {
  const std::string text = get_queue_attributes(queue_url, {"VisibilityTimeout"})["VisibilityTimeout"];
  int seconds = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), seconds).ec != std::errc()) {
    throw error("SQS", "GetQueueAttributes", "MalformedResponse",
                fmt::format("VisibilityTimeout of {} is not a number: {:.50}", queue_url, text));
  }
  return std::chrono::seconds(seconds);
}

void client::set_queue_attributes(const std::string& queue_url,
                                  const std::map<std::string, std::string>& attributes) {
  json::object attrs;
  for (const auto& [key, value] : attributes) attrs[key] = value;
  impl_->call("SetQueueAttributes", {{"QueueUrl", queue_url}, {"Attributes", std::move(attrs)}});
}

void client::purge_queue(const std::string& queue_url) {
  impl_->call("PurgeQueue", {{"QueueUrl", queue_url}});
}

void client::delete_queue(const std::string& queue_url) {
  impl_->call("DeleteQueue", {{"QueueUrl", queue_url}});
}

namespace {

sent_message sent_from_json(const json::object& response) {
  return {string_field(response, "MessageId"), string_field(response, "SequenceNumber"),
          string_field(response, "MD5OfMessageBody")};
}

}  // namespace

sent_message client::send_message(const std::string& queue_url, const outgoing_message& message) {
  check_size(message, "SendMessage");
  json::object body = message_to_json(message);
  body["QueueUrl"] = queue_url;
  return sent_from_json(impl_->call("SendMessage", body));
}

send_batch_result client::send_message_batch(const std::string& queue_url,
                                             std::span<const outgoing_message> messages) {
  json::array entries;
  for (const auto& message : messages) {
    check_size(message, "SendMessageBatch");
    json::object entry = message_to_json(message);
    entry["Id"] = message.entry_id;
    entries.emplace_back(std::move(entry));
  }
  const auto response =
      impl_->call("SendMessageBatch", {{"QueueUrl", queue_url}, {"Entries", std::move(entries)}});
  send_batch_result out;
  for (const auto& entry : array_field(response, "Successful")) {
    if (!entry.is_object()) continue;
    out.successful.emplace_back(string_field(entry.as_object(), "Id"), sent_from_json(entry.as_object()));
  }
  out.failed = failures_from_json(response);
  return out;
}

std::vector<received_message> client::receive_message(const std::string& queue_url,
                                                      const receive_request& request) {
  json::object body{{"QueueUrl", queue_url},
                    {"MaxNumberOfMessages", request.max_messages},
                    {"WaitTimeSeconds", request.wait.count()},
                    {"AttributeNames", json::array{"All"}},
                    {"MessageSystemAttributeNames", json::array{"All"}},
                    {"MessageAttributeNames", json::array{"All"}}};
  if (request.visibility_timeout) body["VisibilityTimeout"] = request.visibility_timeout->count();
  if (!request.receive_request_attempt_id.empty()) {
    body["ReceiveRequestAttemptId"] = request.receive_request_attempt_id;
  }
  std::vector<received_message> out;
  if (request.cancel != nullptr && request.cancel->load(std::memory_order_acquire)) return out;
  json::object response;
  try {
    response = impl_->call("ReceiveMessage", body, request.wait, request.cancel);
  } catch (const error& e) {
    if (e.aws_code() == "Cancelled") return out;
    throw;
  }
  for (const auto& entry : array_field(response, "Messages")) {
    if (!entry.is_object()) continue;
    const auto& m = entry.as_object();
    received_message message{string_field(m, "MessageId"),
                             string_field(m, "ReceiptHandle"),
                             string_field(m, "Body"),
                             string_field(m, "MD5OfBody"),
                             {},
                             {}};
    if (const auto* attrs = m.if_contains("Attributes"); attrs != nullptr && attrs->is_object()) {
      for (const auto& [key, value] : attrs->as_object()) {
        if (value.is_string())
          message.system_attributes.emplace(std::string(key), std::string(value.as_string()));
      }
    }
    if (const auto* attrs = m.if_contains("MessageAttributes"); attrs != nullptr && attrs->is_object()) {
      message.message_attributes = attributes_from_json(attrs->as_object(), "ReceiveMessage");
    }
    out.push_back(std::move(message));
  }
  return out;
}

void client::delete_message(const std::string& queue_url, const std::string& receipt_handle) {
  impl_->call("DeleteMessage", {{"QueueUrl", queue_url}, {"ReceiptHandle", receipt_handle}});
}

namespace {

batch_result batch_from_json(const json::object& response) {
  batch_result out;
  for (const auto& entry : array_field(response, "Successful")) {
    if (entry.is_object()) out.successful.push_back(string_field(entry.as_object(), "Id"));
  }
  out.failed = failures_from_json(response);
  return out;
}

}  // namespace

batch_result client::delete_message_batch(const std::string& queue_url,
                                          std::span<const receipt_entry> entries) {
  json::array list;
  for (const auto& entry : entries)
    list.emplace_back(json::object{{"Id", entry.entry_id}, {"ReceiptHandle", entry.receipt_handle}});
  return batch_from_json(
      impl_->call("DeleteMessageBatch", {{"QueueUrl", queue_url}, {"Entries", std::move(list)}}));
}

void client::change_message_visibility(const std::string& queue_url, const std::string& receipt_handle,
                                       std::chrono::seconds visibility) {
  impl_->call("ChangeMessageVisibility", {{"QueueUrl", queue_url},
                                          {"ReceiptHandle", receipt_handle},
                                          {"VisibilityTimeout", visibility.count()}});
}

batch_result client::change_message_visibility_batch(const std::string& queue_url,
                                                     std::span<const receipt_entry> entries) {
  json::array list;
  for (const auto& entry : entries) {
    list.emplace_back(json::object{{"Id", entry.entry_id},
                                   {"ReceiptHandle", entry.receipt_handle},
                                   {"VisibilityTimeout", entry.visibility.count()}});
  }
  return batch_from_json(
      impl_->call("ChangeMessageVisibilityBatch", {{"QueueUrl", queue_url}, {"Entries", std::move(list)}}));
}

}  // namespace sqs
}  // namespace v1
}  // namespace courier
