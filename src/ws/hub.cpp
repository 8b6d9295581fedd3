// The hub: sessions and topics of a WebSocket server (see hub.hpp).
#include "hub.hpp"

#include "secret.hpp"

#include "courier/detail/sha256.hpp"
#include "courier/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace courier {
inline namespace v1 {
namespace ws::detail {

namespace {

// Sessions are found by a digest of their resume token, not the token: a
// lookup's timing then tells a prober nothing about the token's bytes, and
// the token itself is compared in constant time (attach()).
std::string token_key(std::string_view token) {
  const auto digest = courier::detail::sha256::hash(token);
  return std::string(digest.begin(), digest.end());
}

server_limits limits_of(const server_options& options) {
  server_limits limits;
  limits.window = options.window;
  limits.slow_after = options.slow_after;
  limits.max_queued = options.max_queued;
  limits.max_frame = options.max_frame;
  limits.rate = options.rate;
  limits.heartbeat_ms = static_cast<std::uint64_t>(options.heartbeat.count());
  limits.session_ttl_ms = static_cast<std::uint64_t>(options.session_ttl.count());
  limits.dedup_window_ms = static_cast<std::uint64_t>(options.dedup_window.count());
  limits.max_send_buffer = options.max_send_buffer;
  return limits;
}

}  // namespace

hub::hub(const server_options& options, std::string run_id, change_signal& changed)
    : options_(options), limits_(limits_of(options)), run_id_(std::move(run_id)), changed_(changed) {}

// --- registration ------------------------------------------------------------

std::size_t hub::add_topic(const std::string& name, const topic_options& options) {
  std::lock_guard lock(mutex_);
  if (sealed_) throw error(errc::invalid_option, "ws::server::topic(): register topics before start()");
  if (name.empty() || name.size() > 128)
    throw error(errc::invalid_option, "ws::server::topic(): 1 to 128 bytes");
  if (topic_index_.count(name) != 0) {
    throw error(errc::invalid_option, fmt::format("ws::server::topic(): '{}' is registered already", name));
  }
  topics_.push_back(std::make_unique<topic_entry>());
  topics_.back()->name = name;
  topics_.back()->options = options;
  topic_index_.emplace(name, topics_.size() - 1);
  return topics_.size() - 1;
}

void hub::set_topic(std::size_t index, subscription observer, std::unique_ptr<topic_base> handler) {
  std::lock_guard lock(mutex_);
  topics_[index]->observer = std::move(observer);
  topics_[index]->handler = std::move(handler);
}

void hub::seal() {
  std::lock_guard lock(mutex_);
  sealed_ = true;
  for (auto& topic : topics_) {
    if (topic->handler) topic->handler->start();
  }
}

void hub::stop_publishers() {
  // Not under the lock: a publisher's consumer thread may be in fan_out.
  std::vector<topic_base*> running;
  {
    std::lock_guard lock(mutex_);
    for (auto& topic : topics_) {
      if (topic->handler) running.push_back(topic->handler.get());
    }
  }
  for (auto* each : running) each->stop();
}

void hub::disconnect_observers() {
  std::vector<subscription> observers;
  {
    std::lock_guard lock(mutex_);
    for (auto& topic : topics_) observers.push_back(std::move(topic->observer));
  }
  // Outside the lock: disconnect() waits for an observer in fan_out.
  for (auto& each : observers) each.disconnect();
}

void hub::release_publishers() {
  std::lock_guard lock(mutex_);
  for (auto& topic : topics_) topic->handler.reset();
}

// --- sessions ----------------------------------------------------------------

session_ref hub::attach(const std::shared_ptr<connection>& to, const hello_frame& hello,
                        const std::string& identity) {
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  std::shared_ptr<session> chosen;
  if (hello.resume) {
    const auto id = ids_by_token_.find(token_key(*hello.resume));
    if (id != ids_by_token_.end()) {
      const auto& found = sessions_.at(id->second);
      if (equal_in_constant_time(found->token(), *hello.resume) && found->identity() == identity)
        chosen = found;
    }
  }
  welcome_frame welcome;
  welcome.resumed = chosen != nullptr;
  if (!chosen) {
    chosen = std::make_shared<session>(fmt::format("s-{}-{}", run_id_, next_session_++), random_text(32),
                                       identity, limits_);
    sessions_.emplace(chosen->id(), chosen);
    ids_by_token_.emplace(token_key(chosen->token()), chosen->id());
  } else {
    if (hello.acked) chosen->ack_upto(*hello.acked);
    if (auto previous = attached_[chosen.get()].lock(); previous && previous != to) {
      previous->close_with(
          make_error(error_code::session_replaced, "another connection resumed this session"));
      chosen->detach();
    }
  }
  chosen->detached_at.reset();
  chosen->attach();
  attached_[chosen.get()] = to;
  welcome.session = chosen->id();
  welcome.resume = chosen->token();
  welcome.acked = chosen->acked_through();
  welcome.topics.assign(chosen->topics().begin(), chosen->topics().end());
  welcome.limits = limits_;
  to->deliver({encode(welcome)});
  pump(*chosen);
  return {chosen->id()};
}

std::shared_ptr<session> hub::find(const session_ref& which) const {
  const auto found = sessions_.find(which.id);
  return found == sessions_.end() ? nullptr : found->second;
}

void hub::detach(const session_ref& ref, const connection* from) {
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  const auto which = find(ref);
  if (!which) return;  // ended meanwhile
  const auto found = attached_.find(which.get());
  if (found == attached_.end()) return;
  const auto current = found->second.lock();
  if (current && current.get() != from) return;  // replaced by a newer connection
  attached_.erase(found);
  which->detach();
  which->detached_at = std::chrono::steady_clock::now();
}

hub::subscribe_outcome hub::subscribe(const session_ref& ref, const subscribe_frame& request, bool refused) {
  subscribe_outcome outcome;
  std::lock_guard lock(mutex_);
  const auto which = find(ref);
  if (!which) return outcome;
  for (const auto& name : request.topics) {
    if (topic_index_.count(name) == 0) outcome.unknown.push_back(name);
  }
  if ((outcome.unknown.empty() && !refused) || request.unsubscribe) {
    for (const auto& name : request.topics) {
      const auto found = topic_index_.find(name);
      if (found == topic_index_.end()) continue;
      auto& subscribers = topics_[found->second]->subscribers;
      if (request.unsubscribe) {
        if (which->topics().erase(name) != 0) std::erase(subscribers, which);
      } else if (which->topics().insert(name).second) {
        subscribers.push_back(which);
      }
    }
  }
  outcome.topics.assign(which->topics().begin(), which->topics().end());
  return outcome;
}

session::ack_outcome hub::ack(const session_ref& ref, const ack_frame& frame) {
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  const auto which = find(ref);
  if (!which) return {};
  auto outcome = which->ack(frame);
  pump(*which);
  return outcome;
}

hub::publish_route hub::route(const std::string& topic) const {
  std::lock_guard lock(mutex_);
  const auto found = topic_index_.find(topic);
  if (found == topic_index_.end()) return {};
  return {.known = true, .publisher = topics_[found->second]->handler.get()};
}

void hub::end_session(const std::shared_ptr<session>& which) {
  ids_by_token_.erase(token_key(which->token()));
  sessions_.erase(which->id());
  attached_.erase(which.get());
  for (const auto& name : which->topics()) {
    if (const auto found = topic_index_.find(name); found != topic_index_.end()) {
      std::erase(topics_[found->second]->subscribers, which);
    }
  }
}

void hub::pump(session& which) {
  const auto found = attached_.find(&which);
  if (found == attached_.end()) return;
  auto to = found->second.lock();
  if (!to) return;
  auto frames = which.take_sendable();
  if (frames.empty()) return;
  events_sent_ += frames.size();
  to->deliver(std::move(frames));
}

// --- events --------------------------------------------------------------------

void hub::publish_through(event_stream& stream) {
  std::lock_guard lock(mutex_);
  stream_ = &stream;
}

void hub::fan_out(std::size_t topic, std::string data, const client_origin* origin,
                  const trace_context& trace) {
  if (stream_ != nullptr) {
    // Through the cluster's stream, to the sessions of every node, this
    // one's included (deliver()): one order for all.
    stream_event event;
    event.data = std::move(data);
    event.trace = trace;
    {
      std::lock_guard lock(mutex_);
      event.topic = topics_[topic]->name;
      name_event(event.id, event.group, origin);
    }
    stream_->append(std::move(event));  // outside the lock: it may wait for Redis
    return;
  }
  auto event = std::make_shared<payload>();
  event->data = std::move(data);
  event->trace = trace;
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  topic_entry& entry = *topics_[topic];
  if (entry.subscribers.empty()) return;
  event->topic = entry.name;
  name_event(event->id, event->group, origin);
  queue_in_sessions(entry, std::move(event));
}

void hub::deliver(stream_event incoming) {
  auto event = std::make_shared<payload>();
  event->id = std::move(incoming.id);
  event->group = std::move(incoming.group);
  event->data = std::move(incoming.data);
  event->trace = std::move(incoming.trace);
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  const auto found = topic_index_.find(incoming.topic);
  if (found == topic_index_.end()) return;  // a topic another node has and this one has not
  topic_entry& entry = *topics_[found->second];
  if (entry.subscribers.empty()) return;
  event->topic = entry.name;
  queue_in_sessions(entry, std::move(event));
}

void hub::name_event(std::string& id, std::optional<std::string>& group, const client_origin* origin) {
  if (origin != nullptr) {
    id = origin->id;
    group = origin->group;
  } else {
    id = fmt::format("{}.{}", run_id_, next_event_++);
  }
}

void hub::queue_in_sessions(topic_entry& entry, std::shared_ptr<const payload> event) {
  std::vector<std::shared_ptr<session>> overflowed;
  for (auto& each : entry.subscribers) {
    if (!each->enqueue(event)) {
      overflowed.push_back(each);
      continue;
    }
    pump(*each);
    if (each->slow()) cut_off_slow(*each);
  }
  for (auto& each : overflowed) {
    if (auto to = attached_[each.get()].lock()) {
      to->close_with(
          make_error(error_code::session_overflow,
                     fmt::format("more than {} events queued; the session ended", options_.max_queued)));
    }
    end_session(each);
  }
}

void hub::cut_off_slow(session& which) {
  const auto found = attached_.find(&which);
  if (found == attached_.end()) return;
  if (auto to = found->second.lock()) {
    to->close_with(
        make_error(error_code::slow_consumer,
                   fmt::format("the backlog grew by more than {} events; the session is kept for {} ms",
                               options_.slow_after, options_.session_ttl.count())));
  }
  ++slow_consumers_;
  // Detached now: what comes next waits in the session for the resume.
  attached_.erase(found);
  which.detach();
  which.detached_at = std::chrono::steady_clock::now();
}

void hub::sweep(std::chrono::steady_clock::time_point now) {
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<session>> expired;
  for (auto& [key, each] : sessions_) {
    if (each->detached_at && now - *each->detached_at > options_.session_ttl) expired.push_back(each);
  }
  for (auto& each : expired) end_session(each);
}

std::uint64_t hub::events_sent() const {
  std::lock_guard lock(mutex_);
  return events_sent_;
}

std::uint64_t hub::slow_consumers() const {
  std::lock_guard lock(mutex_);
  return slow_consumers_;
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
