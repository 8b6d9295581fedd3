// courier::ws over TLS (wss://): the server with a certificate made for the
// test (openssl, a throwaway CA-less self-signed one naming "localhost"),
// the C++ client checking it against that file. Events, publishes, killed
// connections and resume behave as over plain TCP; a client that does not
// trust the certificate, or reaches it under another name, does not connect;
// a plain ws:// client is dropped and the server goes on; bad certificate
// files are named in the error.
#include "courier/ws/client.hpp"
#include "courier/ws/server.hpp"
#include "ws_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

using courier_ws_test::inbox;
using courier_ws_test::parcel;
using courier_ws_test::pickup;

// A key and a self-signed certificate for "localhost" in dir, made by the
// openssl command (scripts/setup.sh installs it). Fails the test loudly if
// it cannot.
void make_certificate(const fs::path& dir, const std::string& name) {
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost "
      "-keyout '" +
      (dir / (name + ".key")).string() + "' -out '" + (dir / (name + ".pem")).string() + "' 2>'" +
      (dir / "openssl.log").string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0)
      << "openssl could not make a certificate (bash scripts/setup.sh): " << command;
}

class ws_tls : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("courier_ws_tls_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    make_certificate(dir_, "server");
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  courier::ws::tls_options tls() const {
    return {.certificate_chain_file = (dir_ / "server.pem").string(),
            .private_key_file = (dir_ / "server.key").string()};
  }
  void start(courier::ws::server_options options = {}) {
    options.tls = tls();
    server_ = std::make_unique<courier::ws::server>(bus_, std::move(options));
    server_->topic<parcel>("parcel");
    server_->topic<pickup>("pickup", {.publish = true, .fifo = true});
    server_->start();
  }
  std::string url(const std::string& host = "localhost") const {
    return "wss://" + host + ":" + std::to_string(server_->port()) + "/courier";
  }
  std::string ca_file() const { return (dir_ / "server.pem").string(); }

  fs::path dir_;
  courier::bus bus_;
  std::unique_ptr<courier::ws::server> server_;
};

TEST_F(ws_tls, events_publishes_and_resume_work_over_wss) {
  start({.window = 16});
  inbox got;
  auto client = courier_ws_test::subscribed_client(
      {.url = url(), .backoff_initial = 10ms, .tls_ca_file = ca_file()}, got);
  ASSERT_TRUE(client);

  constexpr int count = 1000;
  courier_ws_test::publish_while_killing(bus_, *server_, *client, got, count, 4);
  bus_.publish(courier_ws_test::parcel{count, "acme"});  // behind everything, as in server_test
  ASSERT_TRUE(got.wait_for(count + 1, 20s))
      << "got " << got.numbers().size() << "; " << client->stats().last_error;
  const auto numbers = got.numbers();
  ASSERT_EQ(numbers.size(), static_cast<std::size_t>(count + 1)) << "duplicates handed to on_event";
  for (int i = 0; i <= count; ++i)
    ASSERT_EQ(numbers[static_cast<std::size_t>(i)], i) << "order broken at " << i;
  EXPECT_GE(client->stats().resumed, 1u) << "the kills reconnected and resumed over TLS";

  const auto receipt = client->publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"}).get();
  EXPECT_FALSE(receipt.duplicate);
  EXPECT_TRUE(
      client->publish("pickup", pickup{"acme", 7}, {.key = "acme/7", .group = "acme"}).get().duplicate);
}

TEST_F(ws_tls, a_client_does_not_connect_to_a_certificate_it_does_not_trust_or_under_another_name) {
  start();
  // The system's CAs do not know the test's certificate.
  courier::ws::client untrusting({.url = url(), .backoff_initial = 50ms});
  untrusting.connect();
  EXPECT_FALSE(untrusting.wait_connected(1s));
  EXPECT_THAT(untrusting.stats().last_error, HasSubstr("TLS handshake"));
  EXPECT_THAT(untrusting.stats().last_error, HasSubstr("certificate verify failed"));
  // Trusted, but reached as 127.0.0.1: the certificate names only localhost.
  courier::ws::client wrong_name(
      {.url = url("127.0.0.1"), .backoff_initial = 50ms, .tls_ca_file = ca_file()});
  wrong_name.connect();
  EXPECT_FALSE(wrong_name.wait_connected(1s));
  EXPECT_THAT(wrong_name.stats().last_error, HasSubstr("certificate verify failed"));
  // tls_verify = false: encrypted, unchecked (tests only).
  courier::ws::client unchecked({.url = url("127.0.0.1"), .tls_verify = false});
  unchecked.connect();
  EXPECT_TRUE(unchecked.wait_connected(5s)) << unchecked.stats().last_error;
}

TEST_F(ws_tls, a_plain_client_is_dropped_and_the_server_goes_on) {
  start();
  courier::ws::client plain(
      {.url = "ws://localhost:" + std::to_string(server_->port()) + "/courier", .backoff_initial = 50ms});
  plain.connect();
  EXPECT_FALSE(plain.wait_connected(1s));
  EXPECT_THAT(plain.stats().last_error, HasSubstr("handshake"));

  inbox got;
  courier::ws::client secure({.url = url(), .tls_ca_file = ca_file()});
  secure.on_event(std::ref(got));
  secure.subscribe({"parcel"});
  secure.connect();
  ASSERT_TRUE(secure.wait_subscribed(5s)) << secure.stats().last_error;
  bus_.publish(parcel{1, "acme"});
  EXPECT_TRUE(got.wait_for(1, 5s));
}

TEST_F(ws_tls, bad_certificate_files_are_named_in_the_error) {
  auto refused = [&](courier::ws::tls_options files) -> std::string {
    try {
      courier::ws::server server(bus_, {.tls = files});
      return "";
    } catch (const courier::error& e) {
      EXPECT_EQ(e.code(), courier::errc::invalid_option);
      return e.what();
    }
  };
  auto files = tls();
  files.certificate_chain_file = (dir_ / "missing.pem").string();
  EXPECT_THAT(refused(files), HasSubstr("missing.pem"));
  files = tls();
  files.private_key_file = (dir_ / "missing.key").string();
  EXPECT_THAT(refused(files), HasSubstr("missing.key"));
  make_certificate(dir_, "other");
  files = tls();
  files.private_key_file = (dir_ / "other.key").string();
  EXPECT_THAT(refused(files), HasSubstr("key values mismatch"));
  EXPECT_EQ(refused(tls()), "");
  // A client with a CA file that is not there.
  EXPECT_THROW(
      courier::ws::client({.url = "wss://localhost:1/courier", .tls_ca_file = (dir_ / "nope.pem").string()}),
      courier::error);
}

}  // namespace
