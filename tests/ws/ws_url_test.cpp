// The client's URLs (src/ws/ws_url.hpp): what it dials for each form, and
// the clear error for what it cannot dial.
#include "ws_url.hpp"

#include "courier/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using courier::ws::detail::parse_ws_url;

TEST(ws_url, host_port_and_target_with_the_schemes_default_port) {
  const auto plain = parse_ws_url("ws://127.0.0.1:8080/courier");
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, "8080");
  EXPECT_EQ(plain.target, "/courier");
  const auto secure = parse_ws_url("wss://events.example.com");
  EXPECT_TRUE(secure.tls);
  EXPECT_EQ(secure.port, "443");
  EXPECT_EQ(secure.target, "/");
  EXPECT_EQ(parse_ws_url("ws://example.com/x").port, "80");
}

TEST(ws_url, an_ipv6_literal_loses_its_brackets_and_the_query_stays) {
  const auto url = parse_ws_url("ws://[::1]:9000/courier?client=7");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, "9000");
  EXPECT_EQ(url.target, "/courier?client=7");
  EXPECT_EQ(url.authority, "[::1]:9000") << "the Host header keeps the brackets";
}

TEST(ws_url, what_cannot_be_dialled_is_refused_by_name) {
  for (const char* bad : {"http://example.com/courier", "example.com:80/courier", "ws:///courier",
                          "ws://h/p#frag", "ws://exa mple.com/"}) {
    try {
      parse_ws_url(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const courier::error& e) {
      EXPECT_EQ(e.code(), courier::errc::invalid_option) << bad;
      EXPECT_THAT(e.what(), ::testing::HasSubstr(bad));
    }
  }
}

}  // namespace
