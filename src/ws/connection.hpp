// What the hub and the server need of one client connection, whatever
// stream it runs on (plain TCP or TLS: stream_connection.hpp).
#pragma once

#include "courier/ws/frames.hpp"

#include <memory>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class connection : public std::enable_shared_from_this<connection> {
 public:
  virtual ~connection() = default;
  // Frames to send, in order. Thread-safe.
  virtual void deliver(std::vector<std::string> frames) = 0;
  // A fatal error (made with make_error): the error frame, then the close
  // its code calls for (docs/protocol.md §7). Thread-safe.
  virtual void close_with(error_frame error) = 0;
  // Drops the TCP connection at once (no close frame). Thread-safe.
  virtual void drop() = 0;
  // The server is stopping: close with 1001. Thread-safe.
  virtual void going_away() = 0;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
