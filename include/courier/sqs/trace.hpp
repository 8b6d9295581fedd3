// courier/sqs/trace.hpp: a message's W3C trace context on SQS (and SNS,
// whose message attributes reach subscribed queues as theirs).
//
// Where it goes: two message attributes, "traceparent" and "tracestate",
// the names OpenTelemetry's messaging propagators use, so a consumer
// instrumented by another library reads them too. SQS allows 10 message
// attributes; a message without room for them carries the trace in the
// AWSTraceHeader system attribute instead, in X-Ray's form (the AWS
// tracers' own fallback), which does not count against the 10: its trace
// id, parent id and sampled flag survive; tracestate has no place there
// and is dropped. A consumer reads the attributes first, then
// AWSTraceHeader.
#pragma once

#include "courier/sqs/client.hpp"
#include "courier/trace_context.hpp"

#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace sqs {

inline constexpr const char* traceparent_attribute = "traceparent";
inline constexpr const char* tracestate_attribute = "tracestate";
inline constexpr std::size_t max_message_attributes = 10;  // SQS's limit per message

// The X-Ray trace header for trace ("Root=1-xxxxxxxx-xxx...;Parent=...;
// Sampled=1"); empty for an empty trace.
std::string aws_trace_header_of(const trace_context& trace);
// The trace an X-Ray header names; empty when it lacks a Root or a Parent,
// or either is malformed.
trace_context trace_of_aws_header(std::string_view header);

// Puts trace on message: attributes when there is room, else
// AWSTraceHeader (see above). Nothing for an empty trace.
void put_trace(outgoing_message& message, const trace_context& trace);
// The trace a received message carries (attributes, else AWSTraceHeader);
// empty when none or malformed.
trace_context trace_of(const received_message& message);

}  // namespace sqs
}  // namespace v1
}  // namespace courier
