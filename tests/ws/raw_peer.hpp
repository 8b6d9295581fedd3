// A WebSocket peer written with Beast directly, for the server tests: it
// sends frames no well-behaved client would, and reads (or does not read)
// exactly when the test says. Compiled once (raw_peer.cpp, the test-support
// library courier_ws_raw_peer): Beast stays out of the tests that use it, so
// each preset compiles it once instead of once per test file.
#pragma once

#include "courier/ws/error_codes.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier_ws_test {

using namespace std::chrono_literals;

struct peer_options {
  bool subprotocol = true;
  std::string origin = {};
  std::string token = {};
  std::string path = "/courier";
};

// A peer that speaks raw WebSocket, to send what no well-behaved client would
// (and to not read what a well-behaved client would). Connecting throws when
// the upgrade is refused.
class raw_peer {
 public:
  explicit raw_peer(std::uint16_t port, peer_options chosen = {});
  ~raw_peer();
  raw_peer(const raw_peer&) = delete;
  raw_peer& operator=(const raw_peer&) = delete;

  void send(const std::string& text);
  void send_binary(const std::string& bytes);
  // One text message in several frames (fragments), each part its own frame.
  void send_fragments(const std::vector<std::string>& parts);
  void ping();

  // The next text frame, or "" when the connection closed or timeout passed
  // (then closed() and close_code() say why).
  std::string read(std::chrono::milliseconds timeout = 5s);
  // Reads until a frame containing needle (skipping others), or "".
  std::string read_until(std::string_view needle, std::chrono::milliseconds timeout = 5s);
  // Reads until the connection ends; the close code the server sent.
  int close_code(std::chrono::milliseconds timeout = 5s);
  // The reason of the server's close frame (after close_code()).
  std::string close_reason() const;

  std::string hello(const std::string& extra = "");

  bool closed() const;
  // The close handshake, started by this peer (reads what still comes first).
  void close();

 private:
  struct connection;
  std::unique_ptr<connection> connection_;
};

// The HTTP status a refused upgrade got (0 if it was accepted).
int refused_status(std::uint16_t port, peer_options options);

// A plain HTTP/1.1 GET of target on the loopback port, with headers.
struct http_reply {
  int status = 0;
  std::string content_type;
  std::string body;
};
http_reply http_get(std::uint16_t port, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

// The resume token a welcome frame carries ("" if it is not one).
std::string resume_token_of(const std::string& welcome);

// The code of an error frame (nullopt for another frame, or a code this
// version does not know).
std::optional<courier::ws::error_code> error_code_of(const std::string& frame);

// The next error frame the peer gets is code's, fatal, and then the server
// closes with the close code and reason the table gives code (docs/protocol.md §7).
inline ::testing::AssertionResult closes_with(raw_peer& peer, courier::ws::error_code code,
                                              std::chrono::milliseconds timeout = 5s) {
  const std::string name(courier::ws::info(code).name);
  const std::string frame = peer.read_until(R"("op":"error")", timeout);
  if (error_code_of(frame) != code)
    return ::testing::AssertionFailure() << "expected " << name << ", got: " << frame;
  if (frame.find(R"("fatal":true)") == std::string::npos) {
    return ::testing::AssertionFailure() << name << " is not fatal: " << frame;
  }
  const int expected = static_cast<int>(courier::ws::info(code).close);
  if (const int got = peer.close_code(timeout); got != expected) {
    return ::testing::AssertionFailure() << name << ": close " << got << ", not " << expected;
  }
  if (peer.close_reason() != name) {
    return ::testing::AssertionFailure() << name << ": close reason '" << peer.close_reason() << "'";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace courier_ws_test
