// courier/tracing.hpp: the hooks a tracer plugs into, called with the span
// names and attributes of the OpenTelemetry messaging conventions.
//
// courier starts no spans and makes no ids: there is no OpenTelemetry C++
// SDK in Debian 12, and an application has its own tracer. A component
// given a message_tracer (channel_options::tracer, sqs::channel_options::
// tracer) calls it at each step of a message's life:
//
//   on_send           before the message is queued or sent. The tracer may
//                     start its "send" span and write that span's context
//                     into *span.context: the message carries it.
//   on_receive        once per message a receive handed out.
//   on_process_start  consume() is about to run the handler on it;
//   on_process_end    the handler returned or threw (span.error).
//   on_settle         ack or nack (span.operation_name says which).
//
// span.context is the message's trace context (what its sender set), so
// a consumer-side span is made a child of (or linked to) the producer's.
// A hook runs on the thread doing the step, with no courier lock held; it
// must not throw (an exception from it is dropped: tracing never changes
// what happens to a message). A component without a tracer pays one null
// check per step.
#pragma once

#include "courier/trace_context.hpp"

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {

// messaging.operation.type
enum class messaging_operation { send, receive, process, settle };

constexpr std::string_view operation_type_name(messaging_operation operation) noexcept {
  switch (operation) {
    case messaging_operation::send:
      return "send";
    case messaging_operation::receive:
      return "receive";
    case messaging_operation::process:
      return "process";
    case messaging_operation::settle:
      return "settle";
  }
  return "";
}

struct message_span {
  messaging_operation operation = messaging_operation::send;
  std::string_view operation_name;  // messaging.operation.name: send, receive, process, ack, nack
  std::string_view system;          // messaging.system: courier, aws_sqs
  std::string_view destination;     // messaging.destination.name
  std::string message_id = {};      // messaging.message.id; empty on send (not known before the send)
  // The message's trace context; on send the tracer may replace it.
  trace_context* context = nullptr;
  std::exception_ptr error = {};  // on_process_end: what the handler threw; else null

  // The span's name as the conventions build it: "{operation name}
  // {destination}", or the operation name alone without a destination.
  std::string name() const {
    if (destination.empty()) return std::string(operation_name);
    std::string out(operation_name);
    out += ' ';
    out += destination;
    return out;
  }

  // The conventions' attributes, with their OpenTelemetry names.
  std::vector<std::pair<std::string_view, std::string>> attributes() const {
    std::vector<std::pair<std::string_view, std::string>> out = {
        {"messaging.system", std::string(system)},
        {"messaging.operation.type", std::string(operation_type_name(operation))},
        {"messaging.operation.name", std::string(operation_name)},
    };
    if (!destination.empty()) out.emplace_back("messaging.destination.name", std::string(destination));
    if (!message_id.empty()) out.emplace_back("messaging.message.id", message_id);
    if (error) out.emplace_back("error.type", "exception");
    return out;
  }
};

class message_tracer {
 public:
  virtual ~message_tracer() = default;
  virtual void on_send(message_span& span) { (void)span; }
  virtual void on_receive(const message_span& span) { (void)span; }
  virtual void on_process_start(const message_span& span) { (void)span; }
  virtual void on_process_end(const message_span& span) { (void)span; }
  virtual void on_settle(const message_span& span) { (void)span; }
};

namespace detail {

// Calls a hook, dropping what it throws (see the header comment).
template <class Hook>
void call_tracer(Hook&& hook) noexcept {
  try {
    hook();
  } catch (...) {
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
