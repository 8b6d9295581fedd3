// A position in a Redis stream: an entry id "<milliseconds>-<sequence>",
// compared as the two numbers it is (as strings, "9-0" would sort after
// "10-0"). "0-0" is before every entry.
#pragma once

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace ws::detail {

struct stream_position {
  std::uint64_t milliseconds = 0;
  std::uint64_t sequence = 0;

  // nullopt when text is not an entry id.
  static std::optional<stream_position> parse(std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    stream_position out;
    const auto first = std::from_chars(text.data(), text.data() + dash, out.milliseconds);
    const auto second = std::from_chars(text.data() + dash + 1, text.data() + text.size(), out.sequence);
    if (first.ec != std::errc() || first.ptr != text.data() + dash || second.ec != std::errc() ||
        second.ptr != text.data() + text.size()) {
      return std::nullopt;
    }
    return out;
  }

  std::string text() const { return std::to_string(milliseconds) + "-" + std::to_string(sequence); }

  friend auto operator<=>(const stream_position&, const stream_position&) = default;
};

// a < b for two entry ids; an id that does not parse counts as "0-0".
inline bool before(std::string_view a, std::string_view b) {
  return stream_position::parse(a).value_or(stream_position{}) <
         stream_position::parse(b).value_or(stream_position{});
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
