// One client's side of the courier.v1 conversation (docs/protocol.md §3),
// from its hello to its last ack: each text frame the connection reads
// becomes calls on the hub and frames back. It knows nothing of sockets, so
// the connection (stream_connection.hpp) is only transport; and nothing of
// other clients, which it reaches only through the hub.
#pragma once

#include "connection.hpp"
#include "hub.hpp"
#include "upgrade_gate.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class protocol {
 public:
  // Where the frames this side produces go: the connection.
  class replies {
   public:
    virtual ~replies() = default;
    virtual void send(std::string text) = 0;               // a reply, in the order of the frames answered
    virtual void close_with_error(error_frame error) = 0;  // fatal (make_error): the connection ends
  };

  // frames_refused counts the error frames sent for bad input.
  protocol(hub& hub, const server_options& options, server_counters& counters, admission who)
      : hub_(hub), options_(options), counters_(counters), who_(std::move(who)) {}

  // One complete text frame from the client; self is the connection it came on.
  void handle(std::string_view text, const std::shared_ptr<connection>& self, replies& out);

  // The session, once hello was answered; empty before.
  const session_ref& current_session() const { return session_; }

 private:
  void on_hello(const hello_frame& hello, const std::shared_ptr<connection>& self, replies& out);
  void on_subscribe(const subscribe_frame& request, replies& out);
  void on_ack(const ack_frame& ack, replies& out);
  void on_publish(const publish_frame& publish, const std::shared_ptr<connection>& self, replies& out);
  // A non-fatal error frame for bad input.
  void refuse(error_frame error, replies& out);

  hub& hub_;
  const server_options& options_;
  server_counters& counters_;
  admission who_;
  session_ref session_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
