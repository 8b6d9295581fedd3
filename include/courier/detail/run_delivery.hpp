// Handing a run of posted events of one type to its observer in one call.
//
// Signals2's per-invocation cost (the signal's mutex, a shared_ptr copy, a
// lock per slot: ~35 ns for one observer) is most of what a posted event
// costs the worker. When the queue holds consecutive events of one type and
// that type has exactly one observer, the bus hands the observer the whole
// run in one Signals2 call and its wrapper loops over it, so that cost is
// paid once per run.
//
// Batching must not change what observers see. With one observer there is no
// order between observers to keep, so the wrapper only has to stop as soon as
// per-event delivery would differ: when the observer is disconnected or
// blocked, or any other observer of the type (or a catch-all observer)
// appears. It checks before each event after the first; the first observer
// that runs fixes how far the run went (end()), any other observer already in
// Signals2's snapshot handles exactly that prefix, and the bus publishes the
// rest one event at a time. Exceptions in a run go to an error sink per
// event, as they would from one publish per event.
//
// A publish() passes a null run: one branch in each observer's wrapper. (An
// earlier shape passed a batch object by reference instead of the event, and
// the extra dependent loads cost ~1.5 ns per observer.)
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace detail {

// Where exceptions thrown by observers on the async path go.
class batch_error_sink {
 public:
  virtual void report(std::string_view event_type, std::exception_ptr exception) noexcept = 0;

 protected:
  ~batch_error_sink() = default;
};

// count events of one type somewhere in memory (the queue's batch array),
// reached through at(items, index).
template <class Event>
struct event_run {
  using accessor = const Event& (*)(const void* items, std::size_t index) noexcept;

  const void* items;
  std::size_t count;
  accessor at;

  const Event& operator[](std::size_t index) const noexcept { return at(items, index); }
};

// One run handed to the observers of its type through the type's signal,
// whose second argument is a pointer to it (null for a publish()).
template <class Event>
class run_delivery {
 public:
  // Events [begin, run.count) of run. Exceptions go to errors, reported under
  // type_name. other_observers counts observers that would see these events
  // besides the typed ones (the catch-all observers): any of them ends the run.
  run_delivery(const event_run<Event>& run, std::size_t begin, batch_error_sink& errors,
               std::string_view type_name, const std::atomic<std::size_t>& other_observers) noexcept
      : run_(run),
        begin_(begin),
        end_(begin),
        errors_(errors),
        type_name_(type_name),
        other_observers_(other_observers) {}

  run_delivery(const run_delivery&) = delete;
  run_delivery& operator=(const run_delivery&) = delete;

  // One past the last event an observer handled; begin when none ran.
  std::size_t end() const noexcept { return end_; }

  // Calls call(event) for the events of the run this observer may see,
  // reporting each exception to the error sink. still_alone() says whether
  // the observer is connected, unblocked and the only typed observer of the
  // type; see the header comment. Called on the thread running the signal.
  template <class Call, class StillAlone>
  void deliver(Call& call, StillAlone&& still_alone) {
    if (first_observer_done_) {
      for (std::size_t index = begin_; index < end_; ++index) deliver_one(call, index);
      return;
    }
    std::size_t index = begin_;
    do {
      deliver_one(call, index++);
    } while (index < run_.count && still_alone() && other_observers_.load(std::memory_order_acquire) == 0);
    end_ = index;
    first_observer_done_ = true;
  }

 private:
  template <class Call>
  void deliver_one(Call& call, std::size_t index) {
    try {
      call(run_[index]);
    } catch (...) {
      errors_.report(type_name_, std::current_exception());
    }
  }

  const event_run<Event>& run_;
  const std::size_t begin_;
  std::size_t end_;
  bool first_observer_done_ = false;
  batch_error_sink& errors_;
  const std::string_view type_name_;
  const std::atomic<std::size_t>& other_observers_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
