// Receipt messages (see courier/sqs/receipts.hpp): their JSON, and what a
// consumer reads to decide where, and whether, to send one.
#include "courier/sqs/receipts.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace json = boost::json;

namespace {

std::optional<delivery_outcome> outcome_named(std::string_view name) {
  if (name == "acked") return delivery_outcome::acked;
  if (name == "dead_lettered") return delivery_outcome::dead_lettered;
  return std::nullopt;  // timed_out and abandoned are the sender's own conclusions, never sent
}

}  // namespace

outgoing_message encode_receipt(const remote_receipt& receipt) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(receipt.time.time_since_epoch()).count();
  outgoing_message out;
  out.body = json::serialize(json::object{{"id", receipt.id},
                                          {"outcome", std::string(to_string(receipt.outcome))},
                                          {"consumer", receipt.consumer},
                                          {"time", ms}});
  out.message_attributes[event_type_attribute] = attribute{"String", receipt_type};
  return out;
}

std::optional<remote_receipt> decode_receipt(const received_message& message) {
  const auto type = message.message_attributes.find(event_type_attribute);
  if (type == message.message_attributes.end() || type->second.value != receipt_type) return std::nullopt;
  std::error_code failure;
  const auto parsed = json::parse(message.body, failure);
  if (failure || !parsed.is_object()) return std::nullopt;
  const auto& body = parsed.as_object();
  const auto* id = body.if_contains("id");
  const auto* outcome = body.if_contains("outcome");
  const auto* consumer = body.if_contains("consumer");
  const auto* time = body.if_contains("time");
  if (id == nullptr || !id->is_string() || outcome == nullptr || !outcome->is_string() ||
      consumer == nullptr || !consumer->is_string() || time == nullptr || !time->is_int64()) {
    return std::nullopt;
  }
  const auto named = outcome_named(outcome->as_string());
  if (!named) return std::nullopt;
  return remote_receipt{std::string(id->as_string()), *named, std::string(consumer->as_string()),
                        std::chrono::system_clock::time_point(std::chrono::milliseconds(time->as_int64()))};
}

std::string reply_to_of(const received_message& message) {
  const auto found = message.message_attributes.find(reply_to_attribute);
  if (found == message.message_attributes.end()) return {};
  const std::string& url = found->second.value;
  if (url.size() > max_reply_to_bytes || !(url.starts_with("https://") || url.starts_with("http://")))
    return {};
  return url;
}

std::string queue_name_of(std::string_view url) {
  while (url.ends_with('/')) url.remove_suffix(1);
  return std::string(url.substr(url.rfind('/') + 1));
}

receipt_sender::receipt_sender(client& sqs, std::string consumer,
                               std::function<void(const std::string&, const std::exception&)> on_failure)
    : sqs_(sqs), consumer_(std::move(consumer)), on_failure_(std::move(on_failure)) {
  if (!on_failure_) {
    on_failure_ = [](const std::string& reply_to, const std::exception& e) {
      // A sender that has gone took its reply queue with it: nobody is
      // waiting for this receipt, which is no failure worth a line.
      const auto* answer = dynamic_cast<const aws::error*>(&e);
      if (answer != nullptr && (answer->aws_code() == "AWS.SimpleQueueService.NonExistentQueue" ||
                                answer->aws_code() == "QueueDoesNotExist")) {
        return;
      }
      fmt::print(stderr, "courier: receipt to {} not sent: {}\n", reply_to, e.what());
    };
  }
}

receipt_sender::~receipt_sender() { flush(); }

void receipt_sender::add(const received_message& message, delivery_outcome outcome) {
  std::string reply_to = reply_to_of(message);
  if (reply_to.empty()) return;
  const auto id = message.message_attributes.find(event_id_attribute);
  if (id == message.message_attributes.end()) return;  // nothing the sender could match it to
  pending_.emplace_back(std::move(reply_to), remote_receipt{id->second.value, outcome, consumer_,
                                                            std::chrono::system_clock::now()});
}

void receipt_sender::flush() {
  while (!pending_.empty()) {
    // The receipts for the first pending reply queue, up to 10.
    const std::string reply_to = pending_.front().first;
    std::vector<outgoing_message> batch;
    for (auto it = pending_.begin(); it != pending_.end() && batch.size() < 10;) {
      if (it->first != reply_to) {
        ++it;
        continue;
      }
      batch.push_back(encode_receipt(it->second));
      batch.back().entry_id = std::to_string(batch.size() - 1);
      it = pending_.erase(it);
    }
    try {
      const auto result = sqs_.send_message_batch(reply_to, batch);
      for (const auto& failure : result.failed) {
        on_failure_(reply_to, error("SQS", "SendMessageBatch", failure.code, failure.message));
      }
    } catch (const std::exception& e) {
      on_failure_(reply_to, e);
    }
  }
}

bool last_receive_check::operator()(const received_message& message) {
  std::call_once(read_, [this] {
    try {
      max_receives_ = max_receive_count(sqs_, queue_url_);
    } catch (const std::exception& e) {
      fmt::print(stderr, "courier: no dead-letter receipts from {}: {}\n", queue_url_, e.what());
    }
  });
  return max_receives_ && message.receive_count() >= *max_receives_;
}

std::optional<int> max_receive_count(client& sqs, const std::string& queue_url) {
  const std::string policy = sqs.get_queue_attributes(queue_url, {"RedrivePolicy"})["RedrivePolicy"];
  if (policy.empty()) return std::nullopt;
  std::error_code failure;
  const auto parsed = json::parse(policy, failure);
  const auto* count =
      !failure && parsed.is_object() ? parsed.as_object().if_contains("maxReceiveCount") : nullptr;
  // SQS answers the count as a number or as a string of one.
  if (count != nullptr && count->is_int64()) return static_cast<int>(count->as_int64());
  if (count != nullptr && count->is_string()) {
    try {
      return std::stoi(std::string(count->as_string()));
    } catch (const std::exception&) {
    }
  }
  throw error("SQS", "GetQueueAttributes", "MalformedResponse",
              fmt::format("RedrivePolicy of {} has no maxReceiveCount: {:.200}", queue_url, policy));
}

}  // namespace sqs
}  // namespace v1
}  // namespace courier
