// One connection to a Redis server (Debian's hiredis, synchronous API):
// commands as argument lists (binary-safe, nothing is formatted into a
// command string), pipelined in one round trip, replies copied out of
// hiredis's structures. The WebSocket server's shared event stream
// (event_stream.hpp) holds one for writing and one for reading.
//
// A failed connection (refused, reset, timed out) throws courier::error
// (storage_failed) naming the server and what failed, and is opened again
// by the next call: a caller retries by calling again. An error reply from
// Redis (wrong type, bad argument) is not a failure of the connection: it
// comes back as a reply of type error.
//
// Not thread-safe: one thread uses a connection at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

namespace courier {
inline namespace v1 {
namespace ws::detail {

struct redis_reply {
  enum class kind { nil, text, status, error, integer, array };
  kind type = kind::nil;
  std::string text;  // text, status and error replies
  long long integer = 0;
  std::vector<redis_reply> elements;  // array replies

  bool is_error() const noexcept { return type == kind::error; }
};

using redis_command = std::vector<std::string>;

class redis_connection {
 public:
  // Does not connect yet: the first call does.
  redis_connection(std::string host, std::uint16_t port, std::chrono::milliseconds timeout);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  redis_reply run(const redis_command& command);
  // Sends every command, then reads every reply: one round trip.
  std::vector<redis_reply> run_all(const std::vector<redis_command>& commands);

  // How long a read may wait (a blocking XREAD asks for longer than the
  // usual timeout). Applies from the next call.
  void set_read_timeout(std::chrono::milliseconds timeout);

  // Where it connects, "host:port", for messages.
  const std::string& address() const noexcept { return address_; }

 private:
  struct context_deleter {
    void operator()(redisContext* context) const noexcept;
  };

  redisContext& connected();
  [[noreturn]] void fail(const char* doing);

  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds read_timeout_;
  std::string address_;
  std::unique_ptr<redisContext, context_deleter> context_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
