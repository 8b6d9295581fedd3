// Identifiers of channel messages and of their deliveries.
//
// A message_id names one accepted message for as long as its channel lives;
// a duplicate send gets the id of the message it duplicates. A receipt names
// one delivery of a message: every delivery gets a new one, and only the
// newest can ack, nack or extend. Both print through fmt.
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>

namespace courier {
inline namespace v1 {

struct message_id {
  std::uint64_t value = 0;
  friend auto operator<=>(const message_id&, const message_id&) = default;
};

struct receipt {
  message_id message;
  std::uint64_t delivery = 0;  // which delivery of the message; unique per channel
  friend auto operator<=>(const receipt&, const receipt&) = default;
};

}  // namespace v1
}  // namespace courier

template <>
struct fmt::formatter<courier::message_id> : fmt::formatter<std::uint64_t> {
  template <class FormatContext>
  auto format(const courier::message_id& id, FormatContext& ctx) const {
    ctx.advance_to(fmt::format_to(ctx.out(), "message#"));
    return fmt::formatter<std::uint64_t>::format(id.value, ctx);
  }
};

template <>
struct fmt::formatter<courier::receipt> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class FormatContext>
  auto format(const courier::receipt& handle, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "receipt#{}.{}", handle.message.value, handle.delivery);
  }
};
