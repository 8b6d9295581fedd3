// NATS JetStream as its C client (Debian's libnats-dev) offers this queue:
// one stream over the subjects peer.<group>, its duplicate window set to
// the dedup window, each message published asynchronously with its key as
// Nats-Msg-Id (the stream drops a repeat within the window); one durable
// pull consumer with explicit acks, fetching up to `read` at a time and acking
// each message. One stream and one consumer keep the order of everything,
// so of each group too.
#include "engines.hpp"

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace courier_peer_bench {
namespace {

using seconds_f = std::chrono::duration<double>;
using namespace std::chrono_literals;

void check(natsStatus status, const char* what, jsErrCode code = static_cast<jsErrCode>(0)) {
  if (status != NATS_OK) {
    throw std::runtime_error(fmt::format("peer bench: JetStream: {} failed: {} ({}, JetStream error {})",
                                         what, natsStatus_GetText(status), nats_GetLastError(nullptr),
                                         static_cast<int>(code)));
  }
}

struct connection {
  natsConnection* nats = nullptr;
  jsCtx* js = nullptr;

  connection(int port, std::int64_t max_pending) {
    check(natsConnection_ConnectTo(&nats, fmt::format("nats://127.0.0.1:{}", port).c_str()),
          "connecting to nats-server");
    jsOptions options;
    jsOptions_Init(&options);
    options.PublishAsync.MaxPending = max_pending;
    check(natsConnection_JetStream(&js, nats, &options), "opening JetStream");
  }
  ~connection() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nats);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
};

}  // namespace

result run_jetstream(const workload& work, int port, const std::string& storage) {
  const auto in_flight = static_cast<std::int64_t>(work.in_flight);
  connection setup(port, in_flight);
  jsErrCode code{};
  js_DeleteStream(setup.js, "PEER", nullptr, &code);  // none yet, or one of an earlier round
  jsStreamConfig stream;
  jsStreamConfig_Init(&stream);
  stream.Name = "PEER";
  const char* subjects[] = {"peer.>"};
  stream.Subjects = subjects;
  stream.SubjectsLen = 1;
  stream.Storage = storage == "memory" ? js_MemoryStorage : js_FileStorage;
  stream.Duplicates = std::chrono::nanoseconds(5min).count();  // courier's and SQS's default dedup window
  jsStreamInfo* info = nullptr;
  check(js_AddStream(&info, setup.js, &stream, nullptr, &code), "creating the stream", code);
  jsStreamInfo_Destroy(info);

  connection from(port, in_flight);
  jsSubOptions subscription;
  jsSubOptions_Init(&subscription);
  subscription.Stream = "PEER";
  subscription.Config.AckPolicy = js_AckExplicit;
  subscription.Config.MaxAckPending = in_flight;
  natsSubscription* pull = nullptr;
  check(js_PullSubscribe(&pull, from.js, "peer.>", "peer-consumer", nullptr, &subscription, &code),
        "subscribing", code);

  consumer_record record(work.messages);
  const auto start = std::chrono::steady_clock::now();
  producer_thread producer([&] {
    connection to(port, in_flight);
    for (std::size_t sent = 0; sent < work.messages;) {
      wait_for_room(record, sent + work.batch - 1, work);
      const std::int64_t sent_ns = now_ns();
      for (std::size_t i = 0; i < work.batch && sent < work.messages; ++i, ++sent) {
        const std::string key = key_of(sent);
        const std::string body = body_of(sent, sent_ns);
        jsPubOptions options;
        jsPubOptions_Init(&options);
        options.MsgId = key.c_str();
        check(js_PublishAsync(to.js, fmt::format("peer.{}", sent % groups).c_str(), body.data(),
                              static_cast<int>(body.size()), &options),
              "publishing");
      }
    }
    check(js_PublishAsyncComplete(to.js, nullptr), "waiting for the publishes");
  });

  std::vector<std::string> bodies;
  while (record.count() < work.messages && !producer.down()) {
    natsMsgList list{};
    const natsStatus fetched = natsSubscription_Fetch(&list, pull, static_cast<int>(work.read), 5000, &code);
    if (fetched == NATS_TIMEOUT) {
      producer.join();
      throw std::runtime_error(
          fmt::format("peer bench: JetStream delivered nothing for 5 s after {}", record.count()));
    }
    check(fetched, "fetching", code);
    bodies.clear();
    for (int i = 0; i < list.Count; ++i) {
      check(natsMsg_Ack(list.Msgs[i], nullptr), "acking");
      bodies.emplace_back(natsMsg_GetData(list.Msgs[i]),
                          static_cast<std::size_t>(natsMsg_GetDataLength(list.Msgs[i])));
    }
    natsMsgList_Destroy(&list);
    const std::int64_t acked_ns = now_ns();
    for (const auto& body : bodies) record.settled(body, acked_ns);
    record.acks_done();
  }
  producer.join();
  natsSubscription_Unsubscribe(pull);
  natsSubscription_Destroy(pull);
  const double seconds = seconds_f(std::chrono::steady_clock::now() - start).count();
  js_DeleteStream(setup.js, "PEER", nullptr, &code);
  return {static_cast<double>(work.messages) / seconds, record.latency_us(0.50), record.latency_us(0.99)};
}

}  // namespace courier_peer_bench
