// The events of every node of a cluster, in one Redis stream
// (docs/websocket.md, "Several nodes"). A node appends the events published
// on its bus (append(): queued, then XADDed in order by a writer thread, many
// per round trip) and reads the whole stream back (a reader thread, XREAD
// BLOCK), handing every entry, its own included, to deliver() in stream order.
// So every node sees one order of all events, whichever node published them:
// what lets a session's seqs be the same on any node.
//
// Why one stream rather than one per topic: a session subscribed to several
// topics numbers their events in one sequence, and only one stream gives
// every node the same order across topics. Each node reads every event once
// (not once per session); Redis keeps the last `history` events
// (XADD MAXLEN ~).
//
// When Redis fails: the writer keeps its queue (at most max_pending events;
// append() then waits, holding the publisher back) and sends it again once
// Redis answers; an XADD whose reply was lost may be in the stream twice, so
// the reader skips an event id it has just delivered. The reader goes on
// from the last entry it delivered. Nothing is dropped silently: failures
// are counted and the last one kept for stats().
//
// Thread-safe.
#pragma once

#include "payload.hpp"
#include "redis_connection.hpp"

#include "courier/trace_context.hpp"
#include "courier/ws/server.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

// What travels in the stream: the event as sessions hold it (its position
// set once read back).
using stream_event = payload;

// A stream entry ([entry id, [field, value, ...]]) as an event, its
// position set; nullopt when it is not one of courier's (no id or topic).
std::optional<stream_event> event_of_entry(const redis_reply& entry);

struct event_stream_stats {
  std::uint64_t written = 0;    // commands Redis took: events, and the sessions' records
  std::uint64_t delivered = 0;  // entries read and handed to deliver()
  std::uint64_t repeats_skipped = 0;
  std::uint64_t failures = 0;  // failed round trips, writer and reader
  std::size_t pending = 0;     // appended, not yet taken by Redis
  std::string last_failure;
};

class event_stream {
 public:
  using delivery = std::function<void(stream_event)>;

  // deliver runs on the reader thread, one entry at a time, in stream order.
  event_stream(const redis_options& options, delivery deliver);
  ~event_stream();  // stop()s
  event_stream(const event_stream&) = delete;
  event_stream& operator=(const event_stream&) = delete;

  // Reads where the stream ends now (what is appended from here on is
  // delivered) and starts the threads. Throws courier::error
  // (storage_failed) when Redis cannot be reached.
  void start();
  // Stops both threads; events not yet written stay unwritten. Harmless twice.
  void stop();

  // Queues event for the stream. Waits while max_pending events wait for
  // Redis (it is slow or gone). Not after stop(). on_written, if set, runs
  // on the writer's thread once Redis has the event (dropped if the stream
  // stops first).
  void append(const stream_event& event, std::function<void()> on_written = {});
  // Queues another command for the writer (the sessions' records): sent in
  // order with the events, again after a failure; never waits.
  void write(redis_command command);

  const std::string& key() const noexcept { return key_; }
  // The stream's last entry when start() looked ("0-0": it was empty).
  const std::string& started_at() const noexcept { return started_at_; }

  // Returns once every event appended so far is in Redis, or timeout passed:
  // whether they all are.
  bool flush(std::chrono::milliseconds timeout);

  event_stream_stats stats() const;

 private:
  void queue(redis_command command, bool may_wait, std::function<void()> on_written);
  void write_loop();
  void read_loop();
  void deliver_entries(const redis_reply& entries);
  bool seen_recently(const std::string& id);
  void note_failure(const std::string& what);
  // Waits before trying Redis again; false when stopping.
  bool pause_after_failure(std::chrono::milliseconds& pause);

  const redis_options options_;
  const std::string key_;  // the stream
  const delivery deliver_;
  redis_connection writer_connection_;
  redis_connection reader_connection_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  struct queued_write {
    redis_command command;
    std::function<void()> on_written;
  };
  std::deque<queued_write> pending_;  // the writer removes commands once Redis took them
  bool stopping_ = false;
  event_stream_stats stats_;

  std::string started_at_ = "0-0";  // written by start(), before the threads
  // The reader's own (its thread only).
  std::string last_read_ = "0-0";
  std::unordered_set<std::string> recent_ids_;
  std::deque<std::string> recent_order_;

  std::thread writer_;
  std::thread reader_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
