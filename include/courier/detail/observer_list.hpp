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
// outside any publish): unlinking sets a bit in the observer's `blocks`
// word, which every publish reads before each call (so one later in the same
// publish is skipped too: one load and one compare per observer, the same
// one that honours blocks), makes a snapshot without it current, and then
// waits until each other snapshot has had no reader at some moment: after
// that, nobody can be inside a call of it. A linked observer is kept alive by
// its subscription; an unlinked one that a publish may still be reading, by
// the list (retired_), until no snapshot that held it can be read.
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
#include <optional>
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
// holds this very object), and the call, reached through `invoke` (set by
// listed_call below; owner tracking lives in the invoker, off the loop).
template <bool ThreadSafe, class... Args>
class listed_observer : public subscription_state {
 public:
  using list_type = observer_list<ThreadSafe, Args...>;
  using invoker = void (*)(listed_observer&, Args...);

  // Set in `blocks` once the observer is unlinked (or its owner found gone):
  // a publish calls an observer only while `blocks` reads zero.
  static constexpr int unlinked_bit = 1 << 30;

  listed_observer(std::shared_ptr<std::atomic<std::size_t>> observer_count, list_type& list, int priority,
                  const std::weak_ptr<const void>& owner, invoker invoke, bool invoke_tracks_owner)
      : subscription_state(std::move(observer_count), ThreadSafe),
        invoke(invoke),
        invoke_tracks_owner(invoke_tracks_owner),
        priority(priority),
        owner(owner),
        list_(&list) {}

  void unlink(const std::shared_ptr<subscription_state>& self) noexcept override {
    list_->unlink(*this, self);
  }
  void wait_until_unused() noexcept override {
    if (!released_by_list.load(std::memory_order_acquire)) list_->wait_until_unused();
  }
  bool linked() const noexcept override {
    return (blocks.load(std::memory_order_acquire) & unlinked_bit) == 0 &&
           !(invoke_tracks_owner && owner.expired());
  }
  void mark_unlinked() noexcept { blocks.fetch_or(unlinked_bit, std::memory_order_seq_cst); }

  const invoker invoke;
  const bool invoke_tracks_owner;
  const int priority;
  const std::weak_ptr<const void> owner;
  // Set once the list has let go of it after unlinking: no call runs, none will.
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
  listed_call(std::shared_ptr<std::atomic<std::size_t>> observer_count,
              observer_list<ThreadSafe, Args...>& list, int priority, const std::weak_ptr<const void>& owner,
              bool tracks_owner, Made&& call)
      : base(std::move(observer_count), list, priority, owner,
             tracks_owner ? &listed_call::call_while_owner_lives : &listed_call::call_it, tracks_owner),
        call_(std::in_place, std::forward<Made>(call)) {}

  void drop_handler() noexcept override { call_.reset(); }

 private:
  static void call_it(base& self, Args... args) {
    // Present while a publish can reach it: dropped only once released.
    (*static_cast<listed_call&>(self).call_)(static_cast<const subscription_state&>(self), args...);
  }
  // The owner is kept alive for the call; found gone, the observer is no
  // longer called (and reads as not connected), as with Signals2.
  static void call_while_owner_lives(base& self, Args... args) {
    const auto alive = self.owner.lock();
    if (!alive) {
      self.mark_unlinked();
      return;
    }
    call_it(self, args...);
  }
  std::optional<Call> call_;
};

template <bool ThreadSafe, class... Args>
class observer_list {
 public:
  using observer = listed_observer<ThreadSafe, Args...>;

  observer_list() { current_.store(spare_snapshot(), std::memory_order_relaxed); }
  observer_list(const observer_list&) = delete;
  observer_list& operator=(const observer_list&) = delete;
  // Every publish has returned (the bus entry outlives them).
  ~observer_list() {
    for (snapshot* each = newest_made_.load(std::memory_order_acquire); each != nullptr;) {
      delete std::exchange(each, each->made_before);
    }
  }

  // Links a new observer calling call(self, args...), counts it in
  // observer_count, and returns its state, which is also its subscription's.
  // Throws std::bad_alloc. The count changes only under mutex_ (here and in
  // unlink), so a plain load and store do: publishes only read it.
  template <class Call>
  std::shared_ptr<subscription_state> connect(std::shared_ptr<std::atomic<std::size_t>> observer_count,
                                              int priority, const std::weak_ptr<const void>& owner,
                                              bool tracks_owner, Call&& call) {
    auto made = std::make_shared<listed_call<std::decay_t<Call>, ThreadSafe, Args...>>(
        std::move(observer_count), *this, priority, owner, tracks_owner, std::forward<Call>(call));
    std::lock_guard lock(mutex_);
    // Every allocation first, so that a bad_alloc leaves the list as it was;
    // retired_ gets room for every observer there is, so retire() never
    // allocates.
    members_.reserve(members_.size() + 1);
    retired_.reserve(members_.size() + 1 + retired_.size());
    snapshot* fresh = spare_snapshot();
    fresh->observers.reserve(members_.size() + 1);
    // After every observer of the same or a lower priority.
    const auto place =
        std::upper_bound(members_.begin(), members_.end(), priority,
                         [](int value, const observer* each) { return value < each->priority; });
    members_.insert(place, made.get());
    publish_members(fresh);
    add_to(*made->observer_count, 1);
    return made;
  }

  // Calls every listed, unblocked observer of the current snapshot, in order.
  // An observer's exception propagates (the rest are not called).
  void operator()(Args... args) {
    const reading held(*this);
    for (observer* each : held.observers()) {
      if (each->blocks.load(std::memory_order_acquire) == 0) each->invoke(*each, args...);
    }
  }

  // Unlinks every observer (the bus is going away). Does not wait. Like
  // unlink, allocates only when every spare snapshot is being read (a
  // bad_alloc then ends the process, as it would in Signals2's disconnect).
  void disconnect_all_slots() noexcept {
    std::lock_guard lock(mutex_);
    for (observer* each : members_) each->mark_unlinked();
    std::vector<observer*> gone;
    gone.swap(members_);
    publish_members(spare_snapshot());
    // Their subscriptions keep them; each one's disconnect() waits as usual
    // (released_by_list stays false unless nothing is being read now).
    if (all_others_unread()) {
      for (observer* each : gone) each->released_by_list.store(true, std::memory_order_release);
    }
  }

  // subscription_state::unlink of one of ours. Allocates only as
  // disconnect_all_slots does.
  // self is the subscription's reference to which, kept if a publish may
  // still be reading it.
  void unlink(observer& which, const std::shared_ptr<subscription_state>& self) noexcept {
    std::lock_guard lock(mutex_);
    which.mark_unlinked();
    add_to(*which.observer_count, -1);
    const auto found = std::find(members_.begin(), members_.end(), &which);
    if (found == members_.end()) return;  // gone with disconnect_all_slots
    members_.erase(found);
    publish_members(spare_snapshot());
    retire(which, self);
  }

  // subscription_state::wait_until_unused: returns once every snapshot but
  // the current one (which holds no unlinked observer) has been seen unread.
  // Walks the snapshots without the lock (their chain only grows, at its
  // head); a snapshot made current after the unlink is waited for too, which
  // costs a moment at most.
  void wait_until_unused() noexcept {
    if constexpr (ThreadSafe) {
      const snapshot* now = current_.load(std::memory_order_seq_cst);
      for (snapshot* each = newest_made_.load(std::memory_order_acquire); each != nullptr;
           each = each->made_before) {
        if (each == now) continue;
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
    snapshot* made_before = nullptr;  // the chain of every snapshot made, newest first
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

  // Under mutex_, the only place the count changes.
  static void add_to(std::atomic<std::size_t>& count, int change) noexcept {
    count.store(count.load(std::memory_order_relaxed) + static_cast<std::size_t>(change),
                std::memory_order_release);
  }

  // Fills fresh (a spare snapshot) with members_ and makes it current.
  // Under mutex_.
  void publish_members(snapshot* fresh) {
    fresh->observers.assign(members_.begin(), members_.end());
    current_.store(fresh, std::memory_order_seq_cst);
    if (!retired_.empty()) release_unread();
  }

  // which was just unlinked and is in no current snapshot. If no other
  // snapshot is being read, no call of it can run: it is released now (the
  // common case, no reference taken); otherwise the list keeps it alive
  // until release_unread finds every such snapshot unread. Under mutex_.
  void retire(observer& which, const std::shared_ptr<subscription_state>& self) noexcept {
    if (all_others_unread()) {
      which.released_by_list.store(true, std::memory_order_release);
      return;
    }
    retired_.push_back(std::static_pointer_cast<observer>(self));  // room reserved by connect
  }

  bool all_others_unread() const noexcept {
    const snapshot* now = current_.load(std::memory_order_relaxed);
    for (const snapshot* each = newest_made_.load(std::memory_order_relaxed); each != nullptr;
         each = each->made_before) {
      if (each != now && each->readers.load(std::memory_order_seq_cst) != 0) return false;
    }
    return true;
  }

  // Drops the unlinked observers once no snapshot but the current one is
  // being read (none of them can be in a call any more). Under mutex_.
  void release_unread() noexcept {
    if (!all_others_unread()) return;
    for (const auto& each : retired_) each->released_by_list.store(true, std::memory_order_release);
    retired_.clear();
  }

  // A snapshot nobody reads and that is not current, made if there is none.
  // Under mutex_ (or in the constructor).
  snapshot* spare_snapshot() {
    const snapshot* now = current_.load(std::memory_order_relaxed);
    snapshot* newest = newest_made_.load(std::memory_order_relaxed);
    for (snapshot* each = newest; each != nullptr; each = each->made_before) {
      if (each != now && each->readers.load(std::memory_order_seq_cst) == 0) return each;
    }
    auto* made = new snapshot;
    made->made_before = newest;
    newest_made_.store(made, std::memory_order_release);  // wait_until_unused walks it without the lock
    return made;
  }

  using mutex_type = std::conditional_t<ThreadSafe, std::mutex, boost::signals2::dummy_mutex>;
  mutex_type mutex_;
  std::atomic<snapshot*> current_{nullptr};
  std::atomic<snapshot*> newest_made_{nullptr};     // never shrinks: see the header comment
  std::vector<observer*> members_;                  // in call order; their subscriptions keep them
  std::vector<std::shared_ptr<observer>> retired_;  // unlinked, perhaps still in a snapshot being read
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
