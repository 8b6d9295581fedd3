// courier::error: the one exception type courier throws.
//
// It derives from std::system_error so callers can catch it as a standard
// error, compare its code() with courier::errc values, or keep only the
// message. Every message names the thing that was wrong.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

namespace courier {
inline namespace v1 {

// What went wrong. Values are stable: they may be logged and compared.
enum class errc {
  bus_shutting_down = 1,   // post() after the bus began to shut down
  would_deadlock,          // e.g. drain() from inside the bus's own worker
  invalid_option,          // an options struct asked for something impossible
  too_many_event_types,    // the per-type table is full (see detail/type_table.hpp)
  missing_group,           // a send on a FIFO channel without a message group
  channel_full,            // send() waited its timeout and the channel stayed full
  stale_receipt,           // the receipt's delivery is over: redelivered or settled by another
  unknown_receipt,         // the receipt names no message this channel knows
  channel_closed,          // the channel was closed (close() or its destructor)
  malformed_message,       // a message from outside that cannot be decoded (bad JSON, wrong fields)
  storage_failed,          // a durable store could not write or read (disk full, read-only file, I/O error)
  invalid_store,           // a durable store's file is corrupt, foreign or of a newer format
  no_randomness,           // the system's CSPRNG could not produce secret bytes (resume tokens)
  idempotency_key_reused,  // an idempotency key came again with a different payload
  lease_lost,              // a claim's lease ran out and another caller took the key over
};

// The category behind courier's error codes; its name is "courier".
// Thread-safe.
inline const std::error_category& error_category() noexcept {
  class category final : public std::error_category {
   public:
    const char* name() const noexcept override { return "courier"; }
    std::string message(int value) const override {
      switch (static_cast<errc>(value)) {
        case errc::bus_shutting_down:
          return "the bus is shutting down";
        case errc::would_deadlock:
          return "the call would deadlock";
        case errc::invalid_option:
          return "invalid option";
        case errc::too_many_event_types:
          return "too many event types";
        case errc::missing_group:
          return "a FIFO channel needs a message group";
        case errc::channel_full:
          return "the channel is full";
        case errc::stale_receipt:
          return "the receipt is stale";
        case errc::unknown_receipt:
          return "unknown receipt";
        case errc::channel_closed:
          return "the channel is closed";
        case errc::malformed_message:
          return "malformed message";
        case errc::storage_failed:
          return "the durable store failed";
        case errc::invalid_store:
          return "not a usable courier store";
        case errc::no_randomness:
          return "no secure random bytes available";
        case errc::idempotency_key_reused:
          return "the idempotency key was used before for a different payload";
        case errc::lease_lost:
          return "the claim's lease was taken over by another caller";
      }
      return "unknown courier error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(errc value) noexcept {
  return {static_cast<int>(value), error_category()};
}

// Thrown by courier's throwing functions. what() reads
// "<context>: <category message>", e.g. "post(order_placed): the bus is
// shutting down".
class error : public std::system_error {
 public:
  error(errc code, const std::string& context) : std::system_error(make_error_code(code), context) {}

 protected:
  // For an adapter's error with codes of its own category (sqs::error).
  error(std::error_code code, const std::string& context) : std::system_error(code, context) {}
};

}  // namespace v1
}  // namespace courier

template <>
struct std::is_error_code_enum<courier::errc> : std::true_type {};
