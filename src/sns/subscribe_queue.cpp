// sns::subscribe_queue (see courier/sns/subscribe_queue.hpp): the queue, its
// policy and the subscription, each made or brought to what is asked, so
// running it again changes nothing.
#include "courier/sns/subscribe_queue.hpp"

#include "courier/error.hpp"
#include "courier/sqs/channel.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>

namespace courier {
inline namespace v1 {
namespace sns {
namespace json = boost::json;

namespace {

bool is_fifo(const std::string& name_or_arn) { return name_or_arn.ends_with(".fifo"); }

std::string last_part(const std::string& arn) { return arn.substr(arn.rfind(':') + 1); }

// The queue's URL, creating it if it does not exist. Asked first rather
// than created: CreateQueue on an existing queue fails when its attributes
// differ from the ones given, and an existing queue is kept as it is.
std::string find_or_create_queue(sqs::client& sqs, const std::string& name,
                                 std::map<std::string, std::string> attributes) {
  try {
    return sqs.get_queue_url(name);
  } catch (const aws::error& e) {
    if (e.aws_code() != "AWS.SimpleQueueService.NonExistentQueue" && e.aws_code() != "QueueDoesNotExist")
      throw;
  }
  if (is_fifo(name)) {
    attributes["FifoQueue"] = "true";
    // SNS hands a FIFO queue the topic's dedup id, so this changes nothing
    // on AWS; moto passes none for a topic's content-based dedup, and the
    // queue then dedups by content itself.
    attributes.try_emplace("ContentBasedDeduplication", "true");
  }
  return sqs.create_queue(name,
                          attributes);  // a concurrent creator with the same attributes gets the same queue
}

// The queue policy with a statement letting topic_arn send to queue_arn
// added, or nullopt when it already has that statement.
std::optional<std::string> policy_with_topic(const std::string& current, const std::string& queue_arn,
                                             const std::string& topic_arn) {
  const std::string sid = "courier-sns-" + last_part(topic_arn);
  json::object policy;
  if (!current.empty()) {
    std::error_code failure;
    auto parsed = json::parse(current, failure);
    if (failure || !parsed.is_object()) {
      throw courier::error(
          errc::invalid_option,
          fmt::format("sns::subscribe_queue: the queue's Policy is not a JSON object; not changed"));
    }
    policy = std::move(parsed.as_object());
  }
  if (!policy.contains("Version")) policy["Version"] = "2012-10-17";
  auto& statements = policy["Statement"];
  if (statements.is_object()) statements = json::array{statements};  // a single statement may stand alone
  if (!statements.is_array()) statements = json::array{};
  for (const auto& statement : statements.as_array()) {
    if (statement.is_object()) {
      const auto* id = statement.as_object().if_contains("Sid");
      if (id != nullptr && id->is_string() && id->as_string() == sid) return std::nullopt;
    }
  }
  statements.as_array().push_back(json::object{
      {"Sid", sid},
      {"Effect", "Allow"},
      {"Principal", {{"Service", "sns.amazonaws.com"}}},
      {"Action", "sqs:SendMessage"},
      {"Resource", queue_arn},
      {"Condition", {{"ArnEquals", {{"aws:SourceArn", topic_arn}}}}},
  });
  return json::serialize(policy);
}

}  // namespace

std::string filter_policy(const std::vector<std::string>& types, const std::vector<std::string>& groups) {
  json::object policy;
  auto require = [&](const char* attribute, const std::vector<std::string>& values) {
    if (values.empty()) return;
    json::array allowed;
    for (const auto& value : values) allowed.emplace_back(value);
    policy[attribute] = std::move(allowed);
  };
  require(sqs::event_type_attribute, types);
  require(sqs::event_group_attribute, groups);
  return policy.empty() ? std::string() : json::serialize(policy);
}

queue_subscription subscribe_queue(client& sns, sqs::client& sqs, const std::string& topic_arn,
                                   const std::string& queue_name, const queue_subscription_options& options) {
  if (is_fifo(queue_name) && !is_fifo(topic_arn)) {
    throw courier::error(
        errc::invalid_option,
        fmt::format("sns::subscribe_queue: FIFO queue {} on standard topic {}: SNS delivers to a "
                    "FIFO queue only from a FIFO topic",
                    queue_name, topic_arn));
  }
  queue_subscription out;
  out.queue_url = find_or_create_queue(sqs, queue_name, options.queue_attributes);
  auto attributes = sqs.get_queue_attributes(out.queue_url, {"QueueArn", "Policy"});
  out.queue_arn = attributes["QueueArn"];
  if (out.queue_arn.empty()) {
    throw aws::error("SQS", "GetQueueAttributes", "MalformedResponse", "no QueueArn for " + out.queue_url);
  }
  if (auto policy = policy_with_topic(attributes["Policy"], out.queue_arn, topic_arn)) {
    sqs.set_queue_attributes(out.queue_url, {{"Policy", *policy}});
  }

  const std::string filter = filter_policy(options.types, options.groups);
  const auto existing = sns.list_subscriptions_by_topic(topic_arn);
  const auto mine = std::find_if(existing.begin(), existing.end(), [&](const subscription& s) {
    return s.protocol == "sqs" && s.endpoint == out.queue_arn;
  });
  if (mine == existing.end()) {
    std::map<std::string, std::string> wanted{{"RawMessageDelivery", "true"}};
    if (!filter.empty()) wanted["FilterPolicy"] = filter;
    out.subscription_arn = sns.subscribe(topic_arn, "sqs", out.queue_arn, wanted);
    return out;
  }
  // Subscribed before (another start of this service): bring the
  // subscription to what is asked now.
  out.subscription_arn = mine->subscription_arn;
  auto current = sns.get_subscription_attributes(out.subscription_arn);
  if (current["RawMessageDelivery"] != "true") {
    sns.set_subscription_attributes(out.subscription_arn, "RawMessageDelivery", "true");
  }
  if (current["FilterPolicy"] != filter) {
    // An empty FilterPolicy removes the filter.
    sns.set_subscription_attributes(out.subscription_arn, "FilterPolicy", filter);
  }
  return out;
}

}  // namespace sns
}  // namespace v1
}  // namespace courier
