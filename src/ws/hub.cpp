// The hub: sessions and topics of a WebSocket server (see hub.hpp).
#include "hub.hpp"

#include "secret.hpp"
#include "stream_position.hpp"

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
  std::unique_lock lock(mutex_);
  std::shared_ptr<session> chosen;
  if (hello.resume) {
    const auto id = ids_by_token_.find(token_key(*hello.resume));
    if (id != ids_by_token_.end()) {
      const auto& found = sessions_.at(id->second);
      if (equal_in_constant_time(found->token(), *hello.resume) && found->identity() == identity)
        chosen = found;
    }
    if (cluster_sessions_ != nullptr) {
      try {
        chosen = resume_from_cluster(hello, identity, lock);
      } catch (const error& failed) {
        to->close_with(make_error(error_code::internal_error,
                                  fmt::format("the sessions cannot be read: {}", failed.what())));
        return {};
      }
    }
  }
  welcome_frame welcome;
  welcome.resumed = chosen != nullptr;
  if (!chosen) {
    chosen = std::make_shared<session>(fmt::format("s-{}-{}", run_id_, next_session_++), random_text(32),
                                       identity, limits_);
    if (cluster_sessions_ != nullptr) {
      // Several nodes: its record is in Redis before the client hears of
      // it, or there is no session (any node must be able to resume it).
      chosen->began_at(delivered_through_);
      stored_session record{.id = chosen->id(),
                            .token_key = token_key(chosen->token()),
                            .identity = identity,
                            .position = delivered_through_,
                            .topics = {topic_change{.from = delivered_through_, .topics = {}}},
                            .owner = cluster_sessions_->node()};
      lock.unlock();
      try {
        cluster_sessions_->save_now(record);
      } catch (const error& failed) {
        to->close_with(make_error(
            error_code::internal_error,
            fmt::format("the cluster's Redis does not answer, no new sessions: {}", failed.what())));
        return {};
      }
      lock.lock();
      records_[chosen->id()] = std::move(record);
    }
    sessions_.emplace(chosen->id(), chosen);
    ids_by_token_.emplace(token_key(chosen->token()), chosen->id());
  } else {
    if (hello.acked) chosen->ack_upto(*hello.acked);
    if (auto previous = attached_[chosen.get()].lock(); previous && previous != to) {
      previous->close_with(
          make_error(error_code::session_replaced, "another connection resumed this session"));
      chosen->detach();
    }
    checkpoint(*chosen);
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

std::shared_ptr<session> hub::resume_from_cluster(const hello_frame& hello, const std::string& identity,
                                                  std::unique_lock<std::mutex>& lock) {
  const std::string key = token_key(*hello.resume);
  // The copy held here, if this node has one.
  const auto held_here = [&]() -> std::shared_ptr<session> {
    const auto id = ids_by_token_.find(key);
    if (id == ids_by_token_.end()) return nullptr;
    const auto& found = sessions_.at(id->second);
    return equal_in_constant_time(found->token(), *hello.resume) && found->identity() == identity ? found
                                                                                                  : nullptr;
  };
  const bool had_copy = held_here() != nullptr;
  lock.unlock();
  auto stored = cluster_sessions_->find(key);
  if (stored && (!equal_in_constant_time(stored->token_key, key) || stored->identity != identity))
    stored.reset();
  const bool ours = stored && stored->owner == cluster_sessions_->node();
  // The stream after its checkpoint, unless this node's own copy will do.
  std::optional<std::vector<stream_event>> entries;
  bool fetched = false;
  if (stored && !(ours && had_copy)) {
    entries = cluster_sessions_->entries_after(stored->position);
    fetched = true;
  }
  lock.lock();

  std::shared_ptr<session> local = held_here();
  if (!stored) return local;
  if (ours && local) return local;
  // Another node held it since (or this node before a restart): a copy
  // here is stale.
  if (local) {
    if (auto previous = attached_[local.get()].lock()) {
      previous->close_with(make_error(error_code::session_replaced, "another node resumed this session"));
    }
    end_session(local, /*in_cluster_too=*/false);
  }
  if (!fetched) {  // this node's copy went meanwhile: rebuilt like any other
    lock.unlock();
    entries = cluster_sessions_->entries_after(stored->position);
    lock.lock();
  }
  if (!entries) return nullptr;  // events it had not acked are gone from the stream: a new session

  // Every entry up to what the reader delivered here; what comes after
  // reaches the session through deliver(), like everyone's.
  auto fetched_through = [&] { return entries->empty() ? stored->position : entries->back().position; };
  while (before(fetched_through(), delivered_through_)) {
    const std::string from = fetched_through();
    lock.unlock();
    auto more = cluster_sessions_->entries_after(from);
    lock.lock();
    if (!more) return nullptr;
    if (more->empty()) break;
    entries->insert(entries->end(), std::make_move_iterator(more->begin()),
                    std::make_move_iterator(more->end()));
  }
  std::vector<std::shared_ptr<const payload>> replay;
  for (auto& entry : *entries) {
    if (before(delivered_through_, entry.position)) break;
    const auto* topics = stored->topics_at(entry.position);
    if (topics == nullptr || std::find(topics->begin(), topics->end(), entry.topic) == topics->end())
      continue;
    const auto registered = topic_index_.find(entry.topic);
    if (registered == topic_index_.end()) continue;  // a topic this node does not have
    auto event = std::make_shared<payload>(std::move(entry));
    event->topic = topics_[registered->second]->name;
    replay.push_back(std::move(event));
  }
  auto rebuilt = std::make_shared<session>(stored->id, *hello.resume, identity, limits_);
  // What the client says it processed went out, whatever the checkpoint says.
  const std::uint64_t replayed_through = stored->acked + replay.size();
  rebuilt->continue_after(stored->acked, stored->position,
                          std::min(std::max(stored->sent, hello.acked.value_or(0)), replayed_through));
  for (auto& event : replay) {
    if (!rebuilt->enqueue(std::move(event))) return nullptr;  // more than max_queued: a new session
  }
  sessions_.emplace(rebuilt->id(), rebuilt);
  ids_by_token_.emplace(key, rebuilt->id());
  if (!stored->topics.empty()) {
    for (const auto& name : stored->topics.back().topics) {
      const auto registered = topic_index_.find(name);
      if (registered == topic_index_.end()) continue;
      rebuilt->topics().insert(name);
      topics_[registered->second]->subscribers.push_back(rebuilt);
    }
  }
  hold_in_cluster(*rebuilt, std::move(*stored));
  return rebuilt;
}

void hub::hold_in_cluster(const session& which, stored_session record) {
  record.owner = cluster_sessions_->node();
  // Written before the welcome: from then on every node, this one's sweep
  // included, sees the session as this node's. Under the hub's lock, for
  // one round trip: a resume from another node is rare, and Redis has just
  // answered this node's reads. If it stops answering now, the writer
  // sends the record once it answers again.
  try {
    cluster_sessions_->save_now(record);
  } catch (const error&) {
    cluster_sessions_->save(record);
  }
  records_[which.id()] = std::move(record);
}

void hub::checkpoint(const session& which) {
  // Written by the next sweep: a client acks every few events, and one
  // write per session per sweep carries them all. A checkpoint a dead node
  // did not write costs nothing: the client's hello.acked skips the events.
  if (update_record(which) != nullptr) unwritten_.insert(which.id());
}

void hub::write_checkpoint_now(const session& which) {
  unwritten_.erase(which.id());
  if (const stored_session* record = update_record(which)) cluster_sessions_->save_progress(*record);
}

const stored_session* hub::update_record(const session& which) {
  if (cluster_sessions_ == nullptr) return nullptr;
  const auto found = records_.find(which.id());
  if (found == records_.end()) return nullptr;
  stored_session& record = found->second;
  record.acked = which.acked_through();
  record.position = which.acked_position();
  record.sent = which.highest_sent();
  // A change of topics the checkpoint has passed matters no more, unless
  // it is the one in force there.
  while (record.topics.size() > 1 && !before(record.position, record.topics[1].from)) {
    record.topics.erase(record.topics.begin());
  }
  return &record;
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
  write_checkpoint_now(*which);  // the client is likely on its way to another node
}

hub::subscribe_outcome hub::subscribe(const session_ref& ref, const subscribe_frame& request, bool refused) {
  subscribe_outcome outcome;
  std::unique_lock lock(mutex_);
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
  if (const auto record = records_.find(which->id()); record != records_.end()) {
    // From the next entry this node delivers on, the session has these
    // topics; written before the client is told, so that any node it
    // resumes on numbers its events alike.
    record->second.topics.push_back(topic_change{.from = delivered_through_, .topics = outcome.topics});
    const stored_session written = *update_record(*which);
    lock.unlock();
    cluster_sessions_->save_progress_now(written);
  }
  return outcome;
}

session::ack_outcome hub::ack(const session_ref& ref, const ack_frame& frame) {
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  const auto which = find(ref);
  if (!which) return {};
  const std::uint64_t acked_before = which->acked_through();
  auto outcome = which->ack(frame);
  if (which->acked_through() != acked_before) checkpoint(*which);
  pump(*which);
  return outcome;
}

hub::publish_route hub::route(const std::string& topic) const {
  std::lock_guard lock(mutex_);
  const auto found = topic_index_.find(topic);
  if (found == topic_index_.end()) return {};
  return {.known = true, .publisher = topics_[found->second]->handler.get()};
}

void hub::end_session(const std::shared_ptr<session>& which, bool in_cluster_too) {
  if (const auto record = records_.find(which->id()); record != records_.end()) {
    if (in_cluster_too) cluster_sessions_->erase(record->second);
    records_.erase(record);
    unwritten_.erase(which->id());
  }
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

void hub::join_cluster(event_stream& stream, redis_sessions& sessions, publish_keys& keys) {
  std::lock_guard lock(mutex_);
  stream_ = &stream;
  cluster_sessions_ = &sessions;
  publish_keys_ = &keys;
}

void hub::cluster_starts_at(std::string position) {
  std::lock_guard lock(mutex_);
  delivered_through_ = std::move(position);
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
    // Outside the lock: it may wait for Redis. A client's publish is
    // answered once it is written.
    std::function<void()> on_written;
    if (origin != nullptr) on_written = [this, id = event.id] { client_publish_written(id); };
    stream_->append(event, std::move(on_written));
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
  auto event = std::make_shared<payload>(std::move(incoming));
  const change_signal::on_exit tell_waiters(changed_);
  std::lock_guard lock(mutex_);
  delivered_through_ = event->position;
  const auto found = topic_index_.find(event->topic);
  if (found == topic_index_.end()) return;  // a topic another node has and this one has not
  topic_entry& entry = *topics_[found->second];
  if (entry.subscribers.empty()) return;
  event->topic = entry.name;
  queue_in_sessions(entry, std::move(event));
}

void hub::answer_when_written(const std::string& id, std::function<void()> answer) {
  {
    std::lock_guard lock(receipts_mutex_);
    if (written_unanswered_.erase(id) == 0) {
      receipts_waiting_[id] = std::move(answer);
      return;
    }
  }
  answer();
}

void hub::client_publish_written(const std::string& id) {
  std::function<void()> answer;
  {
    std::lock_guard lock(receipts_mutex_);
    const auto waiting = receipts_waiting_.find(id);
    if (waiting == receipts_waiting_.end()) {
      // Written before on_publish registered its answer (it will, next).
      constexpr std::size_t most_remembered = 65'536;
      if (written_unanswered_.insert(id).second) written_unanswered_order_.push_back(id);
      while (written_unanswered_order_.size() > most_remembered) {
        written_unanswered_.erase(written_unanswered_order_.front());
        written_unanswered_order_.pop_front();
      }
      return;
    }
    answer = std::move(waiting->second);
    receipts_waiting_.erase(waiting);
  }
  answer();
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
    end_session(each, /*in_cluster_too=*/true);
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
  std::unique_lock lock(mutex_);
  std::vector<std::shared_ptr<session>> expired;
  for (auto& [key, each] : sessions_) {
    if (each->detached_at && now - *each->detached_at > options_.session_ttl) expired.push_back(each);
  }
  // In Redis it expires by itself (its owner stopped refreshing it when
  // its client left), unless another node holds it now.
  for (auto& each : expired) end_session(each, /*in_cluster_too=*/false);
  if (cluster_sessions_ == nullptr) return;
  for (const auto& id : unwritten_) {
    if (const auto record = records_.find(id); record != records_.end())
      cluster_sessions_->save_progress(record->second);
  }
  unwritten_.clear();

  // Several nodes: the sessions whose clients are connected here stay
  // alive in Redis; one another node resumed meanwhile is not this node's
  // any more (its client, or another with its token, went elsewhere).
  std::vector<stored_session> held;
  for (const auto& [which, to] : attached_) {
    if (const auto record = records_.find(which->id()); record != records_.end())
      held.push_back(record->second);
  }
  if (held.empty()) return;
  lock.unlock();
  std::vector<const stored_session*> asking;
  for (const auto& each : held) asking.push_back(&each);
  std::vector<bool> still_ours;
  try {
    still_ours = cluster_sessions_->refresh(asking);
  } catch (const error&) {
    return;  // Redis is away: the next sweep asks again
  }
  lock.lock();
  for (std::size_t i = 0; i < held.size() && i < still_ours.size(); ++i) {
    if (still_ours[i]) continue;
    const auto found = sessions_.find(held[i].id);
    if (found == sessions_.end()) continue;
    const auto gone = found->second;
    if (auto to = attached_[gone.get()].lock()) {
      to->close_with(make_error(error_code::session_replaced, "another node resumed this session"));
    }
    end_session(gone, /*in_cluster_too=*/false);
  }
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
