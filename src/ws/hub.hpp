// The hub of a WebSocket server: its topics and its clients' sessions, and
// what moves between them. Events from the bus come in through fan_out and
// are queued in every subscribed session; a session's frames go out through
// the connection attached to it, handed over while the hub's lock is held,
// so they leave in seq order. Connections reach sessions and topics only
// through these calls (protocol.hpp makes them), never through the server's
// state, and name a session only by its id (session_ref), never hold it: so
// this is the one seam where sessions and events meet other nodes. With
// join_cluster() events go through the cluster's Redis stream and sessions
// are kept in Redis too (event_stream.hpp, redis_sessions.hpp).
//
// Thread-safe: one mutex guards everything; no call blocks on I/O or calls
// the application while holding it (publishers' handlers run outside it),
// but one: claiming a session rebuilt from Redis for this node, one round
// trip, rare (hold_in_cluster).
#pragma once

#include "connection.hpp"
#include "event_stream.hpp"
#include "publish_keys.hpp"
#include "redis_sessions.hpp"
#include "server_counters.hpp"
#include "session.hpp"

#include "courier/subscription.hpp"
#include "courier/ws/server.hpp"

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

// A session as connections know it: its id, nothing of its state. Empty
// before hello was answered.
struct session_ref {
  std::string id;
  explicit operator bool() const noexcept { return !id.empty(); }
};

class hub {
 public:
  // changed is told after every change of the counts below.
  hub(const server_options& options, std::string run_id, change_signal& changed);

  // --- registration, before serving --------------------------------------

  // Throws courier::error (invalid_option): a bad or repeated name, or after seal().
  std::size_t add_topic(const std::string& name, const topic_options& options);
  void set_topic(std::size_t index, subscription observer, std::unique_ptr<topic_base> handler);
  // No more topics from now on; the publishers start moving client
  // publishes onto the bus.
  void seal();
  void stop_publishers();
  void disconnect_observers();
  // Drops the publishers (they refer to the server object, which is going).
  void release_publishers();

  // --- what connections do -------------------------------------------------

  // A hello: the session it resumes (its token, for this identity) or a new
  // one; a connection that held it is told session_replaced. The welcome and
  // whatever waits in the session go to `to`.
  session_ref attach(const std::shared_ptr<connection>& to, const hello_frame& hello,
                     const std::string& identity);
  // The connection `from` ended: its session (unless another took it over)
  // waits for a resume, for session_ttl.
  void detach(const session_ref& which, const connection* from);

  struct subscribe_outcome {
    std::vector<std::string> unknown;  // topics not registered (nothing changed)
    std::vector<std::string> topics;   // the session's subscription after the change
  };
  // Subscribes or unsubscribes, all or nothing; a subscribe changes nothing
  // when a topic is unknown or `refused` (by the application). A session
  // that has ended meanwhile has no topics.
  subscribe_outcome subscribe(const session_ref& which, const subscribe_frame& request, bool refused);

  // Acks, then sends what the freed window allows. A session that has ended
  // meanwhile acks nothing.
  session::ack_outcome ack(const session_ref& which, const ack_frame& frame);

  // Where a client's publish to topic goes: its publisher, or why not.
  struct publish_route {
    bool known = false;               // unknown_topic if not
    topic_base* publisher = nullptr;  // null for a known topic: forbidden (not open to publishing)
  };
  publish_route route(const std::string& topic) const;

  // --- what the bus, the cluster and the clock do ----------------------------

  // Several nodes: fan_out() appends to the cluster's stream instead, and
  // the stream's reader brings every node's events back through deliver();
  // sessions are kept in Redis too (redis_sessions.hpp), so a hello may
  // resume one another node held. Before any event; both outlive the hub's
  // use of them.
  void join_cluster(event_stream& stream, redis_sessions& sessions, publish_keys& keys);
  // Several nodes: where client publish keys are claimed; null for one node.
  publish_keys* cluster_publish_keys() const noexcept { return publish_keys_; }
  // Several nodes: the cluster's event stream; null for one node.
  event_stream* cluster_stream() const noexcept { return stream_; }
  // Where the stream ended when this node started reading it.
  void cluster_starts_at(std::string position);

  // An event of topic, encoded once, to every subscribed session; with the
  // client's id and group when it is a client's publish.
  void fan_out(std::size_t topic, std::string data, const client_origin* origin,
               const trace_context& trace = trace_context{});
  // An event from the cluster's stream (any node's) to this node's sessions
  // subscribed to its topic.
  void deliver(stream_event event);

  // Several nodes: the receipt of a client's publish (its event's id) goes
  // out once the event is in the stream, not merely in the topic's channel.
  // on_publish registers the answer once the channel took the publish; the
  // writer reports the event written (fan_out asks it to); whichever comes
  // second runs answer, on its thread.
  void answer_when_written(const std::string& id, std::function<void()> answer);
  // Ends the sessions whose clients did not come back within session_ttl.
  void sweep(std::chrono::steady_clock::time_point now);

  std::uint64_t events_sent() const;
  std::uint64_t slow_consumers() const;
  // The sessions, their unacked events, and for each bound the sessions
  // holding at most that many: one consistent snapshot (server_stats).
  template <std::size_t N>
  struct unacked_snapshot {
    std::size_t sessions = 0;
    std::size_t unacked = 0;
    std::array<std::size_t, N> at_most = {};
  };
  template <std::size_t N>
  unacked_snapshot<N> unacked_by_session(const std::array<std::size_t, N>& bounds) const {
    unacked_snapshot<N> out;
    std::lock_guard lock(mutex_);
    out.sessions = sessions_.size();
    for (const auto& [key, each] : sessions_) {
      const std::size_t queued = each->queued();
      out.unacked += queued;
      for (std::size_t i = 0; i < N; ++i) {
        if (queued <= bounds[i]) ++out.at_most[i];
      }
    }
    return out;
  }

 private:
  struct topic_entry {
    std::string name;
    topic_options options;
    subscription observer;
    std::unique_ptr<topic_base> handler;
    std::vector<std::shared_ptr<session>> subscribers;
  };

  std::shared_ptr<session> find(const session_ref& which) const;  // caller holds mutex_; null if ended
  // Caller holds mutex_. in_cluster_too: several nodes, and the session
  // ends for all of them (not only its copy here).
  void end_session(const std::shared_ptr<session>& which, bool in_cluster_too);
  // Several nodes: a session held by another node (or by this one before
  // a restart), rebuilt from its checkpoint and the stream; null when Redis
  // has no such session for this token and identity, or cannot give back
  // every event it has not acked. Takes mutex_ itself (lock is unlocked on
  // entry, locked on return). Throws courier::error (storage_failed).
  std::shared_ptr<session> resume_from_cluster(const hello_frame& hello, const std::string& identity,
                                               std::unique_lock<std::mutex>& lock);
  // A session this node keeps in Redis from now on. Caller holds mutex_.
  void hold_in_cluster(const session& which, stored_session record);
  // The session's acks since its last write go to Redis at the next sweep
  // (write_checkpoint_now: through the writer at once). Caller holds mutex_.
  void checkpoint(const session& which);
  void write_checkpoint_now(const session& which);
  // The session's record brought up to its acks (null: not several nodes,
  // or not held here). Caller holds mutex_.
  const stored_session* update_record(const session& which);
  void client_publish_written(const std::string& id);
  // A new event's id (and group, for a client's publish). Caller holds mutex_.
  void name_event(std::string& id, std::optional<std::string>& group, const client_origin* origin);
  void queue_in_sessions(topic_entry& entry, std::shared_ptr<const payload> event);  // caller holds mutex_
  void pump(session& which);                                                         // caller holds mutex_
  // The connected session is too slow: told so, detached, kept.
  void cut_off_slow(session& which);  // caller holds mutex_

  const server_options& options_;
  server_limits limits_;
  const std::string run_id_;
  change_signal& changed_;

  mutable std::mutex mutex_;  // guards everything below
  bool sealed_ = false;
  std::vector<std::unique_ptr<topic_entry>> topics_;
  std::map<std::string, std::size_t, std::less<>> topic_index_;
  std::unordered_map<std::string, std::shared_ptr<session>> sessions_;  // by id
  std::unordered_map<std::string, std::string> ids_by_token_;           // token_key(resume token) -> id
  std::unordered_map<session*, std::weak_ptr<connection>> attached_;
  std::uint64_t next_session_ = 1;
  std::uint64_t next_event_ = 1;
  std::uint64_t events_sent_ = 0;
  std::uint64_t slow_consumers_ = 0;
  // Several nodes (join_cluster): the cluster's stream and sessions, the
  // last stream entry delivered here, and the Redis record of each session
  // held (by session id), as last written.
  event_stream* stream_ = nullptr;
  redis_sessions* cluster_sessions_ = nullptr;
  publish_keys* publish_keys_ = nullptr;  // set before serving, then only read
  std::string delivered_through_ = "0-0";
  std::unordered_map<std::string, stored_session> records_;
  std::unordered_set<std::string> unwritten_;  // ids whose record moved on since it was written

  // Receipts waiting for their event's write, and events written before
  // their receipt was registered (bounded: a registration always follows).
  std::mutex receipts_mutex_;  // guards the three below; taken without mutex_
  std::unordered_map<std::string, std::function<void()>> receipts_waiting_;
  std::unordered_set<std::string> written_unanswered_;
  std::deque<std::string> written_unanswered_order_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
