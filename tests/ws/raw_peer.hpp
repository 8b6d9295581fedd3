// A WebSocket peer written with Beast directly, for the server tests: it
// sends frames no well-behaved client would, and reads (or does not read)
// exactly when the test says.
#pragma once

#include "courier/ws/error_codes.hpp"

#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier_ws_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;

struct peer_options {
  bool subprotocol = true;
  std::string origin = {};
  std::string token = {};
  std::string path = "/courier";
};

// A peer that speaks raw WebSocket, to send what no well-behaved client would
// (and to not read what a well-behaved client would).
class raw_peer {
 public:
  explicit raw_peer(std::uint16_t port, peer_options chosen = {}) : ws_(io_) {
    beast::get_lowest_layer(ws_).connect({asio::ip::make_address("127.0.0.1"), port});
    ws_.set_option(websocket::stream_base::decorator([chosen](websocket::request_type& request) {
      if (chosen.subprotocol) request.set(beast::http::field::sec_websocket_protocol, "courier.v1");
      if (!chosen.origin.empty()) request.set(beast::http::field::origin, chosen.origin);
      if (!chosen.token.empty()) request.set(beast::http::field::authorization, "Bearer " + chosen.token);
    }));
    ws_.handshake(response_, "127.0.0.1", chosen.path);
  }

  void send(const std::string& text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  void send_binary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes));
  }
  // One text message in several frames (fragments), each part its own frame.
  void send_fragments(const std::vector<std::string>& parts) {
    ws_.text(true);
    for (std::size_t i = 0; i < parts.size(); ++i)
      ws_.write_some(i + 1 == parts.size(), asio::buffer(parts[i]));
  }
  void ping() { ws_.ping({}); }

  // The next text frame, or "" when the connection closed or timeout passed
  // (then closed() and close_code() say why).
  std::string read(std::chrono::milliseconds timeout = 5s) {
    std::string got;
    bool done = false;
    beast::flat_buffer buffer;
    ws_.async_read(buffer, [&](beast::error_code ec, std::size_t) {
      done = true;
      if (ec) {
        closed_ = true;
        return;
      }
      got = beast::buffers_to_string(buffer.data());
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      io_.restart();
      io_.run();
    }
    return got;
  }

  // Reads until a frame containing needle (skipping others), or "".
  std::string read_until(std::string_view needle, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string frame = read(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (frame.find(needle) != std::string::npos) return frame;
      if (closed_) return "";
    }
    return "";
  }

  // Reads until the connection ends; the close code the server sent.
  int close_code(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_ && std::chrono::steady_clock::now() < deadline) read(100ms);
    return static_cast<int>(ws_.reason().code);
  }

  // The reason of the server's close frame (after close_code()).
  std::string close_reason() const { return std::string(ws_.reason().reason.c_str()); }

  std::string hello(const std::string& extra = "") {
    send(R"({"op":"hello")" + extra + "}");
    return read_until("welcome");
  }

  bool closed() const { return closed_; }
  // The close handshake, started by this peer (reads what still comes first).
  void close() { ws_.close(websocket::close_code::normal); }

 private:
  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  websocket::response_type response_;
  bool closed_ = false;
};

// The HTTP status a refused upgrade got (0 if it was accepted).
inline int refused_status(std::uint16_t port, peer_options options) {
  try {
    raw_peer peer(port, std::move(options));
    return 0;
  } catch (const beast::system_error& e) {
    return e.code() == websocket::error::upgrade_declined ? -1 : -2;
  }
}

// The resume token a welcome frame carries ("" if it is not one).
inline std::string resume_token_of(const std::string& welcome) {
  boost::system::error_code ec;
  const auto frame = boost::json::parse(welcome, ec);
  if (ec || !frame.is_object()) return {};
  const auto* token = frame.as_object().if_contains("resume");
  return token != nullptr && token->is_string() ? std::string(token->as_string()) : std::string();
}

// The code of an error frame (nullopt for another frame, or a code this
// version does not know).
inline std::optional<courier::ws::error_code> error_code_of(const std::string& frame) {
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(frame, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  const auto* op = parsed.as_object().if_contains("op");
  const auto* code = parsed.as_object().if_contains("code");
  if (op == nullptr || *op != "error" || code == nullptr || !code->is_string()) return std::nullopt;
  return courier::ws::error_code_named(code->as_string());
}

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
