// The HTTP upgrade checks (see upgrade_gate.hpp and docs/protocol.md §1).
#include "upgrade_gate.hpp"

#include "courier/prometheus.hpp"
#include "courier/ws/frames.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <optional>
#include <string_view>

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

// A request with an Origin header must name one of the allowed origins,
// when there is a list: it guards browsers, others are checked by token.
bool origin_allowed(const http_request& request, const server_options& options) {
  if (options.allowed_origins.empty() || request.count(http::field::origin) == 0) return true;
  const auto origin = request[http::field::origin];
  return std::any_of(options.allowed_origins.begin(), options.allowed_origins.end(),
                     [&](const std::string& each) { return beast::iequals(each, origin); });
}

// The bearer token of the Authorization header, if there is one that
// authorize accepts; nullopt for a header it refuses or that is no bearer.
std::optional<std::string_view> accepted_bearer(const http_request& request, const server_options& options) {
  const std::string_view value = view(request[http::field::authorization]);
  constexpr std::string_view bearer = "Bearer ";
  if (value.size() <= bearer.size() || !beast::iequals(value.substr(0, bearer.size()), bearer) ||
      !options.authorize(value.substr(bearer.size()))) {
    return std::nullopt;
  }
  return value.substr(bearer.size());
}

const http_answer token_rejected{http::status::unauthorized, "courier: token rejected\n", "text/plain",
                                 /*challenge=*/true};

// GET metrics_path: the registry's exposition, under the upgrade's rules.
http_answer metrics_page(const http_request& request, const server_options& options) {
  if (!origin_allowed(request, options)) return {http::status::forbidden, "courier: origin not allowed\n"};
  if (options.authorize && !accepted_bearer(request, options)) return token_rejected;
  return {http::status::ok, render_prometheus(options.metrics->read()),
          "text/plain; version=0.0.4; charset=utf-8"};
}

}  // namespace

std::variant<admission, http_answer> check_upgrade(const http_request& request,
                                                   const server_options& options) {
  const std::string_view target = view(request.target());
  const std::string_view path = target.substr(0, target.find('?'));
  if (!beast::websocket::is_upgrade(request)) {
    if (request.method() == http::verb::get && options.metrics && path == options.metrics_path) {
      return metrics_page(request, options);
    }
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
  if (!origin_allowed(request, options))
    return http_answer{http::status::forbidden, "courier: origin not allowed\n"};
  admission admitted;
  // Without the header, the token may come in hello (browsers cannot set it).
  if (options.authorize && request.count(http::field::authorization) != 0) {
    const auto token = accepted_bearer(request, options);
    if (!token) return token_rejected;
    admitted.identity = std::string(*token);
    admitted.authenticated = true;
  }
  return admitted;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
