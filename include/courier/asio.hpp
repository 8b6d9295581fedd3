// courier/asio.hpp: the Asio forms of courier's waits. Include it to use
// channel<T>::async_receive, channel<T>::async_send and
// delivery_receipt::async_wait with any completion token: a callback,
// use_awaitable (C++20 coroutines), use_future, deferred; and courier::on(ex)
// to run a bus observer on an Asio executor.
//
// Design. An operation never blocks a thread and never holds a message it
// might not hand over:
// - An attempt takes the channel's lock once and either finishes or parks
//   in the channel. A receive on an acked channel makes its first attempt
//   at once, on the calling thread; every other attempt is posted to the
//   completion handler's associated executor. The progress that wakes a blocked receive() wakes a parked
//   operation, which posts its next attempt. A parked receive with
//   something due later (a visibility timeout, a delay) sets a timer for it.
// - A receive hands its messages over in the step that completes it, on
//   its executor: a cancellation (Asio per-operation cancellation, any
//   type) that comes before that step finds them not handed over and puts
//   them back (channel_engine::release: visible at once, receive count as
//   before), or finds nothing taken yet; one that comes after finds the
//   operation finished. This is what asio's own concurrent_channel does
//   not do (chriskohlhoff/asio#1041: a receive cancelled inside operator||
//   loses its message).
// - Closing or destroying the channel completes every pending operation
//   with channel_closed; each holds an anchor (channel_anchor) to learn the
//   channel is gone without touching it.
// - Errors are boost::system::error_codes, as Asio's are; courier's own
//   (channel_closed, missing_group, storage_failed) keep courier's category,
//   so `ec == courier::make_error_code(courier::errc::channel_closed)`, and
//   use_awaitable throws boost::system::system_error carrying that code.
//
// Kept out of channel.hpp so that code which does not use Asio does not
// compile it.
#pragma once

#include "courier/channel.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/error.hpp"
#include "courier/observer_executor.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {

// An observer_executor that posts to an Asio executor (an io_context's, a
// strand, a thread_pool's): subscribe<E>(handler, {.executor =
// courier::on(io.get_executor())}) runs the observer on that io_context.
// The posted work keeps the io_context's run() going while it waits.
template <class Executor>
observer_executor on(Executor executor) {
  return observer_executor(
      [executor](observer_executor::job work) { boost::asio::post(executor, std::move(work)); });
}

// A courier error code as Asio reports errors. Thread-safe.
inline boost::system::error_code asio_error(errc code) noexcept {
  return boost::system::error_code(make_error_code(code));
}

namespace detail {

// What every asynchronous operation here holds: its handler, a work guard
// on the handler's executor (so run() does not return while it waits), and
// its cancellation slot. complete() runs on that executor. Args: the
// handler's arguments (an error first).
template <class Handler, class... Args>
class asio_completion {
 public:
  using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::system_executor>;

  explicit asio_completion(Handler&& handler)
      : handler_(std::move(handler)),
        work_(boost::asio::get_associated_executor(handler_, boost::asio::system_executor())) {}

  executor_type executor() const { return work_.get_executor(); }

  // Installs on_cancel as the handler's cancellation handler, if the
  // handler's token has a slot.
  template <class OnCancel>
  void on_cancel(OnCancel&& cancel) {
    slot_ = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot_.is_connected()) slot_.assign(std::forward<OnCancel>(cancel));
  }

  // Calls the handler. Only once, on its executor.
  void complete(Args... args) {
    if (slot_.is_connected()) slot_.clear();
    auto work = std::move(work_);
    std::move(handler_)(std::move(args)...);
  }

 private:
  Handler handler_;
  boost::asio::executor_work_guard<executor_type> work_;
  boost::asio::cancellation_slot slot_;
};

// Operations are allocated through Asio's per-thread recycling allocator,
// as Asio's own are: a receive per message would otherwise be a malloc and
// a free per message.
inline constexpr boost::asio::recycling_allocator<void> recycled{};

// Which cancellations an operation here honours: all of them, since a
// cancelled operation has done nothing.
inline bool asks_to_cancel(boost::asio::cancellation_type type) {
  using boost::asio::cancellation_type;
  return (type & (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total)) !=
         cancellation_type::none;
}

template <class T, class Handler>
class async_receive_op final : public parked_operation,
                               public std::enable_shared_from_this<async_receive_op<T, Handler>> {
 public:
  async_receive_op(channel<T>& origin, std::shared_ptr<channel_anchor> anchor, std::size_t max,
                   Handler&& handler)
      : channel_(origin), anchor_(std::move(anchor)), max_(max), completion_(std::move(handler)) {}

  void start() {
    // The slot holds a plain pointer: the operation lives until it
    // completes (whoever owns its next step holds it), and completing
    // clears the slot.
    completion_.on_cancel([this](boost::asio::cancellation_type type) {
      if (asks_to_cancel(type)) cancel();
    });
    // On an acked channel the first look happens here, on the caller's
    // thread, and whatever it takes is checked against a cancellation when
    // the completion runs (and put back if one came): one post fewer per
    // receive. Without acks a taken message is settled and cannot go back,
    // so that channel's receives look on the executor only.
    if (channel_.options().acknowledge) {
      first_look();
    } else {
      schedule();
    }
  }

  void wake() noexcept override { schedule(); }

 private:
  void schedule() {
    boost::asio::post(completion_.executor(), [self = this->shared_from_this()] { self->attempt(); });
  }

  void first_look() {
    if (!anchor_->enter()) {
      post_finish(asio_error(errc::channel_closed), {});
      return;
    }
    auto found = channel_.take_or_park(max_, this->shared_from_this());
    // Parked, but a cancellation may have come while it was not (see attempt).
    const bool cancelled_while_looking = found.taken.empty() && !found.closed &&
                                         cancelled_.load(std::memory_order_acquire) &&
                                         channel_.unpark_receiver(this);
    anchor_->leave();
    if (found.closed) {
      post_finish(asio_error(errc::channel_closed), {});
    } else if (cancelled_while_looking) {
      post_finish(boost::asio::error::operation_aborted, {});
    } else if (!found.taken.empty()) {
      boost::asio::post(completion_.executor(),
                        [self = this->shared_from_this(), taken = std::move(found.taken)]() mutable {
                          self->hand_over(std::move(taken));
                        });
    } else if (found.retry_at) {
      arm_timer(*found.retry_at);
    }
  }

  // Completes with messages taken earlier, unless a cancellation came
  // meanwhile: then they go back first.
  void hand_over(std::vector<delivery<T>> taken) {
    if (cancelled_.load(std::memory_order_acquire)) {
      if (anchor_->enter()) {
        channel_.put_back(taken);
        anchor_->leave();
      }
      finish(boost::asio::error::operation_aborted, {});
      return;
    }
    finish({}, std::move(taken));
  }

  void post_finish(boost::system::error_code code, std::vector<delivery<T>> taken) {
    boost::asio::post(completion_.executor(),
                      [self = this->shared_from_this(), code, taken = std::move(taken)]() mutable {
                        self->finish(code, std::move(taken));
                      });
  }

  // Owns the operation's next step: it was started, woken, or taken back
  // by its timer.
  void attempt() {
    cancel_timer();
    if (cancelled_.load(std::memory_order_acquire)) {
      if (anchor_->enter()) {
        channel_.pass_on_wake();  // it may have been woken for a message
        anchor_->leave();
      }
      finish(boost::asio::error::operation_aborted, {});
      return;
    }
    if (!anchor_->enter()) {
      finish(asio_error(errc::channel_closed), {});
      return;
    }
    auto found = channel_.take_or_park(max_, this->shared_from_this());
    if (found.closed) {
      anchor_->leave();
      finish(asio_error(errc::channel_closed), {});
      return;
    }
    if (!found.taken.empty()) {
      // A cancellation that came while they were taken: back they go. (On
      // an at-most-once channel they are already settled: hand them over.)
      if (cancelled_.load(std::memory_order_acquire) && channel_.options().acknowledge) {
        channel_.put_back(found.taken);
        anchor_->leave();
        finish(boost::asio::error::operation_aborted, {});
        return;
      }
      anchor_->leave();
      finish({}, std::move(found.taken));
      return;
    }
    // Parked. A cancellation that came meanwhile found it not parked; take
    // it back now, unless a wake-up got there first (then that attempt
    // sees the cancellation).
    if (cancelled_.load(std::memory_order_acquire) && channel_.unpark_receiver(this)) {
      anchor_->leave();
      finish(boost::asio::error::operation_aborted, {});
      return;
    }
    anchor_->leave();
    if (found.retry_at) arm_timer(*found.retry_at);
  }

  // Completes the operation, first cancelling its timer: a pending wait
  // would keep the io_context's run() going until it fired.
  void finish(boost::system::error_code code, std::vector<delivery<T>> taken) {
    cancel_timer();
    completion_.complete(code, std::move(taken));
  }

  void cancel_timer() {
    std::lock_guard lock(timer_mutex_);
    if (timer_) timer_->cancel();
  }

  // Something falls due at `at` that no other call may be there to apply.
  void arm_timer(std::chrono::steady_clock::time_point at) {
    std::lock_guard lock(timer_mutex_);
    if (!timer_) timer_.emplace(completion_.executor());
    timer_->expires_at(at);
    timer_->async_wait([self = this->shared_from_this()](boost::system::error_code code) {
      if (code == boost::asio::error::operation_aborted) return;
      if (!self->anchor_->enter()) return;  // the channel's destruction woke it
      const bool mine = self->channel_.unpark_receiver(self.get());
      self->anchor_->leave();
      if (mine) self->attempt();
    });
  }

  // From the cancellation slot, on any thread.
  void cancel() {
    auto self = this->shared_from_this();  // unparking may drop the channel's hold on it
    cancelled_.store(true, std::memory_order_release);
    if (!anchor_->enter()) return;  // the channel is gone: its destruction woke the operation
    const bool mine = channel_.unpark_receiver(this);
    anchor_->leave();
    if (!mine) return;  // an attempt is running or posted: it sees cancelled_
    boost::asio::post(completion_.executor(),
                      [self = std::move(self)] { self->finish(boost::asio::error::operation_aborted, {}); });
  }

  channel<T>& channel_;
  const std::shared_ptr<channel_anchor> anchor_;
  const std::size_t max_;
  asio_completion<Handler, boost::system::error_code, std::vector<delivery<T>>> completion_;
  std::atomic<bool> cancelled_{false};
  std::mutex timer_mutex_;  // an attempt and a stale timer's handler may run at once on a threaded executor
  std::optional<boost::asio::steady_timer>
      timer_;  // made when first needed: most receives never park with something due
};

template <class T, class Handler>
class async_send_op final : public parked_operation,
                            public std::enable_shared_from_this<async_send_op<T, Handler>> {
 public:
  using prepared = typename channel<T>::prepared_send;

  async_send_op(channel<T>& origin, std::shared_ptr<channel_anchor> anchor, prepared fresh, Handler&& handler)
      : channel_(origin),
        anchor_(std::move(anchor)),
        fresh_(std::move(fresh)),
        completion_(std::move(handler)) {}

  void start() {
    completion_.on_cancel([this](boost::asio::cancellation_type type) {
      if (asks_to_cancel(type)) cancel();
    });
    schedule();
  }

  void wake() noexcept override { schedule(); }

 private:
  void schedule() {
    boost::asio::post(completion_.executor(), [self = this->shared_from_this()] { self->attempt(); });
  }

  void attempt() {
    if (awaiting_write_) {  // woken by the journal: the write is decided
      if (!failure_.empty()) {
        completion_.complete(asio_error(errc::storage_failed), {});
      } else {
        completion_.complete({}, std::move(result_));
      }
      return;
    }
    if (cancelled_.load(std::memory_order_acquire)) {
      completion_.complete(boost::asio::error::operation_aborted, {});
      return;
    }
    if (!anchor_->enter()) {
      completion_.complete(asio_error(errc::channel_closed), {});
      return;
    }
    auto offer = channel_.send_or_park(fresh_, this->shared_from_this(), &failure_);
    using outcome = typename channel<T>::async_offer::outcome;
    switch (offer.what) {
      case outcome::closed:
        anchor_->leave();
        completion_.complete(asio_error(errc::channel_closed), {});
        return;
      case outcome::done:
        anchor_->leave();
        completion_.complete({}, std::move(offer.result));
        return;
      case outcome::awaiting_write:
        // Accepted: no cancellation can take it back now. The journal's
        // report wakes this operation once more.
        result_ = std::move(offer.result);
        awaiting_write_ = true;
        anchor_->leave();
        return;
      case outcome::parked:
        if (cancelled_.load(std::memory_order_acquire) && channel_.unpark_sender(this)) {
          anchor_->leave();
          completion_.complete(boost::asio::error::operation_aborted, {});
          return;
        }
        anchor_->leave();
        return;
    }
  }

  void cancel() {
    auto self = this->shared_from_this();  // unparking may drop the channel's hold on it
    cancelled_.store(true, std::memory_order_release);
    if (!anchor_->enter()) return;
    const bool mine = channel_.unpark_sender(this);
    anchor_->leave();
    if (!mine) return;
    boost::asio::post(completion_.executor(), [self = std::move(self)] {
      self->completion_.complete(boost::asio::error::operation_aborted, {});
    });
  }

  channel<T>& channel_;
  const std::shared_ptr<channel_anchor> anchor_;
  prepared fresh_;
  asio_completion<Handler, boost::system::error_code, send_result> completion_;
  std::atomic<bool> cancelled_{false};
  // Written by the attempt that saw the message accepted, read by the one
  // the journal's report posts (the post orders them); failure_ is written
  // by the channel under its lock before it wakes this operation.
  bool awaiting_write_ = false;
  send_result result_;
  std::string failure_;
};

template <class T, class Token>
struct asio_channel_ops<channel<T>, Token> {
  using receive_signature = void(boost::system::error_code, std::vector<delivery<T>>);
  using send_signature = void(boost::system::error_code, send_result);

  static auto receive(channel<T>& origin, std::size_t max, Token&& token) {
    return boost::asio::async_initiate<Token, receive_signature>(
        [&origin, max](auto handler) {
          using handler_type = std::decay_t<decltype(handler)>;
          if (max == 0) {
            asio_completion<handler_type, boost::system::error_code, std::vector<delivery<T>>> completion(
                std::move(handler));
            auto executor = completion.executor();
            boost::asio::post(executor, [completion = std::move(completion)]() mutable {
              completion.complete(boost::asio::error::invalid_argument, {});
            });
            return;
          }
          std::allocate_shared<async_receive_op<T, handler_type>>(recycled, origin, origin.anchor(), max,
                                                                  std::move(handler))
              ->start();
        },
        token);
  }

  static auto send(channel<T>& origin, T message, send_options options, Token&& token) {
    return boost::asio::async_initiate<Token, send_signature>(
        [&origin, message = std::move(message), options = std::move(options)](auto handler) mutable {
          using handler_type = std::decay_t<decltype(handler)>;
          std::optional<typename channel<T>::prepared_send> fresh;
          try {
            fresh.emplace(origin.prepare_send(std::move(message), std::move(options)));
          } catch (const error& refused) {
            asio_completion<handler_type, boost::system::error_code, send_result> completion(
                std::move(handler));
            auto executor = completion.executor();
            boost::asio::post(executor,
                              [completion = std::move(completion), code = refused.code()]() mutable {
                                completion.complete(boost::system::error_code(code), {});
                              });
            return;
          }
          std::allocate_shared<async_send_op<T, handler_type>>(recycled, origin, origin.anchor(),
                                                               std::move(*fresh), std::move(handler))
              ->start();
        },
        token);
  }
};

template <class Handler>
class async_receipt_wait final : public std::enable_shared_from_this<async_receipt_wait<Handler>> {
 public:
  async_receipt_wait(delivery_receipt receipt, Handler&& handler)
      : receipt_(std::move(receipt)), completion_(std::move(handler)) {}

  void start() {
    completion_.on_cancel([this](boost::asio::cancellation_type type) {
      if (!asks_to_cancel(type) || done_.exchange(true)) return;
      auto self = this->shared_from_this();  // forgetting drops the callback's hold on it
      receipt_.forget_outcome(registration_.load(std::memory_order_acquire));  // best effort: see below
      self->finish(boost::asio::error::operation_aborted, delivery_outcome::abandoned);
    });
    // The callback keeps the operation alive until the outcome comes; one
    // that comes after a cancellation finds done_ set and does nothing.
    registration_.store(receipt_.on_outcome([self = this->shared_from_this()](delivery_outcome outcome) {
      if (!self->done_.exchange(true)) self->finish({}, outcome);
    }),
                        std::memory_order_release);
  }

 private:
  void finish(boost::system::error_code code, delivery_outcome outcome) {
    boost::asio::post(completion_.executor(), [self = this->shared_from_this(), code, outcome] {
      self->completion_.complete(code, outcome);
    });
  }

  delivery_receipt receipt_;
  asio_completion<Handler, boost::system::error_code, delivery_outcome> completion_;
  std::atomic<bool> done_{false};
  std::atomic<std::uint64_t> registration_{0};
};

template <class Token>
struct asio_receipt_ops<delivery_receipt, Token> {
  static auto wait(const delivery_receipt& receipt, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, delivery_outcome)>(
        [receipt](auto handler) {
          using handler_type = std::decay_t<decltype(handler)>;
          std::make_shared<async_receipt_wait<handler_type>>(receipt, std::move(handler))->start();
        },
        token);
  }
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
