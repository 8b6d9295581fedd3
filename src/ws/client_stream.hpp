// The WebSocket stream of a ws::client's current connection: plain (ws://)
// or inside TLS (wss://), one at a time, made anew for each connection so a
// late callback of the old one cannot touch the new one.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <memory>
#include <variant>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class client_stream {
 public:
  using plain = boost::beast::websocket::stream<boost::beast::tcp_stream>;
  using secure = boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>>;

  // A new stream for the next connection: over TLS when tls is set.
  void renew(boost::asio::io_context& io, boost::asio::ssl::context* tls) {
    if (tls != nullptr) {
      stream_ = std::make_shared<secure>(io, *tls);
    } else {
      stream_ = std::make_shared<plain>(io);
    }
  }

  bool exists() const {
    return std::visit([](const auto& stream) { return stream != nullptr; }, stream_);
  }

  // The TCP stream underneath (timeouts, the socket).
  boost::beast::tcp_stream& tcp() {
    return std::visit(
        [](auto& stream) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(*stream); },
        stream_);
  }

  // The TLS layer; only for a stream made with tls.
  boost::beast::ssl_stream<boost::beast::tcp_stream>& tls() {
    return std::get<std::shared_ptr<secure>>(stream_)->next_layer();
  }

  // Calls f with the WebSocket stream, whichever kind it is.
  template <class F>
  decltype(auto) with(F&& f) {
    return std::visit([&](auto& stream) -> decltype(auto) { return f(*stream); }, stream_);
  }

  // Ends the TCP connection now (the read side then notices).
  void close() {
    if (!exists()) return;
    boost::beast::error_code ignored;
    tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    tcp().socket().close(ignored);
  }

 private:
  std::variant<std::shared_ptr<plain>, std::shared_ptr<secure>> stream_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
