// Redis Streams as a user would build this queue on it (through Debian's
// hiredis): the producer runs one script per message that claims the
// message's key (SET NX with the dedup window as its expiry) and, if the
// key was new, XADDs the message, `batch` scripts to a round trip; the
// consumer reads with XREADGROUP (one consumer of one group, up to `read` at a
// time) and acks what it read with one XACK. One stream keeps the order of
// everything, so of each group too.
#include "engines.hpp"

#include <hiredis/hiredis.h>

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
using reply_ptr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

constexpr const char* send_script = R"(
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then
  return redis.call('XADD', KEYS[2], '*', 'group', ARGV[1], 'body', ARGV[2])
end
return false)";

// One hiredis connection, used by one thread.
class connection {
 public:
  explicit connection(int port) : context_(redisConnect("127.0.0.1", port), &redisFree) {
    if (!context_ || context_->err) {
      throw std::runtime_error(fmt::format("peer bench: cannot reach redis-server at 127.0.0.1:{}: {}", port,
                                           context_ ? context_->errstr : "out of memory"));
    }
  }

  void append(const std::vector<std::string>& words) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& word : words) {
      argv.push_back(word.data());
      lengths.push_back(word.size());
    }
    if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
        REDIS_OK)
      fail("a command");
  }

  reply_ptr reply() {
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK) fail("a reply");
    reply_ptr out(static_cast<redisReply*>(raw), &freeReplyObject);
    if (out->type == REDIS_REPLY_ERROR)
      throw std::runtime_error(fmt::format("peer bench: redis-server: {}", out->str));
    return out;
  }

  reply_ptr call(const std::vector<std::string>& words) {
    append(words);
    return reply();
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(fmt::format("peer bench: redis-server: {} failed: {}", what, context_->errstr));
  }

  std::unique_ptr<redisContext, decltype(&redisFree)> context_;
};

}  // namespace

result run_redis_streams(const workload& work, int port, const std::string& appendfsync) {
  connection setup(port);
  setup.call({"CONFIG", "SET", "appendfsync", appendfsync});
  setup.call({"FLUSHALL"});
  const std::string stream = "peer:stream";
  setup.call({"XGROUP", "CREATE", stream, "consumers", "$", "MKSTREAM"});
  const std::string sha = setup.call({"SCRIPT", "LOAD", send_script})->str;
  const std::string window_ms = "300000";  // courier's and SQS's default dedup window

  consumer_record record(work.messages);
  const auto start = std::chrono::steady_clock::now();
  producer_thread producer([&] {
    connection to(port);
    for (std::size_t sent = 0; sent < work.messages;) {
      wait_for_room(record, sent + work.batch - 1, work);
      const std::int64_t sent_ns = now_ns();
      std::size_t in_batch = 0;
      for (; in_batch < work.batch && sent < work.messages; ++in_batch, ++sent) {
        to.append({"EVALSHA", sha, "2", fmt::format("peer:key:{}", sent), stream, group_of(sent),
                   body_of(sent, sent_ns), window_ms});
      }
      for (std::size_t i = 0; i < in_batch; ++i) {
        if (to.reply()->type == REDIS_REPLY_NIL)
          throw std::runtime_error("peer bench: Redis took a new key for a duplicate");
      }
    }
  });

  connection from(port);
  std::vector<std::string> ack{"XACK", stream, "consumers"};
  std::vector<std::string_view> bodies;
  while (record.count() < work.messages && !producer.down()) {
    const auto read = from.call({"XREADGROUP", "GROUP", "consumers", "bench", "COUNT",
                                 std::to_string(work.read), "BLOCK", "5000", "STREAMS", stream, ">"});
    if (read->type == REDIS_REPLY_NIL) {
      producer.join();
      throw std::runtime_error(
          fmt::format("peer bench: Redis delivered nothing for 5 s after {}", record.count()));
    }
    const redisReply* entries = read->element[0]->element[1];
    ack.resize(3);
    bodies.clear();
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* entry = entries->element[i];
      ack.emplace_back(entry->element[0]->str, entry->element[0]->len);
      const redisReply* fields = entry->element[1];  // group, g, body, b
      bodies.emplace_back(fields->element[3]->str, fields->element[3]->len);
    }
    from.call(ack);
    const std::int64_t acked_ns = now_ns();
    for (const auto body : bodies) record.settled(body, acked_ns);
    record.acks_done();
  }
  producer.join();
  const double seconds = seconds_f(std::chrono::steady_clock::now() - start).count();
  setup.call({"FLUSHALL"});
  return {static_cast<double>(work.messages) / seconds, record.latency_us(0.50), record.latency_us(0.99)};
}

}  // namespace courier_peer_bench
