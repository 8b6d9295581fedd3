// courier::dynamodb::idempotent_store: the exactly-once effect across
// machines. Consumers on several hosts share one queue; a visibility timeout
// that runs out under a slow handler hands its message to another host while
// the first still works. A store in one process or on one disk cannot see
// that; one DynamoDB table shared by every consumer can.
//
//   courier::dynamodb::client dynamo;
//   auto applied = std::make_shared<courier::dynamodb::idempotent_store>(
//       dynamo, courier::dynamodb::store_options{.table = "courier-applied"});
//   courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url, .applied = applied});
//
// One item per key (see docs/aws.md for the layout and IAM policy):
// - Leases, not locks. begin() writes an in-progress record with a lease
//   deadline, a fencing token (a number raised by one at every claim) and an
//   owner id, by a conditional write that succeeds only when the key is free
//   (no record, an expired one, or an in-progress one whose lease ran out).
//   Another caller gets busy while the lease runs and takes the key over
//   after it (a consumer that died does not hold a key forever; a claim with
//   no deadline cannot exist). commit, abort and extend are conditional on
//   the owner and fence: a holder whose lease was taken over cannot mark or
//   release what is no longer its own, and gets errc::lease_lost.
// - Applied records carry an expiry (the table's TTL attribute, expires_at)
//   after the retention; an expired record that DynamoDB has not yet deleted
//   counts as absent.
// - Payloads: a claim's payload is kept as its SHA-256; the key with another
//   payload is errc::idempotency_key_reused, never a silent skip. Every
//   write keeps or sets the hash (none loses it on update).
// - Results: commit's result is kept with the applied record and handed to
//   a duplicate (apply_once_with_result).
// - apply_in_transaction puts the application's own writes and the applied
//   record in one TransactWriteItems: both happen or neither, no crash
//   window at all, no lease to expire.
// A write whose answer was lost and was retried by the AWS core is
// recognised by its owner id: it is not mistaken for another caller's.
// Leases use the wall clock of each host: keep hosts in NTP sync, and leases
// far longer than their skew. Thread-safe.
#pragma once

#include "courier/dynamodb/client.hpp"
#include "courier/idempotent_store.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace courier {
inline namespace v1 {
namespace dynamodb {

struct store_options {
  std::string table = {};  // made with idempotent_store::create_table (or by hand: see docs/aws.md)
  // Prefix of every key in the table ("<scope>#<key>"): consumers with
  // different effects share a table without sharing keys.
  std::string scope = "default";
  // A claim's lease when the caller names none (SQS's default visibility
  // timeout).
  std::chrono::milliseconds lease{std::chrono::seconds(30)};
  // How long an applied key is remembered (its TTL).
  std::chrono::milliseconds retention{std::chrono::hours(24)};
  // The wall clock leases and expiries are read on; tests put a manual one.
  std::function<std::chrono::system_clock::time_point()> now = {};
};

class idempotent_store final : public courier::idempotent_store {
 public:
  // dynamo must outlive the store. Throws courier::error (invalid_option)
  // when options.table is empty or a duration is not positive.
  idempotent_store(client& dynamo, store_options options);

  // Makes the table the store needs (partition key id, TTL on expires_at)
  // unless it exists. Throws courier::aws::error.
  static void create_table(client& dynamo, const std::string& table);

  // Runs writes() and puts what it returns (TransactItems entries, as
  // DynamoDB documents them: {"Put": {...}}, {"Update": {...}},
  // {"ConditionCheck": {...}}, {"Delete": {...}}; at most 99) in one
  // transaction with the key's applied record, unless the key is applied
  // (already_applied, nothing written) or held by a live lease (busy).
  // writes must only build the writes: it runs before the store knows
  // whether they will be applied. With no writes, the mark alone is one
  // conditional PutItem: claim and completion in one request. Throws what writes throws, the
  // TransactionCanceledException of an application write's own condition
  // (courier::aws::error naming the entry), errc::idempotency_key_reused,
  // or courier::aws::error; then nothing was written.
  apply_outcome apply_in_transaction(const claim_request& request,
                                     const std::function<std::vector<boost::json::object>()>& writes);

  // The fencing token of a claim this store holds on key (for effects in a
  // system that can refuse an older token), or 0 when it holds none.
  std::int64_t fence(std::string_view key) const;

  const store_options& options() const noexcept { return options_; }

 private:
  struct held_claim {
    std::int64_t fence = 0;
    std::string owner;
    std::string payload_hash;  // carried into the applied record
  };

  claim do_begin(const claim_request& request) override;
  void do_commit(std::string_view key, std::string_view result) override;
  void do_abort(std::string_view key) override;
  void do_extend(std::string_view key, std::chrono::milliseconds lease) override;

  std::string item_id(std::string_view key) const;
  std::int64_t now_ms() const;
  claim hold(std::string_view key, held_claim claim_held);
  void forget(std::string_view key);
  // The values of the condition every write on a held claim carries.
  static boost::json::object ownership(const held_claim& mine);
  // What the record another caller left says, for a claim that failed
  // its condition: already_applied, busy, or a reused key (throws).
  claim verdict(std::string_view key, const item& record, const std::string& payload_hash) const;
  held_claim held(std::string_view key) const;
  [[noreturn]] void lost(std::string_view key, const char* step, const item* record,
                         const held_claim& mine) const;

  client& dynamo_;
  store_options options_;
  mutable std::mutex held_mutex_;
  std::map<std::string, held_claim, std::less<>> held_;  // the claims this store holds, by key
};

}  // namespace dynamodb
}  // namespace v1
}  // namespace courier
