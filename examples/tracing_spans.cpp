// A tracer in a few lines: courier's tracing hooks (courier/tracing.hpp)
// turned into spans printed as JSON lines, one per step of each message,
// all in the trace of the request that sent them.
//
// A real application would hand the same calls to its tracer (an
// OpenTelemetry SDK, a vendor's agent); the shape is the same: on send,
// start a span under the current context and write its traceparent into
// the message; on the consumer side, start spans whose parent is the
// context the message carried.
#include <courier/channel.hpp>
#include <courier/tracing.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace {

struct order {
  int number = 0;
};

// A JSON string literal of text.
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + '"';
}

class json_lines_tracer final : public courier::message_tracer {
 public:
  // Every trace id a span was printed in.
  std::set<std::string> traces_seen() {
    std::lock_guard lock(mutex_);
    return traces_;
  }

  void on_send(courier::message_span& span) override {
    const std::string span_id = new_span_id();
    const std::string trace_id = span.context->empty() ? new_trace_id() : span.context->traceparent.substr(3, 32);
    const std::string parent_id = span.context->empty() ? "" : span.context->traceparent.substr(36, 16);
    print(span, "producer", trace_id, span_id, parent_id);
    // The message carries the send span's context: the consumer's spans hang under it.
    span.context->traceparent = fmt::format("00-{}-{}-01", trace_id, span_id);
  }
  void on_receive(const courier::message_span& span) override { child(span, "consumer"); }
  void on_process_start(const courier::message_span& span) override { child(span, "consumer"); }
  void on_process_end(const courier::message_span& span) override {
    // A real tracer ends the span started above; this one prints the end.
    child(span, span.error ? "consumer_end_error" : "consumer_end");
  }
  void on_settle(const courier::message_span& span) override { child(span, "client"); }

 private:
  void child(const courier::message_span& span, std::string_view kind) {
    const std::string& parent = span.context->traceparent;
    if (parent.empty()) return;  // an untraced message: nothing to hang a span on
    print(span, kind, parent.substr(3, 32), new_span_id(), parent.substr(36, 16));
  }

  void print(const courier::message_span& span, std::string_view kind, const std::string& trace_id,
             const std::string& span_id, const std::string& parent_id) {
    std::string attributes;
    for (const auto& [name, value] : span.attributes()) {
      attributes += fmt::format("{}{}:{}", attributes.empty() ? "" : ",", json_string(name), json_string(value));
    }
    std::lock_guard lock(mutex_);
    traces_.insert(trace_id);
    fmt::print("{{\"name\":{},\"kind\":{},\"trace_id\":\"{}\",\"span_id\":\"{}\",\"parent_span_id\":\"{}\","
               "\"attributes\":{{{}}}}}\n",
               json_string(span.name()), json_string(kind), trace_id, span_id, parent_id, attributes);
    std::fflush(stdout);
  }

  std::string new_trace_id() { return random_hex(2); }
  std::string new_span_id() { return random_hex(1); }
  std::string random_hex(int words) {
    std::lock_guard lock(mutex_);
    std::string out;
    for (int i = 0; i < words; ++i) out += fmt::format("{:016x}", random_());
    return out;
  }

  std::mutex mutex_;
  std::mt19937_64 random_{std::random_device{}()};  // ids, not secrets: unique is enough
  std::set<std::string> traces_;
};

}  // namespace

int main() {
  auto tracer = std::make_shared<json_lines_tracer>();
  courier::channel<order> orders({.name = "orders", .tracer = tracer});

  // The request that caused the orders: its context, as an incoming HTTP
  // request's traceparent header would give it.
  const std::string request = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  for (int number = 1; number <= 2; ++number) orders.send(order{number}, {.trace = {request, ""}});

  std::atomic<int> handled{0};
  {
    auto consumer = orders.consume([&](const order&) { ++handled; });
    while (handled.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    while (orders.stats().acked < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto traces = tracer->traces_seen();
  if (traces.size() != 1 || *traces.begin() != request.substr(3, 32)) {
    fmt::print(stderr, "spans in {} traces, expected only the request's\n", traces.size());
    return 1;
  }
  fmt::print("every span is in the request's trace {}\n", *traces.begin());
  return 0;
}
