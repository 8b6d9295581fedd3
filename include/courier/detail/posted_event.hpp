// One posted event waiting in the bus's queue, its type erased.
//
// Events up to inline_size bytes that move without throwing are stored inline,
// so the common post() allocates nothing beyond the queue's own blocks; larger
// ones go to the heap. A default-constructed posted_event is a wake-up marker.
#pragma once

#include "courier/detail/run_delivery.hpp"
#include "courier/event_name.hpp"

#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

namespace courier {
inline namespace v1 {
namespace detail {

template <class Target>
class posted_event {
 public:
  static constexpr std::size_t inline_size = 48;

  posted_event() noexcept = default;

  // Stores an Event made from event (copied or moved).
  template <class Event, class Source>
  posted_event(std::in_place_type_t<Event>, Source&& event, std::uint8_t epoch)
      : ops_(&ops_for<Event>), epoch_(epoch) {
    if constexpr (fits_inline<Event>) {
      ::new (static_cast<void*>(storage_)) Event(std::forward<Source>(event));
    } else {
      ::new (static_cast<void*>(storage_)) Event*(new Event(std::forward<Source>(event)));
    }
  }

  posted_event(posted_event&& other) noexcept : ops_(other.ops_), epoch_(other.epoch_) {
    if (ops_ != nullptr) ops_->relocate(storage_, other.storage_);
    other.ops_ = nullptr;
  }

  posted_event& operator=(posted_event&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = other.ops_;
      epoch_ = other.epoch_;
      if (ops_ != nullptr) ops_->relocate(storage_, other.storage_);
      other.ops_ = nullptr;
    }
    return *this;
  }

  posted_event(const posted_event&) = delete;
  posted_event& operator=(const posted_event&) = delete;
  ~posted_event() { reset(); }

  bool is_marker() const noexcept { return ops_ == nullptr; }
  bool same_type(const posted_event& other) const noexcept { return ops_ == other.ops_; }
  std::uint8_t epoch() const noexcept { return epoch_; }
  std::string_view type_name() const { return ops_ ? ops_->name() : std::string_view{}; }

  // Hands this event and the count - 1 after it, all of this one's type, to
  // target.deliver_run(event_run<Event>, errors); observers' exceptions go to
  // errors.
  void deliver_run(Target& target, std::size_t count, batch_error_sink& errors) {
    ops_->deliver_run(target, this, count, errors);
  }

  void reset() noexcept {
    if (ops_ != nullptr) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  template <class Event>
  static constexpr bool fits_inline =
      sizeof(Event) <= inline_size &&
      alignof(Event) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<Event>;

  struct operations {
    void (*deliver_run)(Target&, const posted_event* first, std::size_t count, batch_error_sink&);
    void (*relocate)(void* to, void* from) noexcept;
    void (*destroy)(void*) noexcept;
    std::string_view (*name)();
  };

  template <class Event>
  static Event& stored_event(void* storage) noexcept {
    if constexpr (fits_inline<Event>) {
      return *std::launder(static_cast<Event*>(storage));
    } else {
      return **std::launder(static_cast<Event**>(storage));
    }
  }

  // The event_run accessor over an array of posted_event holding Events.
  template <class Event>
  static const Event& event_at(const void* items, std::size_t index) noexcept {
    auto& item = const_cast<posted_event&>(static_cast<const posted_event*>(items)[index]);
    return stored_event<Event>(item.storage_);
  }

  template <class Event>
  static constexpr operations ops_for = {
      [](Target& target, const posted_event* first, std::size_t count, batch_error_sink& errors) {
        target.deliver_run(event_run<Event>{first, count, &event_at<Event>}, errors);
      },
      [](void* to, void* from) noexcept {
        if constexpr (fits_inline<Event>) {
          Event& source = stored_event<Event>(from);
          ::new (to) Event(std::move(source));
          source.~Event();
        } else {
          ::new (to) Event*(*std::launder(static_cast<Event**>(from)));
        }
      },
      [](void* storage) noexcept {
        if constexpr (fits_inline<Event>) {
          stored_event<Event>(storage).~Event();
        } else {
          delete &stored_event<Event>(storage);
        }
      },
      [] { return event_name<Event>(); },
  };

  alignas(std::max_align_t) unsigned char storage_[inline_size];
  const operations* ops_ = nullptr;
  std::uint8_t epoch_ = 0;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
