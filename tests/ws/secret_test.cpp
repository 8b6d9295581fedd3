// Secrets of the WebSocket adapter (src/ws/secret.hpp): they are OpenSSL's
// CSPRNG bytes, for the helper and for what the server and the client hand
// out (resume tokens, keys of publishes without one). OpenSSL's random
// source is swapped for one that returns zeros, so a secret that does not
// come from it shows.
#define OPENSSL_SUPPRESS_DEPRECATED  // RAND_METHOD: the one way to stand in for RAND_bytes
#include "secret.hpp"

#include "raw_peer.hpp"
#include "ws_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <atomic>
#include <string>

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// OpenSSL's random source replaced by zeros while it lives, counting the
// bytes asked for.
class zero_randomness {
 public:
  zero_randomness() : before_(RAND_get_rand_method()) {
    requested = 0;
    RAND_set_rand_method(&method_);
  }
  ~zero_randomness() { RAND_set_rand_method(before_); }
  zero_randomness(const zero_randomness&) = delete;
  zero_randomness& operator=(const zero_randomness&) = delete;

  static inline std::atomic<std::size_t> requested{0};

 private:
  static int zeros(unsigned char* out, int count) {
    std::fill(out, out + count, 0);
    requested += static_cast<std::size_t>(count);
    return 1;
  }
  static int ready() { return 1; }

  const RAND_METHOD* before_;
  RAND_METHOD method_{nullptr, zeros, nullptr, nullptr, zeros, ready};
};

TEST(ws_secret, random_text_is_base64url_of_the_csprngs_bytes) {
  const std::string token = courier::ws::detail::random_text(32);
  EXPECT_EQ(token.size(), 43u);
  EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_NE(courier::ws::detail::random_text(32), token);
  zero_randomness zeros;
  EXPECT_EQ(courier::ws::detail::random_text(32), std::string(43, 'A'));
  EXPECT_EQ(courier::ws::detail::random_text(2), "AAA");
  EXPECT_EQ(zero_randomness::requested.load(), 34u);
}

TEST(ws_secret, comparison_needs_the_same_length_and_bytes) {
  using courier::ws::detail::equal_in_constant_time;
  EXPECT_TRUE(equal_in_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_in_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_in_constant_time("abc", "abcd"));
  EXPECT_TRUE(equal_in_constant_time("", ""));
}

using ws_secret_server = courier_ws_test::server_fixture;

TEST_F(ws_secret_server, resume_tokens_and_the_keys_the_client_makes_up_come_from_the_csprng) {
  zero_randomness zeros;
  start();
  courier_ws_test::raw_peer peer(server_->port());
  EXPECT_EQ(courier_ws_test::resume_token_of(peer.hello()), std::string(43, 'A'));
  // A token is found by its digest and compared in full: one that differs
  // only in its last character resumes nothing.
  courier_ws_test::raw_peer prober(server_->port());
  EXPECT_THAT(prober.hello(R"(,"resume":")" + std::string(42, 'A') + R"(B")"),
              HasSubstr(R"("resumed":false)"));

  courier::ws::client client({.url = url()});
  client.connect();
  ASSERT_TRUE(client.wait_connected(5s)) << client.stats().last_error;
  const auto receipt = client.publish("pickup", courier_ws_test::pickup{"acme", 1}, {.group = "acme"}).get();
  EXPECT_EQ(receipt.key, std::string(24, 'A')) << "a publish without a key gets one from the CSPRNG";
}

}  // namespace
