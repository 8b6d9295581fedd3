// The HTTP upgrade checks (src/ws/upgrade_gate.hpp, docs/protocol.md §1) on
// requests built in memory: path, subprotocol, Origin, bearer token, pages.
#include "upgrade_gate.hpp"

#include <gtest/gtest.h>
#include <boost/beast/http.hpp>

#include <string>

namespace {

namespace http = boost::beast::http;
using courier::ws::detail::admission;
using courier::ws::detail::check_upgrade;
using courier::ws::detail::http_answer;
using courier::ws::detail::http_request;

struct request_options {
  std::string target = "/courier";
  std::string protocols = "courier.v1";
  std::string origin = {};
  std::string authorization = {};
  bool upgrade = true;
};

http_request request(const request_options& chosen) {
  http_request out(http::verb::get, chosen.target, 11);
  out.set(http::field::host, "127.0.0.1");
  if (chosen.upgrade) {
    out.set(http::field::connection, "Upgrade");
    out.set(http::field::upgrade, "websocket");
    out.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    out.set(http::field::sec_websocket_version, "13");
  }
  if (!chosen.protocols.empty()) out.set(http::field::sec_websocket_protocol, chosen.protocols);
  if (!chosen.origin.empty()) out.set(http::field::origin, chosen.origin);
  if (!chosen.authorization.empty()) out.set(http::field::authorization, chosen.authorization);
  return out;
}

// The status of the answer, or 101 when the request may upgrade.
int status_of(const request_options& chosen, const courier::ws::server_options& options) {
  const auto decision = check_upgrade(request(chosen), options);
  if (const auto* answer = std::get_if<http_answer>(&decision)) return static_cast<int>(answer->status);
  return 101;
}

TEST(ws_upgrade_gate, the_path_must_match_and_the_query_is_ignored) {
  const courier::ws::server_options options;
  EXPECT_EQ(status_of({}, options), 101);
  EXPECT_EQ(status_of({.target = "/courier?client=7"}, options), 101);
  EXPECT_EQ(status_of({.target = "/elsewhere"}, options), 404);
}

TEST(ws_upgrade_gate, courier_v1_must_be_among_the_offered_subprotocols) {
  const courier::ws::server_options options;
  EXPECT_EQ(status_of({.protocols = ""}, options), 400);
  EXPECT_EQ(status_of({.protocols = "chat"}, options), 400);
  EXPECT_EQ(status_of({.protocols = "courier.v10"}, options), 400);
  EXPECT_EQ(status_of({.protocols = "chat, courier.v1"}, options), 101);
  EXPECT_EQ(status_of({.protocols = "chat,courier.v1 ,x"}, options), 101);
}

TEST(ws_upgrade_gate, an_origin_must_be_on_the_list_in_any_case_and_no_origin_passes) {
  const courier::ws::server_options options{.allowed_origins = {"https://dash.example.com"}};
  EXPECT_EQ(status_of({.origin = "https://dash.example.com"}, options), 101);
  EXPECT_EQ(status_of({.origin = "HTTPS://DASH.example.com"}, options), 101);
  EXPECT_EQ(status_of({.origin = "https://evil.example.com"}, options), 403);
  EXPECT_EQ(status_of({}, options), 101) << "the list guards browsers; others are checked by token";
}

TEST(ws_upgrade_gate, a_bearer_token_is_checked_and_becomes_the_identity) {
  const courier::ws::server_options options{
      .authorize = [](std::string_view token) { return token == "alice"; }};
  const auto admitted = check_upgrade(request({.authorization = "bearer alice"}), options);
  ASSERT_TRUE(std::holds_alternative<admission>(admitted));
  EXPECT_EQ(std::get<admission>(admitted).identity, "alice");
  EXPECT_TRUE(std::get<admission>(admitted).authenticated);

  const auto refused = check_upgrade(request({.authorization = "Bearer mallory"}), options);
  ASSERT_TRUE(std::holds_alternative<http_answer>(refused));
  EXPECT_EQ(std::get<http_answer>(refused).status, http::status::unauthorized);
  EXPECT_TRUE(std::get<http_answer>(refused).challenge);
  EXPECT_EQ(status_of({.authorization = "Basic YWxpY2U6"}, options), 401);
  EXPECT_EQ(status_of({.authorization = "Bearer "}, options), 401);
  // Without the header the token may come in hello (browsers): not refused here.
  const auto later = check_upgrade(request({}), options);
  ASSERT_TRUE(std::holds_alternative<admission>(later));
  EXPECT_FALSE(std::get<admission>(later).authenticated);
}

TEST(ws_upgrade_gate, a_plain_get_gets_the_applications_page_or_404) {
  courier::ws::server_options options{
      .pages = [](std::string_view target) -> std::optional<courier::ws::http_page> {
        if (target == "/") return courier::ws::http_page{.body = "<h1>hi</h1>"};
        return std::nullopt;
      }};
  const auto page = check_upgrade(request({.target = "/", .upgrade = false}), options);
  ASSERT_TRUE(std::holds_alternative<http_answer>(page));
  EXPECT_EQ(std::get<http_answer>(page).status, http::status::ok);
  EXPECT_EQ(std::get<http_answer>(page).body, "<h1>hi</h1>");
  EXPECT_EQ(std::get<http_answer>(page).content_type, "text/html; charset=utf-8");
  EXPECT_EQ(status_of({.target = "/other", .upgrade = false}, options), 404);
}

}  // namespace
