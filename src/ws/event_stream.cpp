// A cluster's events in one Redis stream (see event_stream.hpp).
#include "event_stream.hpp"

#include "courier/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace {

// Events one XADD round trip carries at most.
constexpr std::size_t write_batch = 256;
// Entries one XREAD asks for.
constexpr std::size_t read_batch = 512;
// How long a blocking XREAD waits for new entries: also how long stop() may
// wait for the reader to notice.
constexpr std::chrono::milliseconds read_block{200};
// Event ids the reader remembers, to skip an XADD that went out twice.
constexpr std::size_t remembered_ids = 4096;

constexpr std::chrono::milliseconds first_pause{50};
constexpr std::chrono::milliseconds longest_pause{1000};

redis_command xadd(const std::string& key, std::size_t history, const stream_event& event) {
  redis_command command{"XADD", key,       "MAXLEN", "~",     std::to_string(history),
                        "*",    "id",      event.id, "topic", event.topic,
                        "data", event.data};
  if (event.group) {
    command.emplace_back("group");
    command.push_back(*event.group);
  }
  if (!event.trace.empty()) {
    command.emplace_back("traceparent");
    command.push_back(event.trace.traceparent);
    if (!event.trace.tracestate.empty()) {
      command.emplace_back("tracestate");
      command.push_back(event.trace.tracestate);
    }
  }
  return command;
}

// An error reply that a later try may not get (Redis loading its data after
// a restart, a script running, a failover).
bool refused_for_now(const std::string& error) {
  for (const char* transient :
       {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "OOM", "CLUSTERDOWN", "NOREPLICAS"}) {
    if (error.rfind(transient, 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::optional<stream_event> event_of_entry(const redis_reply& entry) {
  if (entry.elements.size() != 2) return std::nullopt;
  stream_event event;
  event.position = entry.elements[0].text;
  bool has_id = false;
  bool has_topic = false;
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].text;
    const std::string& value = fields[i + 1].text;
    if (name == "id") {
      event.id = value;
      has_id = true;
    } else if (name == "topic") {
      event.topic = value;
      has_topic = true;
    } else if (name == "data") {
      event.data = value;
    } else if (name == "group") {
      event.group = value;
    } else if (name == "traceparent") {
      event.trace.traceparent = value;
    } else if (name == "tracestate") {
      event.trace.tracestate = value;
    }
  }
  if (!has_id || !has_topic) return std::nullopt;
  return event;
}

event_stream::event_stream(const redis_options& options, delivery deliver)
    : options_(options),
      key_(options.prefix + ":events"),
      deliver_(std::move(deliver)),
      writer_connection_(options.host, options.port, options.timeout),
      reader_connection_(options.host, options.port, options.timeout) {
  // A blocking read waits read_block on top of the usual answer time.
  reader_connection_.set_read_timeout(options.timeout + read_block);
}

event_stream::~event_stream() { stop(); }

void event_stream::start() {
  // Where the stream ends now: the last entry's id, or the start.
  const redis_reply last = reader_connection_.run({"XREVRANGE", key_, "+", "-", "COUNT", "1"});
  if (last.is_error()) {
    throw error(errc::storage_failed, fmt::format("redis {}: reading stream {}: {}",
                                                  reader_connection_.address(), key_, last.text));
  }
  if (!last.elements.empty() && !last.elements.front().elements.empty()) {
    last_read_ = last.elements.front().elements.front().text;
  }
  started_at_ = last_read_;
  writer_ = std::thread([this] { write_loop(); });
  reader_ = std::thread([this] { read_loop(); });
}

void event_stream::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (reader_.joinable()) reader_.join();
}

void event_stream::append(const stream_event& event, std::function<void()> on_written) {
  queue(xadd(key_, options_.history, event), true, std::move(on_written));
}

void event_stream::write(redis_command command) { queue(std::move(command), false, {}); }

void event_stream::queue(redis_command command, bool may_wait, std::function<void()> on_written) {
  std::unique_lock lock(mutex_);
  if (may_wait) changed_.wait(lock, [&] { return stopping_ || pending_.size() < options_.max_pending; });
  if (stopping_) return;
  pending_.push_back({std::move(command), std::move(on_written)});
  stats_.pending = pending_.size();
  if (pending_.size() == 1) changed_.notify_all();
}

bool event_stream::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return pending_.empty(); });
}

event_stream_stats event_stream::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void event_stream::note_failure(const std::string& what) {
  std::lock_guard lock(mutex_);
  ++stats_.failures;
  stats_.last_failure = what;
}

bool event_stream::pause_after_failure(std::chrono::milliseconds& pause) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, pause, [&] { return stopping_; });
  pause = std::min(pause * 2, longest_pause);
  return !stopping_;
}

void event_stream::write_loop() {
  std::vector<redis_command> commands;
  std::chrono::milliseconds pause = first_pause;
  for (;;) {
    std::size_t taking = 0;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      // Taken off the queue only once Redis took them: a failed round trip
      // sends the same events again, in the same order.
      taking = std::min(pending_.size(), write_batch);
      commands.clear();
      for (std::size_t i = 0; i < taking; ++i) commands.push_back(pending_[i].command);
    }
    std::string failure;
    bool again = false;
    std::vector<bool> refused(taking, false);
    try {
      const auto replies = writer_connection_.run_all(commands);
      for (std::size_t i = 0; i < replies.size(); ++i) {
        if (!replies[i].is_error()) continue;
        refused[i] = true;
        // Refused: either for now (still loading its data after a restart,
        // busy): the batch goes again; or for good (a key of another type):
        // counted and kept in stats, not sent again forever.
        failure = fmt::format("redis {}: {}: {}", writer_connection_.address(), commands[i].front(),
                              replies[i].text);
        again = again || refused_for_now(replies[i].text);
      }
    } catch (const error& failed) {
      failure = failed.what();
      again = true;
    }
    if (!failure.empty()) note_failure(failure);
    if (again) {
      if (!pause_after_failure(pause)) return;
      continue;
    }
    pause = first_pause;
    std::vector<std::function<void()>> now_written;
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < taking; ++i) {
        // One Redis refused for good is not written: whoever waits for it
        // is not told it was (a receipt never comes; its client retries).
        if (pending_[i].on_written && !refused[i]) now_written.push_back(std::move(pending_[i].on_written));
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taking));
      stats_.written += taking;
      stats_.pending = pending_.size();
    }
    changed_.notify_all();  // publishers waiting for room, flush()
    for (auto& then : now_written) then();
  }
}

void event_stream::read_loop() {
  std::chrono::milliseconds pause = first_pause;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    redis_reply found;
    try {
      found = reader_connection_.run({"XREAD", "COUNT", std::to_string(read_batch), "BLOCK",
                                      std::to_string(read_block.count()), "STREAMS", key_, last_read_});
      if (found.is_error())
        throw error(errc::storage_failed,
                    fmt::format("redis {}: XREAD: {}", reader_connection_.address(), found.text));
    } catch (const error& failed) {
      note_failure(failed.what());
      if (!pause_after_failure(pause)) return;
      continue;
    }
    pause = first_pause;
    // [[key, [[entry id, [field, value, ...]], ...]]], or nil when nothing came.
    for (const auto& stream : found.elements) {
      if (stream.elements.size() == 2) deliver_entries(stream.elements[1]);
    }
  }
}

void event_stream::deliver_entries(const redis_reply& entries) {
  for (const auto& entry : entries.elements) {
    if (entry.elements.size() == 2) last_read_ = entry.elements[0].text;
    auto event = event_of_entry(entry);
    if (!event) continue;  // not an event of ours: written by something else
    if (seen_recently(event->id)) {
      std::lock_guard lock(mutex_);
      ++stats_.repeats_skipped;
      continue;
    }
    deliver_(std::move(*event));
    std::lock_guard lock(mutex_);
    ++stats_.delivered;
  }
}

bool event_stream::seen_recently(const std::string& id) {
  if (!recent_ids_.insert(id).second) return true;
  recent_order_.push_back(id);
  if (recent_order_.size() > remembered_ids) {
    recent_ids_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
  return false;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
