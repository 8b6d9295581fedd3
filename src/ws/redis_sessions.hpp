// The sessions of a cluster of WebSocket nodes, kept in Redis so that any
// node can resume any of them (docs/websocket.md, "Several nodes").
//
// A session is not a copy of its events: it is a checkpoint into the
// cluster's one event stream (event_stream.hpp) plus the topics it was
// subscribed to from each position on. Its seqs follow from that: the
// events after `position` whose topic the session had at that point are
// seq acked+1, acked+2, ... in stream order, on any node, because every node
// reads the same stream in the same order. Per session Redis holds a small
// hash and a token key, whatever the number of events.
//
//   <prefix>:session:<id>   hash: token (SHA-256 of the resume token, never
//                           the token), identity, acked, position, sent,
//                           topics (JSON), owner (the node's run id)
//   <prefix>:token:<hex of the token's SHA-256>   the session's id
//
// Both expire session_ttl after the owner last refreshed them (it does while
// the client is connected), so a session outlives a dead node by
// session_ttl, as it outlives a dropped connection.
//
// Reads (find, entries_after), a new session's record and a change of
// topics are round trips on the caller's thread: a client told it has a
// session or a subscription can rely on any node knowing it. Acks go
// through the event stream's writer, in order, without waiting (a client's
// own `acked` covers what a dead node did not write).
// Thread-safe.
#pragma once

#include "event_stream.hpp"
#include "redis_connection.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

// The session's topics for the stream entries after `from`.
struct topic_change {
  std::string from;
  std::vector<std::string> topics;
};

struct stored_session {
  std::string id;
  std::string token_key;  // SHA-256 of the resume token
  std::string identity;
  std::uint64_t acked = 0;           // every event with seq <= acked is acked
  std::string position;              // the stream entry of seq `acked`, or where the session began
  std::uint64_t sent = 0;            // the highest seq ever sent
  std::vector<topic_change> topics;  // oldest first; the first applies right after `position`
  std::string owner;                 // the run id of the node holding the session

  // The topics the session had for the entry at `entry`.
  const std::vector<std::string>* topics_at(std::string_view entry) const;
};

class redis_sessions {
 public:
  redis_sessions(const redis_options& options, std::string node, std::chrono::milliseconds ttl,
                 event_stream& writes);

  const std::string& node() const noexcept { return node_; }

  // The session holding the token whose SHA-256 is token_key, if Redis has
  // it. Throws courier::error (storage_failed) when Redis cannot be read.
  std::optional<stored_session> find(std::string_view token_key);
  // The stream's entries after `position`, up to its end now, oldest
  // first; nullopt when some of them are gone (trimmed past history).
  // Throws as find().
  std::optional<std::vector<stream_event>> entries_after(const std::string& position);

  // Writes the whole record, owned by this node, and starts its expiry:
  // save_now before answering (throws as find()), save through the writer.
  void save_now(const stored_session& session);
  void save(const stored_session& session);
  // Writes what acks and subscriptions change, through the writer.
  void save_progress(const stored_session& session);
  // The same before answering; when Redis does not answer, through the
  // writer after all (it retries) and false.
  bool save_progress_now(const stored_session& session);
  // Keeps alive the sessions this node holds (their clients are connected):
  // for each, whether it is still this node's (another node may have
  // resumed it). Throws as find().
  std::vector<bool> refresh(const std::vector<const stored_session*>& held);
  // Ends the session in Redis, unless another node holds it now.
  void erase(const stored_session& session);

 private:
  std::string session_key(const std::string& id) const;
  std::vector<redis_command> record_commands(const stored_session& session) const;
  redis_command progress_command(const stored_session& session) const;
  std::string token_key_name(std::string_view token_key) const;

  const std::string prefix_;
  const std::string node_;
  const std::string ttl_ms_;
  event_stream& writes_;
  std::mutex calls_mutex_;  // guards calls_
  redis_connection calls_;  // the round trips made on callers' threads
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
