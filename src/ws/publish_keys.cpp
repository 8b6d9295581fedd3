// Client publish keys across a cluster's nodes (see publish_keys.hpp).
#include "publish_keys.hpp"

#include "courier/error.hpp"

#include <fmt/format.h>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace {

// What a key holds while its first publish is being accepted; an id never
// starts with a NUL byte.
const std::string pending_marker = std::string(1, '\0') + "pending";

// Claims the key (it was free: "first"), or says what it holds.
constexpr const char* claim_script = R"(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'first'}
end
return {'taken', redis.call('GET', KEYS[1])})";

// Frees a key only while it is still pending (not an id some retry saw).
constexpr const char* abandon_script = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0)";

}  // namespace

publish_keys::publish_keys(const redis_options& options, std::chrono::milliseconds dedup_window,
                           event_stream& writes)
    : prefix_(options.prefix),
      window_ms_(std::to_string(std::max<std::int64_t>(dedup_window.count(), 1))),
      writes_(writes),
      connection_(options.host, options.port, options.timeout) {}

std::string publish_keys::name(const std::string& topic, const std::string& key) const {
  // The topic's length first: a topic may hold ':' and so may a key.
  return fmt::format("{}:publish:{}:{}:{}", prefix_, topic.size(), topic, key);
}

publish_keys::claim publish_keys::claim_key(const std::string& topic, const std::string& key) {
  const std::string claim_ms =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(claim_ttl).count());
  redis_reply reply;
  {
    std::lock_guard lock(mutex_);
    reply = connection_.run({"EVAL", claim_script, "1", name(topic, key), pending_marker, claim_ms});
  }
  if (reply.is_error() || reply.elements.empty()) {
    throw error(errc::storage_failed,
                fmt::format("redis {}: claiming a publish key: {}", connection_.address(),
                            reply.is_error() ? reply.text : "no answer"));
  }
  if (reply.elements[0].text == "first") return {};
  // Taken: the first one's id, or pending (or gone a moment ago: as pending,
  // the retry comes again).
  if (reply.elements.size() < 2 || reply.elements[1].type != redis_reply::kind::text ||
      reply.elements[1].text == pending_marker) {
    return {.what = claim::outcome::pending, .id = {}};
  }
  return {.what = claim::outcome::published, .id = reply.elements[1].text};
}

void publish_keys::published(const std::string& topic, const std::string& key, const std::string& id) {
  redis_command command{"SET", name(topic, key), id, "PX", window_ms_};
  try {
    std::lock_guard lock(mutex_);
    if (!connection_.run(command).is_error()) return;
  } catch (const error&) {
    // Redis does not answer: the writer sets it once it does (meanwhile a
    // retry elsewhere is told busy).
  }
  writes_.write(std::move(command));
}

void publish_keys::abandon(const std::string& topic, const std::string& key) {
  writes_.write({"EVAL", abandon_script, "1", name(topic, key), pending_marker});
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
