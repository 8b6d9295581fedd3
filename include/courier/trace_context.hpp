// courier/trace_context.hpp: the W3C Trace Context a message carries.
//
// A sender sets send_options::trace (usually from its tracer's current
// span); every transport carries it unchanged to the consumer, whose
// delivery().trace() gives it back: in-process and durable channels, SQS
// (message attributes, or AWSTraceHeader when the message has no room),
// SNS, WebSocket event frames. courier never makes trace ids itself and
// never starts spans: a message_tracer (courier/tracing.hpp) does that.
//
// What is accepted is what W3C Trace Context level 1 defines: traceparent
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lowercase, ids not
// all zero (a later version's longer header is accepted as its first 55
// characters say, as the spec asks); tracestate at most 512 characters of
// printable ASCII. A send with a malformed one is refused (invalid_option,
// naming it); one arriving from a peer malformed is dropped, as the spec
// says a receiver does, and the message is delivered without it.
#pragma once

#include "courier/error.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {

struct trace_context {
  std::string traceparent = {};  // empty: the message is not traced
  std::string tracestate = {};   // vendors' entries; only with a traceparent

  bool empty() const noexcept { return traceparent.empty(); }
  friend bool operator==(const trace_context&, const trace_context&) = default;
};

namespace detail {

inline bool lower_hex(std::string_view text) noexcept {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

inline bool all_zero(std::string_view text) noexcept {
  return text.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace detail

// Why traceparent is not a W3C traceparent, or empty when it is one.
inline std::string_view traceparent_problem(std::string_view traceparent) noexcept {
  if (traceparent.size() < 55) return "shorter than the 55 characters of version 00";
  const std::string_view version = traceparent.substr(0, 2);
  if (!detail::lower_hex(version) || version == "ff")
    return "its version is not two lowercase hex digits below ff";
  if (version == "00" && traceparent.size() != 55) return "version 00 is exactly 55 characters";
  if (traceparent.size() > 55 && traceparent[55] != '-') return "a later version's fields must follow a '-'";
  if (traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-') {
    return "its fields are not separated by '-' at 2, 35 and 52";
  }
  const std::string_view trace_id = traceparent.substr(3, 32);
  const std::string_view parent_id = traceparent.substr(36, 16);
  const std::string_view flags = traceparent.substr(53, 2);
  if (!detail::lower_hex(trace_id) || detail::all_zero(trace_id)) {
    return "its trace id is not 32 lowercase hex digits, not all zero";
  }
  if (!detail::lower_hex(parent_id) || detail::all_zero(parent_id)) {
    return "its parent id is not 16 lowercase hex digits, not all zero";
  }
  if (!detail::lower_hex(flags)) return "its flags are not two lowercase hex digits";
  return {};
}

// Why tracestate cannot be carried, or empty when it can.
inline std::string_view tracestate_problem(std::string_view tracestate) noexcept {
  if (tracestate.size() > 512) return "longer than 512 characters";
  for (const char c : tracestate) {
    if (c < 0x20 || c > 0x7e) return "holds a character outside printable ASCII";
  }
  return {};
}

namespace detail {

// check_trace's slow path, out of line: a send's fast path stays small
// enough to inline.
[[gnu::cold]] [[gnu::noinline]] inline void check_trace_fully(const trace_context& trace,
                                                              std::string_view where) {
  if (trace.empty()) {
    if (!trace.tracestate.empty()) {
      throw error(errc::invalid_option, fmt::format("{}: a tracestate without a traceparent", where));
    }
    return;
  }
  if (const auto problem = traceparent_problem(trace.traceparent); !problem.empty()) {
    throw error(errc::invalid_option, fmt::format("{}: traceparent '{:.64}' is not a W3C traceparent: {}",
                                                  where, trace.traceparent, problem));
  }
  if (const auto problem = tracestate_problem(trace.tracestate); !problem.empty()) {
    throw error(errc::invalid_option, fmt::format("{}: tracestate {}", where, problem));
  }
}

}  // namespace detail

// Throws courier::error (invalid_option) naming what is wrong with trace,
// as set on a send at where.
inline void check_trace(const trace_context& trace, std::string_view where) {
  if (trace.traceparent.empty() && trace.tracestate.empty()) [[likely]]
    return;
  detail::check_trace_fully(trace, where);
}

// A context that came from a peer: as it is when valid; the tracestate
// dropped when only it is invalid; nothing when the traceparent is.
inline trace_context accept_trace(std::string_view traceparent, std::string_view tracestate) {
  if (traceparent.empty() || !traceparent_problem(traceparent).empty()) return {};
  trace_context out{std::string(traceparent.substr(0, 55)), {}};
  if (tracestate_problem(tracestate).empty()) out.tracestate = std::string(tracestate);
  return out;
}

}  // namespace v1
}  // namespace courier
