// A connection to Redis over hiredis (see redis_connection.hpp).
#include "redis_connection.hpp"

#include "courier/error.hpp"

#include <hiredis/hiredis.h>

#include <fmt/format.h>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace {

timeval to_timeval(std::chrono::milliseconds span) {
  timeval out{};
  out.tv_sec = static_cast<decltype(out.tv_sec)>(span.count() / 1000);
  out.tv_usec = static_cast<decltype(out.tv_usec)>((span.count() % 1000) * 1000);
  return out;
}

redis_reply copy_of(const redisReply& from) {
  redis_reply out;
  switch (from.type) {
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::text;
      out.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = redis_reply::kind::error;
      out.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = from.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      out.elements.reserve(from.elements);
      for (std::size_t i = 0; i < from.elements; ++i) out.elements.push_back(copy_of(*from.element[i]));
      break;
    default:
      out.type = redis_reply::kind::nil;
      break;
  }
  return out;
}

struct reply_deleter {
  void operator()(void* reply) const noexcept { freeReplyObject(reply); }
};

}  // namespace

void redis_connection::context_deleter::operator()(redisContext* context) const noexcept {
  redisFree(context);
}

redis_connection::redis_connection(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)),
      port_(port),
      timeout_(timeout),
      read_timeout_(timeout),
      address_(fmt::format("{}:{}", host_, port_)) {}

redis_connection::~redis_connection() = default;

void redis_connection::set_read_timeout(std::chrono::milliseconds timeout) {
  read_timeout_ = timeout;
  if (context_) redisSetTimeout(context_.get(), to_timeval(read_timeout_));
}

redisContext& redis_connection::connected() {
  if (context_) return *context_;
  context_.reset(redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout_)));
  if (!context_)
    throw error(errc::storage_failed, fmt::format("redis {}: out of memory connecting", address_));
  if (context_->err != 0) fail("connecting");
  if (redisSetTimeout(context_.get(), to_timeval(read_timeout_)) != REDIS_OK) fail("setting its timeout");
  return *context_;
}

void redis_connection::fail(const char* doing) {
  const std::string why = context_ && context_->err != 0 ? context_->errstr : "no answer";
  context_.reset();  // the next call connects again
  throw error(errc::storage_failed, fmt::format("redis {}: {} failed: {}", address_, doing, why));
}

redis_reply redis_connection::run(const redis_command& command) {
  return std::move(run_all({command}).front());
}

std::vector<redis_reply> redis_connection::run_all(const std::vector<redis_command>& commands) {
  redisContext& context = connected();
  std::vector<const char*> arguments;
  std::vector<std::size_t> lengths;
  for (const auto& command : commands) {
    arguments.clear();
    lengths.clear();
    for (const auto& part : command) {
      arguments.push_back(part.data());
      lengths.push_back(part.size());
    }
    if (redisAppendCommandArgv(&context, static_cast<int>(arguments.size()), arguments.data(),
                               lengths.data()) != REDIS_OK) {
      fail("queuing a command");
    }
  }
  std::vector<redis_reply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(&context, &raw) != REDIS_OK || raw == nullptr) fail("reading a reply");
    const std::unique_ptr<void, reply_deleter> reply(raw);
    replies.push_back(copy_of(*static_cast<const redisReply*>(raw)));
  }
  return replies;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
