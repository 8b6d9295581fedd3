// A cluster's sessions in Redis (see redis_sessions.hpp).
#include "redis_sessions.hpp"

#include "stream_position.hpp"

#include "courier/error.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <charconv>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace {

// Entries one XRANGE reads at most.
constexpr std::size_t range_batch = 1000;

// Renews both keys' expiry if this node still holds the session: 1, else 0.
constexpr const char* refresh_script = R"(
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0)";

// Deletes both keys if this node still holds the session.
constexpr const char* erase_script = R"(
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('DEL', KEYS[1], KEYS[2])
end
return 0)";

std::string hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) fmt::format_to(std::back_inserter(out), "{:02x}", byte);
  return out;
}

std::uint64_t number(const std::string& text) {
  std::uint64_t out = 0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}

std::string topics_json(const std::vector<topic_change>& changes) {
  boost::json::array out;
  for (const auto& change : changes) {
    boost::json::array names;
    for (const auto& name : change.topics) names.emplace_back(name);
    out.push_back(boost::json::array{boost::json::value(change.from), std::move(names)});
  }
  return boost::json::serialize(out);
}

std::vector<topic_change> topics_from_json(const std::string& text) {
  std::vector<topic_change> out;
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_array()) return out;
  for (const auto& each : parsed.get_array()) {
    const auto* pair = each.if_array();
    if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_array()) continue;
    topic_change change;
    change.from = std::string((*pair)[0].get_string());
    for (const auto& name : (*pair)[1].get_array()) {
      if (name.is_string()) change.topics.emplace_back(name.get_string());
    }
    out.push_back(std::move(change));
  }
  return out;
}

[[noreturn]] void refused(const redis_connection& connection, const char* doing, const redis_reply& reply) {
  throw error(errc::storage_failed, fmt::format("redis {}: {}: {}", connection.address(), doing, reply.text));
}

}  // namespace

const std::vector<std::string>* stored_session::topics_at(std::string_view entry) const {
  const std::vector<std::string>* current = nullptr;
  for (const auto& change : topics) {
    if (!before(change.from, entry)) break;  // from that change on, not yet
    current = &change.topics;
  }
  return current;
}

redis_sessions::redis_sessions(const redis_options& options, std::string node, std::chrono::milliseconds ttl,
                               event_stream& writes)
    : prefix_(options.prefix),
      node_(std::move(node)),
      ttl_ms_(std::to_string(std::max<std::int64_t>(ttl.count(), 1))),
      writes_(writes),
      calls_(options.host, options.port, options.timeout) {}

std::string redis_sessions::session_key(const std::string& id) const { return prefix_ + ":session:" + id; }

std::string redis_sessions::token_key_name(std::string_view token_key) const {
  return prefix_ + ":token:" + hex(token_key);
}

std::optional<stored_session> redis_sessions::find(std::string_view token_key) {
  std::lock_guard lock(calls_mutex_);
  const redis_reply id = calls_.run({"GET", token_key_name(token_key)});
  if (id.is_error()) refused(calls_, "GET", id);
  if (id.type != redis_reply::kind::text) return std::nullopt;
  const redis_reply fields = calls_.run({"HGETALL", session_key(id.text)});
  if (fields.is_error()) refused(calls_, "HGETALL", fields);
  if (fields.elements.empty()) return std::nullopt;  // expired between the two reads
  stored_session out;
  out.id = id.text;
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    const std::string& name = fields.elements[i].text;
    const std::string& value = fields.elements[i + 1].text;
    if (name == "token") {
      out.token_key = value;
    } else if (name == "identity") {
      out.identity = value;
    } else if (name == "acked") {
      out.acked = number(value);
    } else if (name == "position") {
      out.position = value;
    } else if (name == "sent") {
      out.sent = number(value);
    } else if (name == "topics") {
      out.topics = topics_from_json(value);
    } else if (name == "owner") {
      out.owner = value;
    }
  }
  return out;
}

std::optional<std::vector<stream_event>> redis_sessions::entries_after(const std::string& position) {
  std::lock_guard lock(calls_mutex_);
  // Entries trimmed (MAXLEN) after `position` are events the session may
  // not have acked: then it cannot be resumed faithfully. Redis 7.0 does
  // not say which ids trimming removed (max-deleted-entry-id counts XDEL
  // only): when anything was ever trimmed and the first entry left comes
  // after `position`, some may have been the session's.
  const redis_reply info = calls_.run({"XINFO", "STREAM", writes_.key()});
  if (!info.is_error()) {
    long long length = 0;
    long long added = 0;
    std::string first;
    for (std::size_t i = 0; i + 1 < info.elements.size(); i += 2) {
      const std::string& name = info.elements[i].text;
      const redis_reply& value = info.elements[i + 1];
      if (name == "length") length = value.integer;
      if (name == "entries-added") added = value.integer;
      if (name == "first-entry" && !value.elements.empty()) first = value.elements.front().text;
    }
    if (added > length && !first.empty() && before(position, first)) return std::nullopt;
  } else if (info.text.find("no such key") == std::string::npos) {
    refused(calls_, "XINFO STREAM", info);
  }
  std::vector<stream_event> out;
  std::string after = position.empty() ? "0-0" : position;
  for (;;) {
    const redis_reply batch =
        calls_.run({"XRANGE", writes_.key(), "(" + after, "+", "COUNT", std::to_string(range_batch)});
    if (batch.is_error()) refused(calls_, "XRANGE", batch);
    if (batch.elements.empty()) break;
    after = batch.elements.back().elements.front().text;
    for (const auto& entry : batch.elements) {
      if (auto event = event_of_entry(entry)) out.push_back(std::move(*event));
    }
    if (batch.elements.size() < range_batch) break;
  }
  return out;
}

std::vector<redis_command> redis_sessions::record_commands(const stored_session& session) const {
  const std::string key = session_key(session.id);
  return {{"HSET", key, "token", session.token_key, "identity", session.identity, "acked",
           std::to_string(session.acked), "position", session.position, "sent", std::to_string(session.sent),
           "topics", topics_json(session.topics), "owner", node_},
          {"PEXPIRE", key, ttl_ms_},
          {"SET", token_key_name(session.token_key), session.id, "PX", ttl_ms_}};
}

redis_command redis_sessions::progress_command(const stored_session& session) const {
  return {"HSET",     session_key(session.id),    "acked", std::to_string(session.acked),
          "position", session.position,           "sent",  std::to_string(session.sent),
          "topics",   topics_json(session.topics)};
}

void redis_sessions::save_now(const stored_session& session) {
  std::lock_guard lock(calls_mutex_);
  for (const auto& reply : calls_.run_all(record_commands(session))) {
    if (reply.is_error()) refused(calls_, "writing a session", reply);
  }
}

void redis_sessions::save(const stored_session& session) {
  for (auto& command : record_commands(session)) writes_.write(std::move(command));
}

void redis_sessions::save_progress(const stored_session& session) {
  writes_.write(progress_command(session));
}

bool redis_sessions::save_progress_now(const stored_session& session) {
  try {
    std::lock_guard lock(calls_mutex_);
    if (!calls_.run(progress_command(session)).is_error()) return true;
  } catch (const error&) {
    // Redis does not answer: the writer sends it once it does.
  }
  save_progress(session);
  return false;
}

std::vector<bool> redis_sessions::refresh(const std::vector<const stored_session*>& held) {
  std::vector<redis_command> commands;
  commands.reserve(held.size());
  for (const auto* each : held) {
    commands.push_back({"EVAL", refresh_script, "2", session_key(each->id), token_key_name(each->token_key),
                        node_, ttl_ms_});
  }
  std::lock_guard lock(calls_mutex_);
  const auto replies = calls_.run_all(commands);
  std::vector<bool> still_ours;
  still_ours.reserve(replies.size());
  for (const auto& reply : replies) {
    if (reply.is_error()) refused(calls_, "EVAL", reply);
    still_ours.push_back(reply.integer == 1);
  }
  return still_ours;
}

void redis_sessions::erase(const stored_session& session) {
  writes_.write(
      {"EVAL", erase_script, "2", session_key(session.id), token_key_name(session.token_key), node_});
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
