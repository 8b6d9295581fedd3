// An event as the WebSocket server holds it: published once, queued in
// every subscribed session (session.hpp), and on several nodes the entry of
// the cluster's Redis stream it travels in (event_stream.hpp).
#pragma once

#include "courier/trace_context.hpp"

#include <optional>
#include <string>

namespace courier {
inline namespace v1 {
namespace ws::detail {

struct payload {
  std::string id;
  std::string topic;
  std::optional<std::string> group;
  std::string data;           // JSON text
  trace_context trace;        // of the work that published it
  std::string position = {};  // its entry in the cluster's stream (several nodes only)
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
