// courier/sqs/asio.hpp: the Asio forms of sqs::channel's calls,
// async_receive and async_send, with any completion token (a callback,
// use_awaitable, use_future, deferred). Delivery receipts from SQS are
// awaited with delivery_receipt::async_wait (courier/asio.hpp).
//
// Design. courier's SQS client makes blocking libcurl calls; each
// operation runs its call on one of the channel's threads (call_pool) and
// completes on the handler's executor, so no io_context thread waits on
// HTTP. Why not libcurl's multi interface driven by the io_context: it would
// replace the client's transport (retries, signing, response limits, the
// abort hook) for one caller, while SQS calls are few and slow (a long poll
// waits up to 20 s): a thread per call in flight costs little here, and
// the one call that waits long, the long poll, is abandoned within a second
// of a cancellation through the transport's abort hook.
//
// Cancellation never hands a message to a caller that cancelled: a receive
// hands over its messages only in the step that completes it, on its
// executor. A cancellation before that step (during the poll, or after it
// returned and before its completion ran) makes what SQS handed over
// visible again at once, from a channel thread, then completes with
// sqs::error "Cancelled".
#pragma once

#include "courier/asio.hpp"
#include "courier/sqs/channel.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace detail {

inline std::exception_ptr cancelled_failure(const char* operation) {
  return std::make_exception_ptr(error("SQS", operation, "Cancelled", "the caller cancelled it"));
}

inline std::exception_ptr closed_failure(const char* operation) {
  return std::make_exception_ptr(courier::error(
      errc::channel_closed, std::string("sqs::channel::") + operation + "(): the channel was destroyed"));
}

template <class T, class Handler>
class sqs_receive_op final : public std::enable_shared_from_this<sqs_receive_op<T, Handler>> {
 public:
  sqs_receive_op(channel<T>& origin, std::size_t max, std::chrono::seconds wait, Handler&& handler)
      : channel_(origin), anchor_(origin.anchor()), max_(max), wait_(wait), completion_(std::move(handler)) {}

  void start() {
    // The slot holds a plain pointer: the operation lives until it
    // completes (its call or its completion step holds it), and completing
    // clears the slot.
    completion_.on_cancel([this](boost::asio::cancellation_type type) {
      if (!courier::detail::asks_to_cancel(type)) return;
      cancelled_.store(true, std::memory_order_release);
      abort_.store(true, std::memory_order_release);  // ends a long poll in progress
    });
    if (!channel_.run_async([self = this->shared_from_this()] { self->poll(); })) {
      post_finish(closed_failure("async_receive"), {});
    }
  }

 private:
  // On a channel thread.
  void poll() {
    if (cancelled_.load(std::memory_order_acquire)) {
      post_finish(cancelled_failure("ReceiveMessage"), {});
      return;
    }
    if (channel_.closing()) {
      post_finish(closed_failure("async_receive"), {});
      return;
    }
    std::vector<delivery<T>> taken;
    std::exception_ptr failure;
    channel_.track_poll(&abort_);
    try {
      taken = channel_.receive(max_, wait_, &abort_);
    } catch (...) {
      failure = std::current_exception();
    }
    channel_.untrack_poll(&abort_);
    if (cancelled_.load(std::memory_order_acquire) || channel_.closing()) {
      channel_.put_back(taken);
      const bool closed = !cancelled_.load(std::memory_order_acquire);
      post_finish(closed ? closed_failure("async_receive") : cancelled_failure("ReceiveMessage"), {});
      return;
    }
    boost::asio::post(completion_.executor(),
                      [self = this->shared_from_this(), failure, taken = std::move(taken)]() mutable {
                        self->hand_over(failure, std::move(taken));
                      });
  }

  // On the handler's executor: completes, unless a cancellation came after
  // the poll; then the messages go back first (from a channel thread: that
  // is an SQS call).
  void hand_over(std::exception_ptr failure, std::vector<delivery<T>> taken) {
    if (!cancelled_.load(std::memory_order_acquire) || taken.empty()) {
      completion_.complete(failure, std::move(taken));
      return;
    }
    bool submitted = false;
    if (anchor_->enter()) {
      auto shared_taken = std::make_shared<std::vector<delivery<T>>>(std::move(taken));
      submitted = channel_.run_async([self = this->shared_from_this(), shared_taken] {
        self->channel_.put_back(*shared_taken);
        self->post_finish(cancelled_failure("ReceiveMessage"), {});
      });
      anchor_->leave();
    }
    // The channel is being destroyed: the messages come back after their
    // visibility timeout.
    if (!submitted) completion_.complete(cancelled_failure("ReceiveMessage"), {});
  }

  void post_finish(std::exception_ptr failure, std::vector<delivery<T>> taken) {
    boost::asio::post(completion_.executor(),
                      [self = this->shared_from_this(), failure, taken = std::move(taken)]() mutable {
                        self->completion_.complete(failure, std::move(taken));
                      });
  }

  channel<T>& channel_;
  const std::shared_ptr<courier::detail::channel_anchor> anchor_;
  const std::size_t max_;
  const std::chrono::seconds wait_;
  courier::detail::asio_completion<Handler, std::exception_ptr, std::vector<delivery<T>>> completion_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> abort_{false};  // what the poll's request watches: a cancellation or the destructor
};

template <class T, class Handler>
class sqs_send_op final : public std::enable_shared_from_this<sqs_send_op<T, Handler>> {
 public:
  sqs_send_op(channel<T>& origin, T message, send_options options, Handler&& handler)
      : channel_(origin),
        message_(std::move(message)),
        options_(std::move(options)),
        completion_(std::move(handler)) {}

  void start() {
    completion_.on_cancel([this](boost::asio::cancellation_type type) {
      if (courier::detail::asks_to_cancel(type)) cancelled_.store(true, std::memory_order_release);
    });
    if (!channel_.run_async([self = this->shared_from_this()] { self->send(); })) {
      post_finish(closed_failure("async_send"), {});
    }
  }

 private:
  // On a channel thread.
  void send() {
    if (cancelled_.load(std::memory_order_acquire)) {
      post_finish(cancelled_failure("SendMessage"), {});
      return;
    }
    if (channel_.closing()) {
      post_finish(closed_failure("async_send"), {});
      return;
    }
    try {
      post_finish(nullptr, channel_.send(message_, options_));
    } catch (...) {
      post_finish(std::current_exception(), {});
    }
  }

  void post_finish(std::exception_ptr failure, sent result) {
    boost::asio::post(completion_.executor(),
                      [self = this->shared_from_this(), failure, result = std::move(result)]() mutable {
                        self->completion_.complete(failure, std::move(result));
                      });
  }

  channel<T>& channel_;
  const T message_;
  const send_options options_;
  courier::detail::asio_completion<Handler, std::exception_ptr, sent> completion_;
  std::atomic<bool> cancelled_{false};
};

template <class T, class Token>
struct asio_sqs_ops<channel<T>, Token> {
  static auto receive(channel<T>& origin, std::size_t max, std::chrono::seconds wait, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::exception_ptr, std::vector<delivery<T>>)>(
        [&origin, max, wait](auto handler) {
          using handler_type = std::decay_t<decltype(handler)>;
          std::make_shared<sqs_receive_op<T, handler_type>>(origin, max, wait, std::move(handler))->start();
        },
        token);
  }

  static auto send(channel<T>& origin, T message, send_options options, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::exception_ptr, sent)>(
        [&origin, message = std::move(message), options = std::move(options)](auto handler) mutable {
          using handler_type = std::decay_t<decltype(handler)>;
          std::make_shared<sqs_send_op<T, handler_type>>(origin, std::move(message), std::move(options),
                                                         std::move(handler))
              ->start();
        },
        token);
  }
};

}  // namespace detail
}  // namespace sqs
}  // namespace v1
}  // namespace courier
