// The AWS core (see courier/aws/client.hpp): requests over libcurl, SigV4 by
// libcurl, a pool of reused connections, bounded retries, AWS's errors.
#include "courier/aws/client.hpp"

#include "xml_error.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <random>
#include <thread>

namespace courier {
inline namespace v1 {
namespace aws {
namespace json = boost::json;

namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Error codes AWS uses to say "slow down": retried with backoff.
bool is_throttling(std::string_view code) {
  return code == "ThrottlingException" || code == "Throttling" || code == "RequestThrottled" ||
         code == "RequestThrottledException" || code == "TooManyRequestsException" ||
         code == "ProvisionedThroughputExceededException" || code == "RequestLimitExceeded" ||
         code == "SlowDown";
}

// Transport failures worth another try: the request may not have reached
// the service, or its answer was lost on the way back.
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

// libcurl's progress callback: a non-zero return aborts the transfer. Only
// while nothing of the answer has arrived: once it is arriving, the server
// has acted (a long poll's messages are handed out), and aborting would
// lose the answer; it is read to the end instead, which is quick.
int abort_when_cancelled(void* cancel, curl_off_t, curl_off_t downloaded, curl_off_t, curl_off_t) {
  if (downloaded > 0) return 0;
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

// Form-encoding (application/x-www-form-urlencoded) of one key or value.
std::string form_escape(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0xF];
    }
  }
  return out;
}

// What one protocol puts on the wire and how it reads an error answer.
struct wire_request {
  std::string_view content_type;
  std::string target;  // X-Amz-Target, JSON protocol only
  std::string payload;
};

struct error_answer {
  std::string code;
  std::string message;
};

// An error answer in either protocol: the JSON protocol's {"__type":
// "...#Code", "message": ...}, or the Query protocol's XML (which JSON
// services also send for some failures, a bad signature on moto).
error_answer read_error(const std::string& body) {
  error_answer out;
  std::error_code parse_error;
  const json::value value = json::parse(body, parse_error);
  if (!parse_error && value.is_object()) {
    const auto& object = value.as_object();
    out.code = string_field(object, "__type");
    if (const auto hash = out.code.rfind('#'); hash != std::string::npos)
      out.code = out.code.substr(hash + 1);
    out.message = string_field(object, "message");
    if (out.message.empty()) out.message = string_field(object, "Message");
  }
  if (out.code.empty()) {
    if (auto xml = detail::read_xml_error(body)) {
      out.code = std::move(xml->code);
      out.message = std::move(xml->message);
    }
  }
  return out;
}

}  // namespace

struct client::impl {
  const service& which;
  client_options options;
  std::string url;
  std::string sigv4;
  std::mutex pool_mutex;
  std::vector<CURL*> idle;  // connections kept alive between requests
  std::atomic<std::size_t> requests{0};
  std::mutex random_mutex;
  std::mt19937_64 random{std::random_device{}()};

  impl(const service& s, client_options o) : which(s), options(std::move(o)) {}

  ~impl() {
    for (CURL* handle : idle) curl_easy_cleanup(handle);
  }

  [[noreturn]] void fail(std::string_view action, std::string code, std::string message, int status = 0,
                         int attempts = 1, std::string response = {}) const {
    throw error(std::string(which.id), std::string(action), std::move(code), std::move(message), status,
                attempts, std::move(response));
  }

  CURL* take_handle(std::string_view action) {
    {
      std::lock_guard lock(pool_mutex);
      if (!idle.empty()) {
        CURL* handle = idle.back();
        idle.pop_back();
        return handle;
      }
    }
    CURL* handle = curl_easy_init();
    if (handle == nullptr) fail(action, "TransportError", "curl_easy_init failed");
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

  // One HTTP exchange; transport says whether a response came.
  response exchange(std::string_view action, const wire_request& request, const call_options& call,
                    CURLcode& transport) {
    CURL* handle = take_handle(action);
    response out;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, fmt::format("Content-Type: {}", request.content_type).c_str());
    if (!request.target.empty()) {
      headers = curl_slist_append(headers, ("X-Amz-Target: " + request.target).c_str());
    }
    if (!options.settings.keys.session_token.empty()) {
      headers = curl_slist_append(headers,
                                  ("X-Amz-Security-Token: " + options.settings.keys.session_token).c_str());
    }
    curl_easy_reset(handle);  // options only: live connections stay
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.payload.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.payload.size()));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(handle, CURLOPT_USERNAME, options.settings.keys.access_key_id.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, options.settings.keys.secret_access_key.c_str());
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                     static_cast<long>((options.request_timeout + call.extra_time).count()));
    bounded_body body;
    body.limit = options.max_response_bytes;
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, append_bounded);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
    if (call.cancel != nullptr) {
      curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, abort_when_cancelled);
      curl_easy_setopt(handle, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(call.cancel));
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

  // Sends request, retrying what may be retried; returns the body of a 2xx
  // answer or throws error.
  std::string call(std::string_view action, const wire_request& request, const call_options& call) {
    for (int attempt = 1;; ++attempt) {
      CURLcode transport = CURLE_OK;
      response got = exchange(action, request, call, transport);
      if (transport == CURLE_ABORTED_BY_CALLBACK)
        fail(action, "Cancelled", "the caller cancelled it", 0, attempt);
      if (got.too_large) {
        fail(action, "ResponseTooLarge",
             fmt::format("the response passed client_options::max_response_bytes ({} bytes) ({})",
                         options.max_response_bytes, options.settings.endpoint),
             0, attempt);
      }
      error_answer answer;
      bool retryable = false;
      if (transport != CURLE_OK) {
        answer = {"TransportError",
                  fmt::format("{} ({})", curl_easy_strerror(transport), options.settings.endpoint)};
        retryable = is_transient(transport);
      } else {
        if (got.status >= 200 && got.status < 300) return std::move(got.body);
        answer = read_error(got.body);
        if (answer.code.empty()) {
          answer.code = fmt::format("HTTP{}", got.status);
          if (answer.message.empty()) answer.message = fmt::format("{:.200}", got.body);
        }
        retryable = got.status >= 500 || got.status == 429 || is_throttling(answer.code);
      }
      if (!retryable || attempt >= options.max_attempts) {
        fail(action, std::move(answer.code), std::move(answer.message),
             static_cast<int>(transport == CURLE_OK ? got.status : 0), attempt, std::move(got.body));
      }
      std::this_thread::sleep_for(backoff(attempt - 1));  // real time: backing off from a real server
    }
  }
};

client::client(const service& which, client_options options) {
  init_curl_once();
  options.settings = config::resolve(options.settings, which);
  if (options.max_attempts < 1) options.max_attempts = 1;
  impl_ = std::make_unique<impl>(which, std::move(options));
  impl_->url = impl_->options.settings.endpoint + "/";
  impl_->sigv4 = fmt::format("aws:amz:{}:{}", impl_->options.settings.region, which.signing_name);
}

client::~client() = default;

json::object client::call_json(std::string_view action, const json::object& body,
                               const call_options& options) {
  const wire_request request{"application/x-amz-json-1.0",
                             fmt::format("{}.{}", impl_->which.json_target, action), json::serialize(body)};
  const std::string answer = impl_->call(action, request, options);
  std::error_code parse_error;
  json::value value =
      json::parse(answer.empty() ? std::string_view("{}") : std::string_view(answer), parse_error);
  if (parse_error || !value.is_object()) {
    impl_->fail(action, "MalformedResponse", fmt::format("not a JSON object: {:.200}", answer));
  }
  return std::move(value.as_object());
}

std::string client::call_query(std::string_view action, std::string_view version, const form& parameters,
                               const call_options& options) {
  wire_request request{"application/x-www-form-urlencoded; charset=utf-8", {}, {}};
  request.payload = fmt::format("Action={}&Version={}", form_escape(action), form_escape(version));
  for (const auto& [key, value] : parameters) {
    request.payload += '&';
    request.payload += form_escape(key);
    request.payload += '=';
    request.payload += form_escape(value);
  }
  return impl_->call(action, request, options);
}

const service& client::which() const noexcept { return impl_->which; }

const config& client::settings() const noexcept { return impl_->options.settings; }

const client_options& client::options() const noexcept { return impl_->options; }

std::size_t client::requests_made() const noexcept { return impl_->requests.load(std::memory_order_relaxed); }

}  // namespace aws
}  // namespace v1
}  // namespace courier
