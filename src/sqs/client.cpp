// The SQS client (see courier/sqs/client.hpp): JSON 1.0 requests over
// libcurl, SigV4 by libcurl, a pool of reused connections, bounded retries.
#include "courier/sqs/client.hpp"

#include "courier/detail/base64.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace json = boost::json;

namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Error codes AWS uses to say "slow down": retried with backoff.
bool is_throttling(const std::string& code) {
  return code == "ThrottlingException" || code == "Throttling" || code == "RequestThrottled" ||
         code == "RequestThrottledException" || code == "TooManyRequestsException" ||
         code == "ProvisionedThroughputExceededException" || code == "SlowDown";
}

// Transport failures worth another try: the request may not have reached
// SQS, or its answer was lost on the way back.
bool is_transient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// The text of the first <name>...</name> in xml, or "".
std::string xml_element(const std::string& xml, const std::string& name) {
  const std::string open = "<" + name + ">";
  const auto start = xml.find(open);
  if (start == std::string::npos) return {};
  const auto end = xml.find("</" + name + ">", start + open.size());
  if (end == std::string::npos) return {};
  return xml.substr(start + open.size(), end - start - open.size());
}

// libcurl's progress callback: a non-zero return aborts the transfer.
int abort_when_cancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load(std::memory_order_acquire) ? 1 : 0;
}

// A response body, bounded: an endpoint (or something posing as one) that
// answers with more than limit bytes fails the request instead of growing
// the process's memory.
struct bounded_body {
  std::string text;
  std::size_t limit = 0;
  bool over = false;
};

std::size_t append_bounded(char* data, std::size_t size, std::size_t count, void* target) {
  auto& body = *static_cast<bounded_body*>(target);
  if (size * count > body.limit - body.text.size()) {
    body.over = true;
    return 0;  // libcurl then fails the transfer with CURLE_WRITE_ERROR
  }
  body.text.append(data, size * count);
  return size * count;
}

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
        throw error(operation, "MalformedResponse",
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

struct client::impl {
  client_options options;
  std::string url;
  std::string sigv4;
  std::mutex pool_mutex;
  std::vector<CURL*> idle;  // connections kept alive between requests
  std::atomic<std::size_t> requests{0};
  std::mutex random_mutex;
  std::mt19937_64 random{std::random_device{}()};

  ~impl() {
    for (CURL* handle : idle) curl_easy_cleanup(handle);
  }

  CURL* take_handle() {
    {
      std::lock_guard lock(pool_mutex);
      if (!idle.empty()) {
        CURL* handle = idle.back();
        idle.pop_back();
        return handle;
      }
    }
    CURL* handle = curl_easy_init();
    if (handle == nullptr) throw error("connect", "TransportError", "curl_easy_init failed");
    return handle;
  }

  void give_back(CURL* handle) {
    std::lock_guard lock(pool_mutex);
    idle.push_back(handle);
  }

  std::chrono::milliseconds backoff(int retry) {
    const auto ceiling =
        std::min<long long>(options.backoff_cap.count(), options.backoff_base.count() << std::min(retry, 20));
    std::lock_guard lock(random_mutex);
    return std::chrono::milliseconds(
        std::uniform_int_distribution<long long>(0, std::max<long long>(ceiling, 0))(random));
  }

  struct response {
    long status = 0;
    std::string body;
    bool too_large = false;  // the body passed max_response_bytes
  };

  // One HTTP exchange; throws error("TransportError") when no response came.
  response exchange(const std::string& action, const std::string& payload,
                    std::chrono::milliseconds extra_time, const std::atomic<bool>* cancel,
                    CURLcode& transport) {
    CURL* handle = take_handle();
    response out;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/x-amz-json-1.0");
    headers = curl_slist_append(headers, ("X-Amz-Target: AmazonSQS." + action).c_str());
    if (!options.settings.keys.session_token.empty()) {
      headers = curl_slist_append(headers,
                                  ("X-Amz-Security-Token: " + options.settings.keys.session_token).c_str());
    }
    curl_easy_reset(handle);  // options only: live connections stay
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(handle, CURLOPT_USERNAME, options.settings.keys.access_key_id.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, options.settings.keys.secret_access_key.c_str());
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                     static_cast<long>((options.request_timeout + extra_time).count()));
    bounded_body body;
    body.limit = options.max_response_bytes;
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, append_bounded);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
    if (cancel != nullptr) {
      curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, abort_when_cancelled);
      curl_easy_setopt(handle, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel));
      curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    }
    transport = curl_easy_perform(handle);
    requests.fetch_add(1, std::memory_order_relaxed);
    curl_slist_free_all(headers);
    out.body = std::move(body.text);
    out.too_large = body.over;
    if (transport == CURLE_OK) {
      curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &out.status);
      give_back(handle);
    } else {
      curl_easy_cleanup(handle);  // a failed connection is not worth keeping
    }
    return out;
  }

  // Sends action with its JSON body, retrying what may be retried; returns
  // the parsed response object or throws error.
  json::object call(const std::string& action, const json::object& body,
                    std::chrono::milliseconds extra_time = std::chrono::milliseconds(0),
                    const std::atomic<bool>* cancel = nullptr) {
    const std::string payload = json::serialize(body);
    for (int attempt = 1;; ++attempt) {
      CURLcode transport = CURLE_OK;
      const response got = exchange(action, payload, extra_time, cancel, transport);
      if (transport == CURLE_ABORTED_BY_CALLBACK)
        throw error(action, "Cancelled", "the caller cancelled it", 0, attempt);
      if (got.too_large) {
        throw error(action, "ResponseTooLarge",
                    fmt::format("the response passed client_options::max_response_bytes ({} bytes) ({})",
                                options.max_response_bytes, options.settings.endpoint),
                    0, attempt);
      }
      std::string code;
      std::string message;
      bool retryable = false;
      if (transport != CURLE_OK) {
        code = "TransportError";
        message = fmt::format("{} ({})", curl_easy_strerror(transport), options.settings.endpoint);
        retryable = is_transient(transport);
      } else {
        json::object parsed;
        std::error_code parse_error;
        json::value value =
            json::parse(got.body.empty() ? std::string_view("{}") : std::string_view(got.body), parse_error);
        if (!parse_error && value.is_object()) parsed = std::move(value.as_object());
        if (got.status >= 200 && got.status < 300) {
          if (parse_error || !value.is_object()) {
            throw error(action, "MalformedResponse", fmt::format("not a JSON object: {:.200}", got.body),
                        static_cast<int>(got.status), attempt);
          }
          return parsed;
        }
        // AWS JSON errors: {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "..."}
        code = string_field(parsed, "__type");
        if (const auto hash = code.rfind('#'); hash != std::string::npos) code = code.substr(hash + 1);
        message = string_field(parsed, "message");
        if (message.empty()) message = string_field(parsed, "Message");
        if (code.empty()) {
          // Some failures (a bad signature, on moto) come in the query
          // protocol's XML: <Error><Code>...</Code><Message>...</Message>.
          code = xml_element(got.body, "Code");
          message = xml_element(got.body, "Message");
        }
        if (code.empty()) {
          code = fmt::format("HTTP{}", got.status);
          if (message.empty()) message = fmt::format("{:.200}", got.body);
        }
        retryable = got.status >= 500 || got.status == 429 || is_throttling(code);
      }
      if (!retryable || attempt >= options.max_attempts) {
        throw error(action, code, message, static_cast<int>(transport == CURLE_OK ? got.status : 0), attempt);
      }
      std::this_thread::sleep_for(backoff(attempt - 1));  // real time: backing off from a real server
    }
  }
};

client::client(client_options options) : impl_(std::make_unique<impl>()) {
  init_curl_once();
  options.settings = config::resolve(options.settings);
  if (options.max_attempts < 1) options.max_attempts = 1;
  impl_->url = options.settings.endpoint + "/";
  impl_->sigv4 = "aws:amz:" + options.settings.region + ":sqs";
  impl_->options = std::move(options);
}

client::~client() = default;

const config& client::settings() const noexcept { return impl_->options.settings; }

std::size_t client::requests_made() const noexcept { return impl_->requests.load(std::memory_order_relaxed); }

const client_options& client::options() const noexcept { return impl_->options; }

std::size_t client::message_size(const outgoing_message& message) {
  std::size_t size = message.body.size();
  for (const auto& [name, attribute] : message.message_attributes) {
    size += name.size() + attribute.data_type.size() + attribute.value.size();
  }
  return size;
}

void client::check_size(const outgoing_message& message, const char* operation) const {
  const std::size_t size = message_size(message);
  const std::size_t limit = impl_->options.max_message_bytes;
  if (size > limit) {
    throw error(operation, "MessageTooLong",
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
