// Typed events as JSON text, for the adapters that carry them over a wire
// (SQS message bodies, WebSocket frames).
//
// A struct described with Boost.Describe encodes and decodes with no code of
// its own:
//
//   struct pickup { std::string vendor; int parcel; };
//   BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))
//
//   std::string text = courier::json::encode(pickup{"acme", 7});  // {"vendor":"acme","parcel":7}
//   pickup back = courier::json::decode<pickup>(text);
//
// Members may themselves be described structs, standard containers,
// optionals, strings and numbers (whatever Boost.JSON's value_from/value_to
// convert); a type can also give its own tag_invoke overloads. decode throws
// courier::error (malformed_message) naming the type and what was wrong:
// text that is not JSON, a missing member, a member of the wrong kind. It
// never returns a half-filled event.
//
// Link courier::json (it compiles Boost.JSON's implementation once).
#pragma once

#include "courier/error.hpp"
#include "courier/event_name.hpp"

#include <fmt/format.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace courier {
inline namespace v1 {
namespace json {

template <class Event>
std::string encode(const Event& event) {
  return boost::json::serialize(boost::json::value_from(event));
}

template <class Event>
Event decode(std::string_view text) {
  std::error_code parse_error;
  const boost::json::value value = boost::json::parse(text, parse_error);
  if (parse_error) {
    throw error(errc::malformed_message, fmt::format("decode<{}>: not JSON ({}): {:.120}",
                                                     event_name<Event>(), parse_error.message(), text));
  }
  auto decoded = boost::json::try_value_to<Event>(value);
  if (!decoded) {
    throw error(errc::malformed_message,
                fmt::format("decode<{}>: {}: {:.120}", event_name<Event>(), decoded.error().message(), text));
  }
  return std::move(*decoded);
}

}  // namespace json
}  // namespace v1
}  // namespace courier
