// How a channel hands a message that reached max_receives to its
// dead-letter channel: one call with everything the letter keeps, through
// an interface, so the channel never touches the other channel's state or
// lock itself.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/clock.hpp"

#include <cstdint>
#include <string>

namespace courier {
inline namespace v1 {
namespace detail {

template <class T>
struct dead_letter {
  T body;
  std::string group;  // the original group and sequence, so the order stays visible
  std::uint64_t group_hash = 0;
  std::uint64_t sequence = 0;
  std::shared_ptr<const trace_context> trace = {};  // the message's, kept
  // Durable channels: the body as stored, and the message of journal `from`
  // it replaces (moved in one write, see channel_journal::record_dead_lettered).
  std::string encoded = {};
  channel_journal* from = nullptr;
  std::uint64_t of = 0;
};

template <class T>
class dead_letter_sink {
 public:
  // Called under the sending channel's lock (lock order: a channel, then
  // its dead letters); the letter is queued when it returns.
  virtual void take(dead_letter<T> letter, clock::time_point now) = 0;

 protected:
  ~dead_letter_sink() = default;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
