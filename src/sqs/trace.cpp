// A trace context on SQS messages: attributes, or X-Ray's AWSTraceHeader.
#include "courier/sqs/trace.hpp"

#include <fmt/format.h>

#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {

std::string aws_trace_header_of(const trace_context& trace) {
  if (trace.empty()) return {};
  const std::string_view parent = trace.traceparent;
  const std::string_view trace_id = parent.substr(3, 32);
  const bool sampled = (std::stoi(std::string(parent.substr(53, 2)), nullptr, 16) & 1) != 0;
  // X-Ray's trace id is the W3C one, split after its first 8 digits (an
  // epoch in X-Ray's own ids; any 8 hex digits are accepted).
  return fmt::format("Root=1-{}-{};Parent={};Sampled={}", trace_id.substr(0, 8), trace_id.substr(8),
                     parent.substr(36, 16), sampled ? 1 : 0);
}

trace_context trace_of_aws_header(std::string_view header) {
  std::string_view root;
  std::string_view parent;
  std::string_view sampled = "0";
  while (!header.empty()) {
    const auto end = header.find(';');
    std::string_view field = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
    const auto equals = field.find('=');
    if (equals == std::string_view::npos) continue;
    const std::string_view key = field.substr(0, equals);
    const std::string_view value = field.substr(equals + 1);
    if (key == "Root") {
      root = value;
    } else if (key == "Parent") {
      parent = value;
    } else if (key == "Sampled") {
      sampled = value;
    }
  }
  // Root=1-<8 hex>-<24 hex>
  if (root.size() != 35 || root.substr(0, 2) != "1-" || root[10] != '-') return {};
  const std::string trace_id = std::string(root.substr(2, 8)) + std::string(root.substr(11));
  return accept_trace(fmt::format("00-{}-{}-{}", trace_id, parent, sampled == "1" ? "01" : "00"), {});
}

void put_trace(outgoing_message& message, const trace_context& trace) {
  if (trace.empty()) return;
  const std::size_t needed = trace.tracestate.empty() ? 1 : 2;
  if (message.message_attributes.size() + needed <= max_message_attributes) {
    message.message_attributes[traceparent_attribute] = attribute{"String", trace.traceparent};
    if (!trace.tracestate.empty()) {
      message.message_attributes[tracestate_attribute] = attribute{"String", trace.tracestate};
    }
    return;
  }
  message.aws_trace_header = aws_trace_header_of(trace);
}

trace_context trace_of(const received_message& message) {
  if (const auto parent = message.message_attributes.find(traceparent_attribute);
      parent != message.message_attributes.end()) {
    const auto state = message.message_attributes.find(tracestate_attribute);
    auto trace = accept_trace(parent->second.value,
                              state == message.message_attributes.end() ? "" : state->second.value);
    if (!trace.empty()) return trace;
  }
  return trace_of_aws_header(message.system_attribute("AWSTraceHeader"));
}

}  // namespace sqs
}  // namespace v1
}  // namespace courier
