// A ws::client's publishes waiting for their receipts.
//
// Each publish gets a number and is sent with ref "p<number>"; the server's
// receipt or error names that ref. Until answered, a publish is sent again
// on every new connection with its key (a duplicate at worst), so nothing
// is lost to a reconnect. At most `limit` wait at once: past it a publish
// is refused with channel_full rather than growing memory without bound.
// On the client's thread only.
#pragma once

#include "courier/error.hpp"
#include "courier/ws/frames.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <future>
#include <map>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class pending_publishes {
 public:
  explicit pending_publishes(std::size_t limit) : limit_(limit) {}

  bool full() const noexcept { return waiting_.size() >= limit_; }
  std::size_t limit() const noexcept { return limit_; }

  // Numbers frame (its ref) and keeps it until answered; returns the frame
  // as sent.
  const publish_frame& add(publish_frame frame, std::promise<receipt_frame> promise) {
    const std::uint64_t number = next_++;
    frame.ref = fmt::format("p{}", number);
    return waiting_.emplace(number, entry{std::move(frame), std::move(promise)}).first->second.frame;
  }

  // Every publish still waiting, in the order they were made.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const auto& [number, waiting] : waiting_) visit(waiting.frame);
  }

  // The server's receipt for ref; nothing when ref was answered before (a resent publish).
  void answer(const std::string& ref, const receipt_frame& receipt) {
    const auto found = find(ref);
    if (found == waiting_.end()) return;
    found->second.promise.set_value(receipt);
    waiting_.erase(found);
  }

  // The server refused ref's publish with code: its future throws.
  void refuse(const std::string& ref, const std::string& code, const std::string& message) {
    const auto found = find(ref);
    if (found == waiting_.end()) return;
    found->second.promise.set_exception(std::make_exception_ptr(
        error(errc::malformed_message,
              fmt::format("publish to {}: {}: {}", found->second.frame.topic, code, message))));
    waiting_.erase(found);
  }

  // No answer will come (closed, replaced, unauthorized): every future throws.
  void fail_all(const std::string& why) {
    for (auto& [number, waiting] : waiting_) {
      waiting.promise.set_exception(
          std::make_exception_ptr(error(errc::channel_closed, "ws::client publish: " + why)));
    }
    waiting_.clear();
  }

 private:
  struct entry {
    publish_frame frame;
    std::promise<receipt_frame> promise;
  };

  std::map<std::uint64_t, entry>::iterator find(const std::string& ref) {
    if (ref.size() < 2 || ref[0] != 'p') return waiting_.end();
    try {
      return waiting_.find(std::stoull(ref.substr(1)));
    } catch (const std::exception&) {
      return waiting_.end();
    }
  }

  std::size_t limit_;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, entry> waiting_;  // by number: sent again in order
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
