// courier/trace_scope.hpp: the trace context of the work a thread is doing
// now, so an event published on the bus while handling a traced message
// carries that message's trace further (to WebSocket clients).
//
// consume() sets it around each handler call of a traced message; an
// application sets it with a trace_scope where its own work starts (an
// incoming request). courier::ws::server reads it when a bus event is
// published, and puts it on the event frame. post() does not carry it: a
// posted event is published later, on another thread (set a trace_scope
// in the observer from what the event holds, if it must).
#pragma once

#include "courier/trace_context.hpp"

namespace courier {
inline namespace v1 {

namespace detail {
inline thread_local const trace_context* current_trace_context = nullptr;
}  // namespace detail

// The context set by the innermost trace_scope on this thread; empty when
// none.
inline const trace_context& current_trace() noexcept {
  static const trace_context none;
  return detail::current_trace_context != nullptr ? *detail::current_trace_context : none;
}

// Makes trace the current one on this thread until destroyed, then puts
// the previous one back. trace must outlive the scope.
class trace_scope {
 public:
  explicit trace_scope(const trace_context& trace) noexcept : previous_(detail::current_trace_context) {
    detail::current_trace_context = &trace;
  }
  ~trace_scope() { detail::current_trace_context = previous_; }
  trace_scope(const trace_scope&) = delete;
  trace_scope& operator=(const trace_scope&) = delete;

 private:
  const trace_context* previous_;
};

}  // namespace v1
}  // namespace courier
