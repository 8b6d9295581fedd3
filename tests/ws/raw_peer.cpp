// The raw Beast peer of the server tests (see raw_peer.hpp).
#include "raw_peer.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace courier_ws_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

struct raw_peer::connection {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  websocket::response_type response;
  bool closed = false;
};

raw_peer::raw_peer(std::uint16_t port, peer_options chosen) : connection_(std::make_unique<connection>()) {
  auto& ws = connection_->ws;
  beast::get_lowest_layer(ws).connect({asio::ip::make_address("127.0.0.1"), port});
  ws.set_option(websocket::stream_base::decorator([chosen](websocket::request_type& request) {
    if (chosen.subprotocol) request.set(beast::http::field::sec_websocket_protocol, "courier.v1");
    if (!chosen.origin.empty()) request.set(beast::http::field::origin, chosen.origin);
    if (!chosen.token.empty()) request.set(beast::http::field::authorization, "Bearer " + chosen.token);
  }));
  ws.handshake(connection_->response, "127.0.0.1", chosen.path);
}

raw_peer::~raw_peer() = default;

void raw_peer::send(const std::string& text) {
  connection_->ws.text(true);
  connection_->ws.write(asio::buffer(text));
}

void raw_peer::send_binary(const std::string& bytes) {
  connection_->ws.binary(true);
  connection_->ws.write(asio::buffer(bytes));
}

void raw_peer::send_fragments(const std::vector<std::string>& parts) {
  connection_->ws.text(true);
  for (std::size_t i = 0; i < parts.size(); ++i)
    connection_->ws.write_some(i + 1 == parts.size(), asio::buffer(parts[i]));
}

void raw_peer::ping() { connection_->ws.ping({}); }

std::string raw_peer::read(std::chrono::milliseconds timeout) {
  auto& c = *connection_;
  std::string got;
  bool done = false;
  beast::flat_buffer buffer;
  c.ws.async_read(buffer, [&](beast::error_code ec, std::size_t) {
    done = true;
    if (ec) {
      c.closed = true;
      return;
    }
    got = beast::buffers_to_string(buffer.data());
  });
  c.io.restart();
  c.io.run_for(timeout);
  if (!done) {
    beast::get_lowest_layer(c.ws).cancel();
    c.io.restart();
    c.io.run();
  }
  return got;
}

std::string raw_peer::read_until(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string frame = read(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (frame.find(needle) != std::string::npos) return frame;
    if (connection_->closed) return "";
  }
  return "";
}

int raw_peer::close_code(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!connection_->closed && std::chrono::steady_clock::now() < deadline) read(100ms);
  return static_cast<int>(connection_->ws.reason().code);
}

std::string raw_peer::close_reason() const { return std::string(connection_->ws.reason().reason.c_str()); }

std::string raw_peer::hello(const std::string& extra) {
  send(R"({"op":"hello")" + extra + "}");
  return read_until("welcome");
}

bool raw_peer::closed() const { return connection_->closed; }

void raw_peer::close() { connection_->ws.close(websocket::close_code::normal); }

int refused_status(std::uint16_t port, peer_options options) {
  try {
    raw_peer peer(port, std::move(options));
    return 0;
  } catch (const beast::system_error& e) {
    return e.code() == websocket::error::upgrade_declined ? -1 : -2;
  }
}

http_reply http_get(std::uint16_t port, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  namespace http = beast::http;
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.set(name, value);
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return {static_cast<int>(response.result_int()), std::string(response[http::field::content_type]),
          response.body()};
}

std::string resume_token_of(const std::string& welcome) {
  boost::system::error_code ec;
  const auto frame = boost::json::parse(welcome, ec);
  if (ec || !frame.is_object()) return {};
  const auto* token = frame.as_object().if_contains("resume");
  return token != nullptr && token->is_string() ? std::string(token->as_string()) : std::string();
}

std::optional<courier::ws::error_code> error_code_of(const std::string& frame) {
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(frame, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  const auto* op = parsed.as_object().if_contains("op");
  const auto* code = parsed.as_object().if_contains("code");
  if (op == nullptr || *op != "error" || code == nullptr || !code->is_string()) return std::nullopt;
  return courier::ws::error_code_named(code->as_string());
}

}  // namespace courier_ws_test
