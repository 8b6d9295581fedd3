// One client session of the WebSocket server (docs/protocol.md §4-5): its
// subscriptions and its queue of events, each waiting or in flight, in seq
// order; the window; acks by id and cumulative. Pure bookkeeping: the server
// holds its lock around every call and does the sending.
#pragma once

#include "payload.hpp"

#include "courier/trace_context.hpp"
#include "courier/ws/frames.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class session {
 public:
  session(std::string id, std::string resume_token, std::string identity, const server_limits& limits)
      : id_(std::move(id)),
        token_(std::move(resume_token)),
        identity_(std::move(identity)),
        limits_(limits) {}

  const std::string& id() const { return id_; }
  const std::string& token() const { return token_; }
  const std::string& identity() const { return identity_; }
  std::set<std::string>& topics() { return topics_; }

  // A session another node held (several nodes): every event with seq <=
  // acked was acked there, the last of them at stream `position`, and seqs
  // up to `sent` went out. Before anything is queued.
  void continue_after(std::uint64_t acked, std::string position, std::uint64_t sent) {
    first_seq_ = next_seq_ = acked + 1;
    highest_sent_ = std::max(acked, sent);
    acked_position_ = std::move(position);
  }

  // Queues event; false when that would pass max_queued (the session must
  // end: it cannot keep at-least-once any more).
  bool enqueue(std::shared_ptr<const payload> event) {
    if (queue_.size() >= limits_.max_queued) return false;
    const std::uint64_t seq = next_seq_++;
    if (queue_.empty()) first_seq_ = seq;
    if (indexing_ids_) by_id_.emplace(event->id, seq);
    // One another node sent already (continue_after) goes out as a resend.
    const std::uint64_t attempts = seq <= highest_sent_ ? 1 : 0;
    queue_.push_back(entry{std::move(event), seq, attempts, state::waiting});
    ++waiting_;
    return true;
  }

  // The event frames that may go out now (within the window), in seq order,
  // marked in flight.
  std::vector<std::string> take_sendable() {
    std::vector<std::string> frames;
    while (in_flight_ < limits_.window && waiting_ > 0) {
      // Skip to the first waiting entry (all before it are in flight or acked).
      while (cursor_ < queue_.size() && queue_[cursor_].status != state::waiting) ++cursor_;
      if (cursor_ >= queue_.size()) break;
      entry& next = queue_[cursor_];
      next.status = state::in_flight;
      ++next.attempt;
      --waiting_;
      ++in_flight_;
      highest_sent_ = std::max(highest_sent_, next.seq);
      frames.push_back(
          encode(event_frame{next.event->id, next.seq, next.event->topic, next.event->group, next.event->data,
                             next.attempt, next.event->trace.traceparent, next.event->trace.tracestate}));
    }
    lowest_waiting_ = std::min(lowest_waiting_, waiting_);
    return frames;
  }

  struct ack_outcome {
    std::vector<std::string> unknown_ids;
    bool unknown_seq = false;
  };

  ack_outcome ack(const ack_frame& frame) {
    ack_outcome outcome;
    if (!frame.ids.empty()) index_ids();
    for (const std::string& id : frame.ids) {
      const auto found = by_id_.find(id);
      if (found == by_id_.end() || !ever_sent(found->second)) {
        if (recently_acked_.count(id) == 0) outcome.unknown_ids.push_back(id);
        continue;
      }
      settle(found->second);
    }
    if (frame.upto) {
      if (*frame.upto > highest_sent_) {
        outcome.unknown_seq = true;
      } else {
        ack_upto(*frame.upto);
      }
    }
    drop_acked_front();
    lowest_waiting_ = std::min(lowest_waiting_, waiting_);
    return outcome;
  }

  // Cumulative: every event sent (on any connection) with seq <= upto.
  void ack_upto(std::uint64_t upto) {
    upto = std::min(upto, highest_sent_);
    for (std::size_t i = 0; i < queue_.size() && queue_[i].seq <= upto; ++i) {
      if (queue_[i].status != state::acked && queue_[i].attempt > 0) settle(queue_[i].seq);
    }
    drop_acked_front();
  }

  // The connection ended: what was in flight goes out again next time.
  void detach() {
    for (entry& each : queue_) {
      if (each.status == state::in_flight) {
        each.status = state::waiting;
        --in_flight_;
        ++waiting_;
      }
    }
    cursor_ = 0;
  }

  // A connection takes the session over: its backlog so far is where the
  // client starts, not something it is behind on.
  void attach() { lowest_waiting_ = waiting_; }

  // Too slow: the window is full and the backlog behind it has grown by
  // more than slow_after above its lowest point on this connection. A
  // client is judged by whether its acks keep pace with what is sent to it,
  // not by the backlog it had when it came back: one that resumes far
  // behind and gains on the publishers is never slow.
  bool slow() const {
    return in_flight_ >= limits_.window && waiting_ > lowest_waiting_ + limits_.slow_after;
  }

  // Every event with seq <= this is acked.
  std::uint64_t acked_through() const { return queue_.empty() ? next_seq_ - 1 : first_seq_ - 1; }
  // The stream entry of event acked_through() (several nodes), or where the
  // session began.
  const std::string& acked_position() const { return acked_position_; }
  void began_at(std::string position) { acked_position_ = std::move(position); }
  std::uint64_t highest_sent() const { return highest_sent_; }
  std::size_t queued() const { return queue_.size(); }
  std::size_t in_flight() const { return in_flight_; }

  // When the session lost its connection (for session_ttl); empty while connected.
  std::optional<std::chrono::steady_clock::time_point> detached_at;

 private:
  enum class state : std::uint8_t { waiting, in_flight, acked };
  struct entry {
    std::shared_ptr<const payload> event;
    std::uint64_t seq;
    std::uint64_t attempt;  // sends so far
    state status;
  };

  entry* at(std::uint64_t seq) {
    if (queue_.empty() || seq < first_seq_ || seq - first_seq_ >= queue_.size()) return nullptr;
    return &queue_[seq - first_seq_];
  }
  bool ever_sent(std::uint64_t seq) {
    const entry* found = at(seq);
    return found != nullptr && found->attempt > 0;
  }

  void settle(std::uint64_t seq) {
    entry* found = at(seq);
    if (found == nullptr || found->status == state::acked) return;
    if (found->status == state::in_flight) --in_flight_;
    if (found->status == state::waiting) --waiting_;
    found->status = state::acked;
    remember_acked(found->event);
    if (indexing_ids_) by_id_.erase(found->event->id);
  }

  void drop_acked_front() {
    while (!queue_.empty() && queue_.front().status == state::acked) {
      acked_position_ = queue_.front().event->position;
      queue_.pop_front();
      ++first_seq_;
      if (cursor_ > 0) --cursor_;
    }
  }

  // An ack of an id acked a moment ago (a retried ack) is not unknown.
  void remember_acked(const std::shared_ptr<const payload>& event) {
    if (indexing_ids_ && !recently_acked_.insert(event->id).second) return;
    acked_order_.push_back(event);
    if (acked_order_.size() > remembered_acks) {
      if (indexing_ids_) recently_acked_.erase(acked_order_.front()->id);
      acked_order_.pop_front();
    }
  }

  // Most clients ack cumulatively (upto) and never by id: the indexes by id
  // are built the first time a client acks by id and kept from then on, so
  // the others pay no hashing per event.
  void index_ids() {
    if (indexing_ids_) return;
    indexing_ids_ = true;
    for (const entry& each : queue_) {
      if (each.status != state::acked) by_id_.emplace(each.event->id, each.seq);
    }
    for (const auto& each : acked_order_) recently_acked_.insert(each->id);
  }

  static constexpr std::size_t remembered_acks = 4096;

  std::string id_;
  std::string token_;
  std::string identity_;
  server_limits limits_;
  std::set<std::string> topics_;
  std::deque<entry> queue_;
  std::uint64_t first_seq_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t highest_sent_ = 0;
  std::size_t cursor_ = 0;  // queue_ index before which nothing waits
  std::size_t waiting_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t lowest_waiting_ = 0;  // since the connection attached
  std::string acked_position_;
  // Keys view the ids of payloads held by queue_ or acked_order_.
  bool indexing_ids_ = false;
  std::unordered_map<std::string_view, std::uint64_t> by_id_;
  std::unordered_set<std::string_view> recently_acked_;
  std::deque<std::shared_ptr<const payload>> acked_order_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
