// ws:// and wss:// URLs (see ws_url.hpp). Boost.URL is header-only in Boost
// 1.81: this is the one file of courier::ws that compiles its sources.
#include "ws_url.hpp"

#include "courier/error.hpp"

#include <fmt/format.h>
#include <boost/url/parse.hpp>
#include <boost/url/src.hpp>
#include <boost/url/url_view.hpp>

namespace courier {
inline namespace v1 {
namespace ws::detail {

ws_url parse_ws_url(std::string_view url) {
  auto refuse = [&](std::string_view why) {
    return error(errc::invalid_option, fmt::format("ws::client: url '{}' {}", url, why));
  };
  const auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw refuse("is not a URL: " + parsed.error().message());
  const boost::urls::url_view& u = *parsed;
  ws_url out;
  if (u.scheme() == "wss") {
    out.tls = true;
  } else if (u.scheme() != "ws") {
    throw refuse("must start with ws:// or wss://");
  }
  if (!u.has_authority() || u.encoded_host().empty()) throw refuse("has no host");
  if (u.has_fragment()) throw refuse("has a fragment, which a WebSocket URL must not (RFC 6455 §3)");
  out.host = u.host_address();
  out.port = u.has_port() ? std::string(u.port()) : (out.tls ? "443" : "80");
  out.authority = u.encoded_host_and_port();
  out.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  return out;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
