// TLS contexts for the WebSocket server and client (see tls_context.hpp).
#include "tls_context.hpp"

#include "courier/error.hpp"

#include <fmt/format.h>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace ssl = boost::asio::ssl;

namespace {

ssl::context modern_context(ssl::context::method method) {
  ssl::context context(method);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  return context;
}

}  // namespace

ssl::context server_tls_context(const tls_options& tls) {
  ssl::context context = modern_context(ssl::context::tls_server);
  boost::system::error_code ec;
  context.use_certificate_chain_file(tls.certificate_chain_file, ec);
  if (ec) {
    throw error(errc::invalid_option, fmt::format("ws::server: TLS certificate chain '{}': {}",
                                                  tls.certificate_chain_file, ec.message()));
  }
  // OpenSSL also checks that the key is the certificate's ("key values mismatch").
  context.use_private_key_file(tls.private_key_file, ssl::context::pem, ec);
  if (ec) {
    throw error(errc::invalid_option,
                fmt::format("ws::server: TLS private key '{}': {}", tls.private_key_file, ec.message()));
  }
  return context;
}

ssl::context client_tls_context(const std::string& ca_file, bool verify) {
  ssl::context context = modern_context(ssl::context::tls_client);
  boost::system::error_code ec;
  if (!ca_file.empty()) {
    context.load_verify_file(ca_file, ec);
    if (ec)
      throw error(errc::invalid_option,
                  fmt::format("ws::client: TLS CA file '{}': {}", ca_file, ec.message()));
  } else {
    context.set_default_verify_paths(ec);
  }
  context.set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  return context;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
