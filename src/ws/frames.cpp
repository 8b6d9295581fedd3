// The courier.v1 frames to and from JSON text (see frames.hpp and
// docs/protocol.md §2-3 for every rule checked here).
#include "courier/ws/frames.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <cmath>
#include <limits>
#include <utility>

namespace courier {
inline namespace v1 {
namespace ws {

namespace json = boost::json;

namespace {

constexpr std::uint64_t max_integer = (std::uint64_t{1} << 53) - 1;

struct length_limit {
  std::size_t min;
  std::size_t max;
};
constexpr length_limit topic_length{1, 128};
constexpr length_limit key_length{1, 128};
constexpr length_limit group_length{1, 128};
constexpr length_limit id_length{1, 64};
constexpr length_limit ref_length{1, 64};
constexpr length_limit traceparent_length{1, 256};
constexpr length_limit tracestate_length{0, 512};
constexpr length_limit name_length{1, 128};
constexpr length_limit token_length{1, 8192};
constexpr length_limit any_length{0, std::numeric_limits<std::size_t>::max()};
constexpr std::size_t max_topics = 64;
constexpr std::size_t max_ids = 4096;

// Reads the fields of one frame object, recording the first problem.
class field_reader {
 public:
  field_reader(const json::object& object, frame_error& error) : object_(object), error_(error) {}

  bool failed() const { return failed_; }

  // An absent or null field is nullopt; required ones record missing_field.
  const json::value* find(std::string_view name, bool required) {
    const json::value* found = object_.if_contains(name);
    if (found != nullptr && found->is_null()) found = nullptr;
    if (found == nullptr && required)
      fail(error_code::missing_field, name, fmt::format("'{}' is required", name));
    return found;
  }

  std::optional<std::string> string(std::string_view name, bool required, length_limit limit) {
    const json::value* found = find(name, required);
    if (found == nullptr || failed()) return std::nullopt;
    if (!found->is_string()) {
      fail(error_code::wrong_type, name, fmt::format("'{}' must be a string", name));
      return std::nullopt;
    }
    const json::string& text = found->get_string();
    if (text.size() < limit.min || text.size() > limit.max) {
      fail(error_code::bad_value, name,
           fmt::format("'{}' must be {} to {} bytes, not {}", name, limit.min, limit.max, text.size()));
      return std::nullopt;
    }
    return std::string(text);
  }

  std::optional<std::uint64_t> integer(std::string_view name, bool required) {
    const json::value* found = find(name, required);
    if (found == nullptr || failed()) return std::nullopt;
    if (found->is_int64() && found->get_int64() >= 0 &&
        static_cast<std::uint64_t>(found->get_int64()) <= max_integer) {
      return static_cast<std::uint64_t>(found->get_int64());
    }
    if (found->is_uint64() && found->get_uint64() <= max_integer) return found->get_uint64();
    fail(error_code::wrong_type, name, fmt::format("'{}' must be a whole number from 0 to 2^53-1", name));
    return std::nullopt;
  }

  bool boolean(std::string_view name, bool required, bool fallback = false) {
    const json::value* found = find(name, required);
    if (found == nullptr || failed()) return fallback;
    if (!found->is_bool()) {
      fail(error_code::wrong_type, name, fmt::format("'{}' must be true or false", name));
      return fallback;
    }
    return found->get_bool();
  }

  std::optional<std::vector<std::string>> strings(std::string_view name, bool required, std::size_t max_count,
                                                  length_limit limit, std::size_t min_count = 1) {
    const json::value* found = find(name, required);
    if (found == nullptr || failed()) return std::nullopt;
    if (!found->is_array()) {
      fail(error_code::wrong_type, name, fmt::format("'{}' must be an array of strings", name));
      return std::nullopt;
    }
    const json::array& items = found->get_array();
    if (items.size() < min_count || items.size() > max_count) {
      fail(error_code::bad_value, name,
           fmt::format("'{}' must have {} to {} entries, not {}", name, min_count, max_count, items.size()));
      return std::nullopt;
    }
    std::vector<std::string> out;
    out.reserve(items.size());
    for (const json::value& item : items) {
      if (!item.is_string()) {
        fail(error_code::wrong_type, name, fmt::format("each of '{}' must be a string", name));
        return std::nullopt;
      }
      const json::string& text = item.get_string();
      if (text.size() < limit.min || text.size() > limit.max) {
        fail(error_code::bad_value, name,
             fmt::format("each of '{}' must be {} to {} bytes, not {}", name, limit.min, limit.max,
                         text.size()));
        return std::nullopt;
      }
      out.emplace_back(text);
    }
    return out;
  }

  void fail(error_code code, std::string_view field, std::string message) {
    if (failed()) return;
    failed_ = true;
    error_.code = code;
    error_.field = field;
    error_.message = std::move(message);
  }

 private:
  const json::object& object_;
  frame_error& error_;
  bool failed_ = false;
};

std::optional<json::object> parse_object(std::string_view text, frame_error& error) {
  std::error_code failure;
  json::value parsed;
  json::parse_options options;
  options.max_depth = max_json_depth;
  try {
    parsed = json::parse(text, failure, {}, options);
  } catch (const std::exception& e) {  // allocation failure on hostile input
    failure = std::make_error_code(std::errc::not_enough_memory);
  }
  if (failure == json::error::too_deep) {
    // Valid JSON, outside a documented limit: not malformed.
    error.code = error_code::bad_value;
    error.message = fmt::format("the frame nests deeper than {} levels", max_json_depth);
    return std::nullopt;
  }
  if (failure) {
    error.code = error_code::malformed_json;
    error.message = fmt::format("not JSON: {}", failure.message());
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    error.code = error_code::malformed_json;
    error.message = "a frame must be a JSON object";
    return std::nullopt;
  }
  return std::move(parsed.get_object());
}

// Numbers too large for a double parse as infinity, which JSON cannot write
// back: such data would be re-encoded as text no peer can read.
bool all_numbers_finite(const json::value& value) {
  switch (value.kind()) {
    case json::kind::double_:
      return std::isfinite(value.get_double());
    case json::kind::array:
      for (const auto& item : value.get_array()) {
        if (!all_numbers_finite(item)) return false;
      }
      return true;
    case json::kind::object:
      for (const auto& item : value.get_object()) {
        if (!all_numbers_finite(item.value())) return false;
      }
      return true;
    default:
      return true;
  }
}

void put_optional(json::object& out, std::string_view name, const std::optional<std::string>& value) {
  if (value) out[name] = *value;
}

json::array to_array(const std::vector<std::string>& items) {
  json::array out;
  out.reserve(items.size());
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

}  // namespace

std::variant<client_frame, frame_error> decode_client_frame(std::string_view text) {
  frame_error error;
  auto object = parse_object(text, error);
  if (!object) return error;
  field_reader fields(*object, error);
  // ref first, so that any later error can name the frame it is about.
  const auto ref = fields.string("ref", false, ref_length);
  if (fields.failed()) return error;
  error.ref = ref;
  // Any string is an op; one that names no client op is unknown_op, however long.
  const auto op = fields.string("op", true, any_length);
  if (fields.failed()) return error;
  error.op = op->substr(0, 16);

  if (*op == "hello") {
    hello_frame frame;
    frame.ref = ref;
    frame.client = fields.string("client", false, name_length);
    frame.resume = fields.string("resume", false, name_length);
    frame.acked = fields.integer("acked", false);
    frame.token = fields.string("token", false, token_length);
    if (fields.failed()) return error;
    return client_frame(std::move(frame));
  }
  if (*op == "subscribe" || *op == "unsubscribe") {
    subscribe_frame frame;
    frame.ref = ref;
    frame.unsubscribe = *op == "unsubscribe";
    auto topics = fields.strings("topics", true, max_topics, topic_length);
    if (fields.failed()) return error;
    frame.topics = std::move(*topics);
    return client_frame(std::move(frame));
  }
  if (*op == "ack") {
    ack_frame frame;
    frame.ref = ref;
    auto ids = fields.strings("ids", false, max_ids, id_length);
    frame.upto = fields.integer("upto", false);
    if (fields.failed()) return error;
    if (!ids && !frame.upto) {
      fields.fail(error_code::missing_field, "ids", "an ack needs 'ids', 'upto' or both");
      return error;
    }
    if (ids) frame.ids = std::move(*ids);
    return client_frame(std::move(frame));
  }
  if (*op == "publish") {
    publish_frame frame;
    frame.ref = ref;
    auto topic = fields.string("topic", true, topic_length);
    const json::value* data = fields.find("data", !fields.failed());
    frame.key = fields.string("key", false, key_length);
    frame.group = fields.string("group", false, group_length);
    frame.traceparent = fields.string("traceparent", false, traceparent_length);
    frame.tracestate = fields.string("tracestate", false, tracestate_length);
    if (fields.failed()) return error;
    if (!all_numbers_finite(*data)) {
      fields.fail(error_code::bad_value, "data", "'data' has a number too large for a double");
      return error;
    }
    frame.topic = std::move(*topic);
    frame.data = *data;
    return client_frame(std::move(frame));
  }
  error.code = error_code::unknown_op;
  error.field = "op";
  error.message = fmt::format("unknown op '{:.32}'", *op);
  return error;
}

std::string encode(const hello_frame& frame) {
  json::object out{{"op", "hello"}};
  put_optional(out, "client", frame.client);
  put_optional(out, "resume", frame.resume);
  if (frame.acked) out["acked"] = *frame.acked;
  put_optional(out, "token", frame.token);
  put_optional(out, "ref", frame.ref);
  return json::serialize(out);
}

std::string encode(const subscribe_frame& frame) {
  json::object out{{"op", frame.unsubscribe ? "unsubscribe" : "subscribe"},
                   {"topics", to_array(frame.topics)}};
  put_optional(out, "ref", frame.ref);
  return json::serialize(out);
}

std::string encode(const ack_frame& frame) {
  json::object out{{"op", "ack"}};
  if (!frame.ids.empty()) out["ids"] = to_array(frame.ids);
  if (frame.upto) out["upto"] = *frame.upto;
  put_optional(out, "ref", frame.ref);
  return json::serialize(out);
}

std::string encode(const publish_frame& frame) {
  json::object out{{"op", "publish"}, {"topic", frame.topic}, {"data", frame.data}};
  put_optional(out, "key", frame.key);
  put_optional(out, "group", frame.group);
  put_optional(out, "ref", frame.ref);
  put_optional(out, "traceparent", frame.traceparent);
  put_optional(out, "tracestate", frame.tracestate);
  return json::serialize(out);
}

std::string encode(const welcome_frame& frame) {
  const server_limits& l = frame.limits;
  json::object limits{{"window", l.window},
                      {"slow_after", l.slow_after},
                      {"max_queued", l.max_queued},
                      {"max_frame", l.max_frame},
                      {"rate", l.rate},
                      {"heartbeat_ms", l.heartbeat_ms},
                      {"session_ttl_ms", l.session_ttl_ms},
                      {"dedup_window_ms", l.dedup_window_ms},
                      {"max_send_buffer", l.max_send_buffer}};
  json::object out{{"op", "welcome"},
                   {"session", frame.session},
                   {"resume", frame.resume},
                   {"resumed", frame.resumed},
                   {"acked", frame.acked},
                   {"topics", to_array(frame.topics)},
                   {"limits", std::move(limits)}};
  return json::serialize(out);
}

std::string encode(const subscribed_frame& frame) {
  json::object out{{"op", frame.unsubscribed ? "unsubscribed" : "subscribed"},
                   {"topics", to_array(frame.topics)}};
  put_optional(out, "ref", frame.ref);
  return json::serialize(out);
}

// Events are the hot path: written by hand around the data, which is JSON
// already (encoded once, sent to every session).
std::string encode(const event_frame& frame) {
  std::string out;
  out.reserve(96 + frame.id.size() + frame.topic.size() + frame.data.size());
  out += R"({"op":"event","id":)";
  out += json::serialize(json::string_view(frame.id));
  out += R"(,"seq":)";
  out += std::to_string(frame.seq);
  out += R"(,"topic":)";
  out += json::serialize(json::string_view(frame.topic));
  if (frame.group) {
    out += R"(,"group":)";
    out += json::serialize(json::string_view(*frame.group));
  }
  out += R"(,"data":)";
  out += frame.data;
  out += R"(,"attempt":)";
  out += std::to_string(frame.attempt);
  if (!frame.traceparent.empty()) {
    out += R"(,"traceparent":)";
    out += json::serialize(json::string_view(frame.traceparent));
    if (!frame.tracestate.empty()) {
      out += R"(,"tracestate":)";
      out += json::serialize(json::string_view(frame.tracestate));
    }
  }
  out += '}';
  return out;
}

std::string encode(const receipt_frame& frame) {
  json::object out{{"op", "receipt"}, {"id", frame.id}, {"duplicate", frame.duplicate}};
  put_optional(out, "key", frame.key);
  put_optional(out, "ref", frame.ref);
  return json::serialize(out);
}

std::string encode(const error_frame& frame) {
  json::object out{{"op", "error"}, {"code", frame.code}, {"message", frame.message}, {"fatal", frame.fatal}};
  put_optional(out, "ref", frame.ref);
  if (!frame.field.empty()) out["field"] = frame.field;
  if (!frame.ids.empty()) out["ids"] = to_array(frame.ids);
  if (frame.seq) out["seq"] = *frame.seq;
  if (!frame.topics.empty()) out["topics"] = to_array(frame.topics);
  return json::serialize(out);
}

std::variant<server_frame, frame_error> decode_server_frame(std::string_view text) {
  frame_error error;
  auto object = parse_object(text, error);
  if (!object) return error;
  field_reader fields(*object, error);
  const auto ref = fields.string("ref", false, ref_length);
  const auto op = fields.string("op", true, any_length);
  if (fields.failed()) return error;
  error.ref = ref;
  error.op = op->substr(0, 16);
  constexpr length_limit any = any_length;
  if (*op == "event") {
    event_frame frame;
    auto id = fields.string("id", true, id_length);
    auto seq = fields.integer("seq", true);
    auto topic = fields.string("topic", true, topic_length);
    frame.group = fields.string("group", false, group_length);
    const json::value* data = fields.find("data", !fields.failed());
    auto attempt = fields.integer("attempt", false);
    auto traceparent = fields.string("traceparent", false, traceparent_length);
    auto tracestate = fields.string("tracestate", false, tracestate_length);
    if (fields.failed()) return error;
    auto trace = accept_trace(traceparent.value_or(""), tracestate.value_or(""));
    frame.traceparent = std::move(trace.traceparent);
    frame.tracestate = std::move(trace.tracestate);
    frame.id = std::move(*id);
    frame.seq = *seq;
    frame.topic = std::move(*topic);
    frame.data = json::serialize(*data);
    frame.attempt = attempt.value_or(1);
    return server_frame(std::move(frame));
  }
  if (*op == "welcome") {
    welcome_frame frame;
    auto session = fields.string("session", true, any);
    auto resume = fields.string("resume", true, name_length);
    frame.resumed = fields.boolean("resumed", true);
    frame.acked = fields.integer("acked", false).value_or(0);
    auto topics = fields.strings("topics", false, max_topics * 64, topic_length, 0);
    if (fields.failed()) return error;
    frame.session = std::move(*session);
    frame.resume = std::move(*resume);
    if (topics) frame.topics = std::move(*topics);
    if (const json::value* limits = object->if_contains("limits"); limits != nullptr && limits->is_object()) {
      frame_error ignored;
      field_reader limit_fields(limits->get_object(), ignored);
      auto read = [&](std::string_view name, std::uint64_t& into) {
        if (auto value = limit_fields.integer(name, false)) into = *value;
      };
      read("window", frame.limits.window);
      read("slow_after", frame.limits.slow_after);
      read("max_queued", frame.limits.max_queued);
      read("max_frame", frame.limits.max_frame);
      read("rate", frame.limits.rate);
      read("heartbeat_ms", frame.limits.heartbeat_ms);
      read("session_ttl_ms", frame.limits.session_ttl_ms);
      read("dedup_window_ms", frame.limits.dedup_window_ms);
      read("max_send_buffer", frame.limits.max_send_buffer);
    }
    return server_frame(std::move(frame));
  }
  if (*op == "subscribed" || *op == "unsubscribed") {
    subscribed_frame frame;
    frame.unsubscribed = *op == "unsubscribed";
    frame.ref = ref;
    auto topics = fields.strings("topics", true, max_topics * 64, topic_length, 0);
    if (fields.failed()) return error;
    frame.topics = std::move(*topics);
    return server_frame(std::move(frame));
  }
  if (*op == "receipt") {
    receipt_frame frame;
    frame.ref = ref;
    auto id = fields.string("id", true, id_length);
    frame.duplicate = fields.boolean("duplicate", true);
    frame.key = fields.string("key", false, key_length);
    if (fields.failed()) return error;
    frame.id = std::move(*id);
    return server_frame(std::move(frame));
  }
  if (*op == "error") {
    error_frame frame;
    frame.ref = ref;
    auto code = fields.string("code", true, {1, 64});
    auto message = fields.string("message", false, any);
    frame.fatal = fields.boolean("fatal", false);
    auto field = fields.string("field", false, any);
    auto ids = fields.strings("ids", false, max_ids, id_length);
    frame.seq = fields.integer("seq", false);
    auto topics = fields.strings("topics", false, max_topics, topic_length);
    if (fields.failed()) return error;
    frame.code = std::move(*code);
    frame.message = message.value_or("");
    frame.field = field.value_or("");
    if (ids) frame.ids = std::move(*ids);
    if (topics) frame.topics = std::move(*topics);
    return server_frame(std::move(frame));
  }
  error.code = error_code::unknown_op;
  error.field = "op";
  error.message = fmt::format("unknown op '{:.32}'", *op);
  return error;
}

}  // namespace ws
}  // namespace v1
}  // namespace courier
