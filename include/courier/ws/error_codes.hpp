// The error codes of the courier.v1 protocol (docs/protocol.md §8) as code:
// each code's wire name, whether it ends the connection, and the close code
// it ends it with, in one table that the server, the client and the tests
// read. An error frame carries the name (a client must accept names it does
// not know, so error_frame::code stays a string); this enum is how courier
// itself writes and compares them (make_error in frames.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace ws {

enum class error_code : std::uint8_t {
  malformed_json,
  unknown_op,
  missing_field,
  wrong_type,
  bad_value,
  not_hello_first,
  unexpected_hello,
  hello_timeout,
  unauthorized,
  forbidden,
  unknown_topic,
  unknown_id,
  unknown_seq,
  invalid_data,
  missing_group,
  busy,
  rate_limited,
  slow_consumer,
  session_overflow,
  session_replaced,
  binary_frame,
  too_large,
  too_many_connections,
  internal_error,
};

// The close codes the server sends (docs/protocol.md §7).
enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  unsupported_data = 1003,
  policy_violation = 1008,
  too_big = 1009,
  internal_error = 1011,
  try_again_later = 1013,
  protocol_error = 4000,  // courier's: the client broke the protocol
  unauthorized = 4001,
  too_slow = 4002,
  session_replaced = 4003,
  session_overflow = 4004,
};

struct error_code_info {
  std::string_view name;  // on the wire
  bool fatal;             // the connection ends with close
  close_code close;       // when fatal (before welcome every error is fatal, with protocol_error)
};

namespace detail {
inline constexpr std::array<error_code_info, 24> error_table = {{
    {"malformed_json", false, close_code::protocol_error},
    {"unknown_op", false, close_code::protocol_error},
    {"missing_field", false, close_code::protocol_error},
    {"wrong_type", false, close_code::protocol_error},
    {"bad_value", false, close_code::protocol_error},
    {"not_hello_first", true, close_code::protocol_error},
    {"unexpected_hello", true, close_code::protocol_error},
    {"hello_timeout", true, close_code::protocol_error},
    {"unauthorized", true, close_code::unauthorized},
    {"forbidden", false, close_code::protocol_error},
    {"unknown_topic", false, close_code::protocol_error},
    {"unknown_id", false, close_code::protocol_error},
    {"unknown_seq", false, close_code::protocol_error},
    {"invalid_data", false, close_code::protocol_error},
    {"missing_group", false, close_code::protocol_error},
    {"busy", false, close_code::protocol_error},
    {"rate_limited", true, close_code::policy_violation},
    {"slow_consumer", true, close_code::too_slow},
    {"session_overflow", true, close_code::session_overflow},
    {"session_replaced", true, close_code::session_replaced},
    {"binary_frame", true, close_code::unsupported_data},
    {"too_large", true, close_code::too_big},
    {"too_many_connections", true, close_code::try_again_later},
    {"internal_error", true, close_code::internal_error},
}};
}  // namespace detail

// The row of code. Never throws.
constexpr const error_code_info& info(error_code code) noexcept {
  return detail::error_table[static_cast<std::size_t>(code)];
}

// The code whose wire name is name, or nullopt for a name this version does
// not know (a client then acts on the frame's fatal flag). Never throws.
constexpr std::optional<error_code> error_code_named(std::string_view name) noexcept {
  for (std::size_t i = 0; i < detail::error_table.size(); ++i) {
    if (detail::error_table[i].name == name) return static_cast<error_code>(i);
  }
  return std::nullopt;
}

}  // namespace ws
}  // namespace v1
}  // namespace courier
