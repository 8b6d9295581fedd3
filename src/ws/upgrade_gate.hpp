// What the server answers an HTTP request with before a WebSocket is opened
// (docs/protocol.md §1): the path, the courier.v1 subprotocol, the Origin
// allow-list and a bearer token; or, for a plain GET, the metrics exposition
// (server_options::metrics, under the same Origin and token rules) or the
// application's page.
// A function of the request and the options alone (it calls the
// application's authorize and pages), so every rule is tested without a
// socket.
#pragma once

#include "courier/ws/server.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <variant>

namespace courier {
inline namespace v1 {
namespace ws::detail {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

// The request may become a WebSocket.
struct admission {
  std::string identity;        // the bearer token the Authorization header carried
  bool authenticated = false;  // that token was checked (else hello.token may be)
};

// The request gets this HTTP response, and the connection ends.
struct http_answer {
  boost::beast::http::status status;
  std::string body;
  std::string content_type = "text/plain";
  bool challenge = false;  // WWW-Authenticate: Bearer
};

std::variant<admission, http_answer> check_upgrade(const http_request& request,
                                                   const server_options& options);

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
