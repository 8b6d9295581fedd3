// What a sender knows of one tracked message: the receipts that came (the
// first of each consumer), what is awaited, and whether waiting is over.
// Bookkeeping only: the inbox adds receipts and closes it; the
// delivery_receipts handles read it. Every member function is thread-safe.
#pragma once

#include "courier/sqs/receipt_inbox.hpp"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace sqs {
namespace detail {

struct receipt_tracking {
  explicit receipt_tracking(std::string message_id) : id(std::move(message_id)) {}

  const std::string id;

  // Adds consumer's receipt; false when that consumer answered before (or
  // waiting is over) and nothing changed.
  bool add(const remote_receipt& receipt) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      for (const auto& seen : received_) {
        if (seen.consumer == receipt.consumer) return false;
      }
      received_.push_back(receipt);
      if (first_ && received_.size() == 1) first_->set(receipt.outcome);
      if (auto named = named_.find(receipt.consumer); named != named_.end())
        named->second->set(receipt.outcome);
    }
    changed_.notify_all();
    return true;
  }

  // Waiting is over (timed_out, abandoned): what is still awaited resolves
  // with why, and later receipts are refused.
  void close(delivery_outcome why) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = why;
      if (first_ && received_.empty()) first_->set(why);
      for (auto& [consumer, awaited] : named_) {
        if (!answered(consumer)) awaited->set(why);
      }
    }
    changed_.notify_all();
  }

  delivery_receipt first() {
    std::lock_guard lock(mutex_);
    if (!first_) {
      first_ = std::make_shared<delivery_receipt::state>();
      if (!received_.empty()) {
        first_->set(received_.front().outcome);
      } else if (closed_) {
        first_->set(*closed_);
      }
    }
    return delivery_receipt(first_);
  }

  delivery_receipt from(const std::string& consumer) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = named_.try_emplace(consumer);
    if (fresh) {
      it->second = std::make_shared<delivery_receipt::state>();
      if (const auto* seen = answer_of(consumer)) {
        it->second->set(seen->outcome);
      } else if (closed_) {
        it->second->set(*closed_);
      }
    }
    return delivery_receipt(it->second);
  }

  std::map<std::string, delivery_outcome> wait_all(const std::vector<std::string>& consumers) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] {
      if (closed_) return true;
      for (const auto& consumer : consumers) {
        if (!answered(consumer)) return false;
      }
      return true;
    });
    std::map<std::string, delivery_outcome> out;
    for (const auto& consumer : consumers) {
      const auto* seen = answer_of(consumer);
      out[consumer] = seen != nullptr ? seen->outcome : *closed_;
    }
    return out;
  }

  std::vector<remote_receipt> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  const remote_receipt* answer_of(const std::string& consumer) const {
    for (const auto& seen : received_) {
      if (seen.consumer == consumer) return &seen;
    }
    return nullptr;
  }
  bool answered(const std::string& consumer) const { return answer_of(consumer) != nullptr; }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<remote_receipt> received_;            // one per consumer; a message has few consumers
  std::shared_ptr<delivery_receipt::state> first_;  // made on the first request
  std::map<std::string, std::shared_ptr<delivery_receipt::state>> named_;
  std::optional<delivery_outcome> closed_;
};

}  // namespace detail
}  // namespace sqs
}  // namespace v1
}  // namespace courier
