// Marks the calling thread as "inside a publish" for as long as a scope lives.
//
// subscription::disconnect() waits until calls of its observer that are
// running on other threads have returned. It must not wait when it runs inside
// an observer itself: the observer may be its own caller, or another thread
// may be waiting on this one. The depth counter tells the two cases apart
// for the cost of one thread-local increment per publish.
#pragma once

namespace courier {
inline namespace v1 {
namespace detail {

inline int& publish_depth() noexcept {
  thread_local int depth = 0;
  return depth;
}

class publish_scope {
 public:
  publish_scope() noexcept { ++publish_depth(); }
  ~publish_scope() { --publish_depth(); }
  publish_scope(const publish_scope&) = delete;
  publish_scope& operator=(const publish_scope&) = delete;
};

inline bool inside_publish() noexcept { return publish_depth() != 0; }

}  // namespace detail
}  // namespace v1
}  // namespace courier
