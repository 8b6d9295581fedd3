// The frames of the courier.v1 WebSocket protocol (docs/protocol.md) as C++
// values, and their JSON text both ways.
//
// decode_client_frame is the server's only parser of what a peer sends, so
// it never throws and never trusts a field: every malformed input becomes a
// frame_error naming the code of docs/protocol.md §8 and the field. The
// libFuzzer target tests/ws/frame_fuzz.cpp runs it on arbitrary bytes.
// decode_server_frame is the same for the C++ client.
#pragma once

#include "courier/trace_context.hpp"
#include "courier/ws/error_codes.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws {

// The subprotocol a client must offer.
inline constexpr std::string_view subprotocol = "courier.v1";

// --- client to server ------------------------------------------------------

struct hello_frame {
  std::optional<std::string> client = {};
  std::optional<std::string> resume = {};
  std::optional<std::uint64_t> acked = {};
  std::optional<std::string> token = {};
  std::optional<std::string> ref = {};
};

struct subscribe_frame {
  bool unsubscribe = false;  // the same frame with op "unsubscribe"
  std::vector<std::string> topics = {};
  std::optional<std::string> ref = {};
};

struct ack_frame {
  std::vector<std::string> ids = {};
  std::optional<std::uint64_t> upto = {};
  std::optional<std::string> ref = {};
};

struct publish_frame {
  std::string topic = {};
  boost::json::value data = {};
  std::optional<std::string> key = {};
  std::optional<std::string> group = {};
  std::optional<std::string> ref = {};
  // W3C trace context the event carries on (docs/protocol.md §5); a
  // malformed one is ignored, as W3C asks of a receiver.
  std::optional<std::string> traceparent = {};
  std::optional<std::string> tracestate = {};
};

using client_frame = std::variant<hello_frame, subscribe_frame, ack_frame, publish_frame>;

// Why a frame was refused (docs/protocol.md §8).
struct frame_error {
  error_code code = error_code::malformed_json;  // or unknown_op, missing_field, wrong_type, bad_value
  std::string message;                           // for people
  std::string field = {};
  std::optional<std::string> ref = {};  // of the frame, when it parsed that far
  std::string op = {};                  // of the frame, when it parsed that far (a bad hello is fatal)
};

// How deeply a frame's JSON may nest (objects and arrays, the frame itself
// being level 1), anywhere in it: in data, in unknown fields. It bounds the
// parser's work and stack; deeper is bad_value (docs/protocol.md §2).
inline constexpr std::size_t max_json_depth = 128;

// Never throws.
std::variant<client_frame, frame_error> decode_client_frame(std::string_view text);

std::string encode(const hello_frame& frame);
std::string encode(const subscribe_frame& frame);
std::string encode(const ack_frame& frame);
std::string encode(const publish_frame& frame);

// --- server to client ------------------------------------------------------

struct server_limits {
  std::uint64_t window = 256;
  std::uint64_t slow_after = 1024;
  std::uint64_t max_queued = 10'000;
  std::uint64_t max_frame = 1024 * 1024;
  std::uint64_t rate = 1000;
  std::uint64_t heartbeat_ms = 15'000;
  std::uint64_t session_ttl_ms = 120'000;
  std::uint64_t dedup_window_ms = 300'000;
  std::uint64_t max_send_buffer = 16 * 1024 * 1024;
};

struct welcome_frame {
  std::string session = {};
  std::string resume = {};
  bool resumed = false;
  std::uint64_t acked = 0;
  std::vector<std::string> topics = {};
  server_limits limits = {};
};

struct subscribed_frame {
  bool unsubscribed = false;  // op "unsubscribed"
  std::vector<std::string> topics = {};
  std::optional<std::string> ref = {};
};

struct event_frame {
  std::string id = {};
  std::uint64_t seq = 0;
  std::string topic = {};
  std::optional<std::string> group = {};
  std::string data = {};  // JSON text, as encoded once for every session
  std::uint64_t attempt = 1;
  // The W3C trace context of the work that published it; empty: none.
  std::string traceparent = {};
  std::string tracestate = {};
};

struct receipt_frame {
  std::string id = {};
  bool duplicate = false;
  std::optional<std::string> key = {};
  std::optional<std::string> ref = {};
};

struct error_frame {
  std::string code = {};
  std::string message = {};
  bool fatal = false;
  std::optional<std::string> ref = {};
  std::string field = {};
  std::vector<std::string> ids = {};
  std::optional<std::uint64_t> seq = {};
  std::vector<std::string> topics = {};
};

// An error frame of code: its wire name and fatal flag from the table
// (error_codes.hpp), and message, for people.
inline error_frame make_error(error_code code, std::string message, std::optional<std::string> ref = {}) {
  return error_frame{.code = std::string(info(code).name),
                     .message = std::move(message),
                     .fatal = info(code).fatal,
                     .ref = std::move(ref)};
}

using server_frame = std::variant<welcome_frame, subscribed_frame, event_frame, receipt_frame, error_frame>;

std::string encode(const welcome_frame& frame);
std::string encode(const subscribed_frame& frame);
std::string encode(const event_frame& frame);
std::string encode(const receipt_frame& frame);
std::string encode(const error_frame& frame);

// Never throws; for the client.
std::variant<server_frame, frame_error> decode_server_frame(std::string_view text);

}  // namespace ws
}  // namespace v1
}  // namespace courier
