// courier's own observer list: what a snapshot bus (bus_options.hpp) uses in
// place of a Boost.Signals2 signal, with the same rules and a fraction of
// the cost per publish.
//
// The observers are kept in order (ascending priority, then subscription
// order) in the list's `members_`, changed under a mutex. A publish reads an
// immutable snapshot of them: an array of raw pointers. Subscribing or
// unsubscribing builds a new snapshot and makes it current; a publish that
// started earlier goes on with the one it has, so an observer subscribed
// inside a publish is first called by the next one.
//
// Taking a snapshot, thread-safe form, without a lock: load `current_`,
// count ourselves in that snapshot's `readers`, and load `current_` again.
// If it still points to the same snapshot we may read it; otherwise we
// uncount and retry. Snapshots are never freed while the list lives (a
// writer reuses one whose readers count is zero, and rebuilds it), so the
// count we bump always lands on live memory. The sequentially consistent
// order of those four operations is what makes a count seen as zero by a
// writer mean "nobody reads this array, and whoever comes next sees the new
// one". Two locked increments per publish, none per observer.
//
// The disconnect rule (an observer never runs once disconnect() returns,
// outside any publish): unlinking clears the observer's `listed` flag, which
// every publish reads before each call (so one later in the same publish is
// skipped too), makes a snapshot without it current, and then waits until
// each other snapshot has had no reader at some moment: after that, nobody
// can be inside a call of it. Observers are kept alive (members_/retired_)
// until no snapshot that held them can be read.
//
// Single-threaded form: the same structure, no retry, no waiting (one thread
// cannot be inside a call while it disconnects, except reentrantly, and then
// Signals2's rule is the same: no wait).
#pragma once

#include "courier/subscription.hpp"

#include <boost/signals2/dummy_mutex.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace detail {

template <bool ThreadSafe, class... Args>
class observer_list;

// One observer in an observer_list: its subscription's state (a subscription
// holds this very object), what a publish reads before calling it, and the
// call itself, reached through `invoke` (set by listed_call below).
template <bool ThreadSafe, class... Args>
class listed_observer : public subscription_state {
 public:
  using list_type = observer_list<ThreadSafe, Args...>;
  using invoker = void (*)(listed_observer&, Args...);

  listed_observer(std::shared_ptr<std::atomic<std::size_t>> observer_count, list_type& list, int priority,
                  const std::weak_ptr<const void>& owner, bool tracks_owner, invoker invoke)
      : subscription_state(std::move(observer_count), ThreadSafe),
        invoke(invoke),
        tracks_owner(tracks_owner),
        priority(priority),
        owner(owner),
        list_(&list) {}

  void unlink() noexcept override { list_->unlink(*this); }
  void wait_until_unused() noexcept override {
    if (!released_by_list.load(std::memory_order_acquire)) list_->wait_until_unused();
  }
  bool linked() const noexcept override {
    return listed.load(std::memory_order_acquire) && !(tracks_owner && owner.expired());
  }

  // Read by every publish, before each call: kept together at the front.
  std::atomic<bool> listed{true};
  const invoker invoke;
  const bool tracks_owner;
  const int priority;
  const std::weak_ptr<const void> owner;
  // Set when the list let go of it after unlinking: no call runs, none will.
  std::atomic<bool> released_by_list{false};

 private:
  // The list lives in the bus's per-type entry, which observer_count keeps
  // alive for as long as this state lives.
  list_type* list_;
};

// A listed_observer and its call; Call is invoked as call(self, args...).
template <class Call, bool ThreadSafe, class... Args>
class listed_call final : public listed_observer<ThreadSafe, Args...> {
  using base = listed_observer<ThreadSafe, Args...>;

 public:
  template <class Made>
  listed_call(std::shared_ptr<std::atomic<std::size_t>> observer_count, observer_list<ThreadSafe, Args...>& list,
              int priority, const std::weak_ptr<const void>& owner, bool tracks_owner, Made&& call)
      : base(std::move(observer_count), list, priority, owner, tracks_owner, &listed_call::call_it),
        call_(std::forward<Made>(call)) {}

 private:
  static void call_it(base& self, Args... args) {
    static_cast<listed_call&>(self).call_(static_cast<const subscription_state&>(self), args...);
  }
  Call call_;
};

template <bool ThreadSafe, class... Args>
class observer_list {
 public:
  using observer = listed_observer<ThreadSafe, Args...>;

  observer_list() { current_.store(spare_snapshot(), std::memory_order_relaxed); }
  observer_list(const observer_list&) = delete;
  observer_list& operator=(const observer_list&) = delete;
  ~observer_list() = default;  // every publish has returned (the bus entry outlives them)

  // Links a new observer calling call(self, args...) and returns its state,
  // which is also its subscription's. Throws std::bad_alloc.
  template <class Call>
  std::shared_ptr<subscription_state> connect(std::shared_ptr<std::atomic<std::size_t>> observer_count,
                                              int priority, const std::weak_ptr<const void>& owner,
                                              bool tracks_owner, Call&& call) {
    auto made = std::make_shared<listed_call<std::decay_t<Call>, ThreadSafe, Args...>>(
        std::move(observer_count), *this, priority, owner, tracks_owner, std::forward<Call>(call));
    std::lock_guard lock(mutex_);
    // After every observer of the same or a lower priority.
    const auto place = std::upper_bound(members_.begin(), members_.end(), priority,
                                        [](int value, const auto& each) { return value < each->priority; });
    members_.insert(place, made);
    publish_members();
    return made;
  }

  // Calls every listed, unblocked observer of the current snapshot, in order.
  // An observer's exception propagates (the rest are not called).
  void operator()(Args... args) {
    const reading held(*this);
    for (observer* each : held.observers()) {
      if (!each->listed.load(std::memory_order_acquire) || each->blocks.load(std::memory_order_relaxed) != 0)
        continue;
      if (each->tracks_owner) [[unlikely]] {
        call_tracked(*each, args...);
      } else {
        each->invoke(*each, args...);
      }
    }
  }

  // Unlinks every observer (the bus is going away). Does not wait.
  void disconnect_all_slots() noexcept {
    std::lock_guard lock(mutex_);
    for (auto& each : members_) each->listed.store(false, std::memory_order_release);
    retire_all_members();
  }

  // subscription_state::unlink of one of ours.
  void unlink(observer& which) noexcept {
    std::lock_guard lock(mutex_);
    which.listed.store(false, std::memory_order_seq_cst);
    const auto found = std::find_if(members_.begin(), members_.end(),
                                    [&which](const auto& each) { return each.get() == &which; });
    if (found == members_.end()) return;  // gone with disconnect_all_slots
    keep_until_unread(std::move(*found));
    members_.erase(found);
    publish_members();
  }

  // subscription_state::wait_until_unused: returns once every snapshot but
  // the current one (which holds no unlinked observer) has been seen unread.
  void wait_until_unused() noexcept {
    if constexpr (ThreadSafe) {
      std::vector<snapshot*> others;
      {
        std::lock_guard lock(mutex_);
        const snapshot* now = current_.load(std::memory_order_relaxed);
        for (const auto& each : snapshots_) {
          if (each.get() != now) others.push_back(each.get());
        }
      }
      for (snapshot* each : others) {
        for (int spins = 0; each->readers.load(std::memory_order_seq_cst) != 0; ++spins) {
          if (spins > 64) std::this_thread::yield();  // a call is running: it is the caller's to wait for
        }
      }
      std::lock_guard lock(mutex_);
      release_unread();
    }
  }

 private:
  struct snapshot {
    std::atomic<int> readers{0};
    std::vector<observer*> observers;
  };

  // Counts this publish in the current snapshot for as long as it lives.
  class reading {
   public:
    explicit reading(observer_list& list) noexcept {
      if constexpr (ThreadSafe) {
        snapshot* seen = list.current_.load(std::memory_order_seq_cst);
        for (;;) {
          seen->readers.fetch_add(1, std::memory_order_seq_cst);
          snapshot* again = list.current_.load(std::memory_order_seq_cst);
          if (again == seen) break;
          seen->readers.fetch_sub(1, std::memory_order_release);
          seen = again;
        }
        snapshot_ = seen;
      } else {
        snapshot_ = list.current_.load(std::memory_order_relaxed);
        snapshot_->readers.store(snapshot_->readers.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);
      }
    }
    ~reading() {
      if constexpr (ThreadSafe) {
        snapshot_->readers.fetch_sub(1, std::memory_order_release);
      } else {
        snapshot_->readers.store(snapshot_->readers.load(std::memory_order_relaxed) - 1,
                                 std::memory_order_relaxed);
      }
    }
    reading(const reading&) = delete;
    reading& operator=(const reading&) = delete;
    const std::vector<observer*>& observers() const noexcept { return snapshot_->observers; }

   private:
    snapshot* snapshot_;
  };

  // A tracked owner is kept alive for the call; found gone, the observer is
  // no longer called (and reads as not connected), as with Signals2.
  static void call_tracked(observer& which, Args... args) {
    const auto alive = which.owner.lock();
    if (!alive) {
      which.listed.store(false, std::memory_order_release);
      return;
    }
    which.invoke(which, args...);
  }

  // Makes a snapshot of members_ current. Under mutex_.
  void publish_members() {
    snapshot* fresh = spare_snapshot();
    fresh->observers.clear();
    for (const auto& each : members_) fresh->observers.push_back(each.get());
    current_.store(fresh, std::memory_order_seq_cst);
    if (!retired_.empty()) release_unread();
  }

  void retire_all_members() {
    for (auto& each : members_) keep_until_unread(std::move(each));
    members_.clear();
    publish_members();
  }

  void keep_until_unread(std::shared_ptr<observer> which) { retired_.push_back(std::move(which)); }

  // Drops the unlinked observers once no snapshot but the current one is
  // being read (none of them can be in a call any more). Under mutex_.
  void release_unread() noexcept {
    const snapshot* now = current_.load(std::memory_order_relaxed);
    for (const auto& each : snapshots_) {
      if (each.get() != now && each->readers.load(std::memory_order_seq_cst) != 0) return;
    }
    for (const auto& each : retired_) each->released_by_list.store(true, std::memory_order_release);
    retired_.clear();
  }

  // A snapshot nobody reads and that is not current, made if there is none.
  // Under mutex_ (or in the constructor).
  snapshot* spare_snapshot() {
    const snapshot* now = current_.load(std::memory_order_relaxed);
    for (const auto& each : snapshots_) {
      if (each.get() != now && each->readers.load(std::memory_order_seq_cst) == 0) return each.get();
    }
    return snapshots_.emplace_back(std::make_unique<snapshot>()).get();
  }

  using mutex_type = std::conditional_t<ThreadSafe, std::mutex, boost::signals2::dummy_mutex>;
  mutex_type mutex_;
  std::atomic<snapshot*> current_{nullptr};
  std::vector<std::unique_ptr<snapshot>> snapshots_;  // never shrinks: see the header comment
  std::vector<std::shared_ptr<observer>> members_;    // in call order
  std::vector<std::shared_ptr<observer>> retired_;    // unlinked, perhaps still in a snapshot being read
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
