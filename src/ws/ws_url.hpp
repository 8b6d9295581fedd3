// A ws:// or wss:// URL as the client dials it (RFC 6455 §3), parsed by
// Boost.URL: scheme, host (an IPv6 literal without its brackets), port (the
// scheme's default when absent) and the request target (path and query).
#pragma once

#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace ws::detail {

struct ws_url {
  bool tls = false;  // wss://
  std::string host;
  std::string port;
  std::string authority;  // host[:port] as written (brackets kept): the Host header
  std::string target;     // path (at least "/") and ?query, as sent in the upgrade request
};

// Throws courier::error (invalid_option) naming the URL when it is not an
// absolute ws:// or wss:// URL with a host, or carries a fragment.
ws_url parse_ws_url(std::string_view url);

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
