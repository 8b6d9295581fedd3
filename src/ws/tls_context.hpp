// The TLS contexts of the WebSocket server and client, made in one place so
// both ends hold the same floor: TLS 1.2 and later, nothing older.
#pragma once

#include "courier/ws/server.hpp"

#include <boost/asio/ssl/context.hpp>

#include <string>

namespace courier {
inline namespace v1 {
namespace ws::detail {

// The server's: its certificate chain and private key (PEM). Throws
// courier::error (invalid_option) naming the file that could not be used.
boost::asio::ssl::context server_tls_context(const tls_options& tls);

// The client's: the server's chain must lead to a CA in ca_file (empty: the
// system's CAs) unless verify is false. Throws courier::error
// (invalid_option) naming a CA file that could not be read.
boost::asio::ssl::context client_tls_context(const std::string& ca_file, bool verify);

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
