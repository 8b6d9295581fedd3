// courier::delivery<T>: one delivery of a channel message to a consumer.
//
// It carries a copy of the message, where it came from (id, group,
// sequence), how often it has been delivered, and the receipt that settles
// it. Only this delivery's receipt can ack, nack or extend it: once the
// visibility timeout passes and the message goes to another consumer, this
// receipt is stale. A delivery refers to its channel and must not be used
// after the channel is destroyed.
#pragma once

#include "courier/message_id.hpp"
#include "courier/trace_context.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace courier {
inline namespace v1 {

template <class T>
class channel;
enum class ack_result;

template <class T>
class delivery {
 public:
  delivery(channel<T>& origin, T message, message_id id, std::string group, std::uint64_t sequence,
           std::uint32_t receive_count, courier::receipt handle,
           std::shared_ptr<const trace_context> trace = {})
      : origin_(&origin),
        message_(std::move(message)),
        id_(id),
        group_(std::move(group)),
        sequence_(sequence),
        receive_count_(receive_count),
        receipt_(handle),
        trace_(std::move(trace)) {}

  const T& message() const noexcept { return message_; }
  T& message() noexcept { return message_; }
  message_id id() const noexcept { return id_; }
  const std::string& group() const noexcept { return group_; }
  std::uint64_t sequence() const noexcept { return sequence_; }
  // 1 on the first delivery, 2 on the first redelivery, ...
  std::uint32_t receive_count() const noexcept { return receive_count_; }
  courier::receipt receipt() const noexcept { return receipt_; }
  // The W3C trace context its sender set (send_options::trace); empty when
  // none.
  const trace_context& trace() const noexcept {
    static const trace_context none;
    return trace_ ? *trace_ : none;
  }

  // Shorthands for channel::ack / nack / extend with this delivery's
  // receipt; same errors. settled() is true once ack or nack returned.
  ack_result ack() {
    const auto result = origin_->ack(receipt_);
    settled_ = true;
    return result;
  }
  void nack(std::chrono::milliseconds delay = {}) {
    origin_->nack(receipt_, delay);
    settled_ = true;
  }
  void extend(std::chrono::milliseconds visibility) { origin_->extend(receipt_, visibility); }
  // Leaves the delivery unsettled on purpose, without a call to the channel:
  // no ack, no nack, so the message is delivered again once its visibility
  // timeout runs out (what a consumer that crashes does). consume() then
  // does not ack it either. settled() is true afterwards.
  void let_expire() noexcept { settled_ = true; }
  bool settled() const noexcept { return settled_; }

 private:
  channel<T>* origin_;
  T message_;
  message_id id_;
  std::string group_;
  std::uint64_t sequence_;
  std::uint32_t receive_count_;
  courier::receipt receipt_;
  std::shared_ptr<const trace_context> trace_;
  bool settled_ = false;
};

}  // namespace v1
}  // namespace courier
