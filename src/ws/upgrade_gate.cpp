// The HTTP upgrade checks (see upgrade_gate.hpp and docs/protocol.md §1).
#include "upgrade_gate.hpp"

#include "courier/ws/frames.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

std::string_view view(beast::string_view text) { return {text.data(), text.size()}; }

bool offers_subprotocol(const http_request& request) {
  // Sec-WebSocket-Protocol: a comma-separated list of tokens (RFC 6455 §4.1).
  for (const auto& offered : http::token_list(request[http::field::sec_websocket_protocol])) {
    if (view(offered) == subprotocol) return true;
  }
  return false;
}

}  // namespace

std::variant<admission, http_answer> check_upgrade(const http_request& request,
                                                   const server_options& options) {
  const std::string_view target = view(request.target());
  const std::string_view path = target.substr(0, target.find('?'));
  if (!beast::websocket::is_upgrade(request)) {
    if (request.method() == http::verb::get && options.pages) {
      if (auto page = options.pages(target))
        return http_answer{http::status::ok, page->body, page->content_type};
    }
    return http_answer{http::status::not_found, "not found\n"};
  }
  if (path != options.path) return http_answer{http::status::not_found, "courier: no WebSocket here\n"};
  if (!offers_subprotocol(request)) {
    return http_answer{http::status::bad_request, "courier: subprotocol courier.v1 required\n"};
  }
  // A request without Origin passes: the list guards browsers, others are checked by token.
  if (!options.allowed_origins.empty() && request.count(http::field::origin) != 0) {
    const auto origin = request[http::field::origin];
    if (std::none_of(options.allowed_origins.begin(), options.allowed_origins.end(),
                     [&](const std::string& each) { return beast::iequals(each, origin); })) {
      return http_answer{http::status::forbidden, "courier: origin not allowed\n"};
    }
  }
  admission admitted;
  if (options.authorize && request.count(http::field::authorization) != 0) {
    const std::string_view value = view(request[http::field::authorization]);
    constexpr std::string_view bearer = "Bearer ";
    if (value.size() <= bearer.size() || !beast::iequals(value.substr(0, bearer.size()), bearer) ||
        !options.authorize(value.substr(bearer.size()))) {
      return http_answer{http::status::unauthorized, "courier: token rejected\n", "text/plain",
                         /*challenge=*/true};
    }
    admitted.identity = std::string(value.substr(bearer.size()));
    admitted.authenticated = true;
  }
  return admitted;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
