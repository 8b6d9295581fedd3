// courier::dynamodb::idempotent_store (see its header). One item per key:
//   id              S  "<scope>#<key>"              the partition key
//   status          S  IN_PROGRESS | APPLIED
//   lease_until     N  epoch ms                     while IN_PROGRESS
//   fence           N  raised by one at every claim
//   owner           S  the claim's random id        tells a retried write of ours from another's
//   payload_sha256  S  hex                          when the claim had a payload
//   result          S                               when commit kept one
//   expires_at      N  epoch s                      the table's TTL attribute
// Every write is one conditional request; the condition is what makes the
// store correct across processes, the in-memory map only remembers which
// claims this process holds.
#include "courier/dynamodb/idempotent_store.hpp"

#include "courier/aws/random_id.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <boost/json.hpp>

namespace courier {
inline namespace v1 {
namespace dynamodb {
namespace json = boost::json;

namespace {

constexpr const char* in_progress = "IN_PROGRESS";
constexpr const char* applied = "APPLIED";

// Every attribute goes through a placeholder: several are reserved words.
const json::object& attribute_names() {
  static const json::object names{
      {"#id", "id"},         {"#status", "status"},     {"#lease", "lease_until"},
      {"#fence", "fence"},   {"#owner", "owner"},       {"#hash", "payload_sha256"},
      {"#result", "result"}, {"#expires", "expires_at"}};
  return names;
}

// The placeholders expression uses (DynamoDB refuses unused ones).
json::object names_used_in(std::initializer_list<std::string_view> expressions) {
  json::object out;
  for (const auto& [placeholder, name] : attribute_names()) {
    for (const auto expression : expressions) {
      if (expression.find(placeholder) != std::string_view::npos) {
        out[placeholder] = name;
        break;
      }
    }
  }
  return out;
}

std::string sha256_hex(std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(payload.data(), payload.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw error(errc::invalid_option, "dynamodb::idempotent_store: OpenSSL could not hash a payload");
  }
  std::string out;
  for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

// The item DynamoDB put in a failed condition's answer, or an empty one.
item failed_item(const aws::error& e) {
  std::error_code parse_error;
  auto value = json::parse(e.response(), parse_error);
  if (parse_error || !value.is_object()) return {};
  auto* found = value.as_object().if_contains("Item");
  return found != nullptr && found->is_object() ? std::move(found->as_object()) : item{};
}

bool is_condition_failure(const aws::error& e) { return e.aws_code() == "ConditionalCheckFailedException"; }

// The condition every write on a held claim carries: the key is still in
// progress, and still this claim's (owner and fence).
constexpr const char* still_ours = "#status = :in_progress AND #owner = :owner AND #fence = :fence";

}  // namespace

idempotent_store::idempotent_store(client& dynamo, store_options options)
    : dynamo_(dynamo), options_(std::move(options)) {
  if (options_.table.empty()) throw error(errc::invalid_option, "dynamodb::store_options::table is empty");
  if (options_.lease <= std::chrono::milliseconds(0) || options_.retention <= std::chrono::milliseconds(0)) {
    throw error(errc::invalid_option, "dynamodb::store_options: lease and retention must be positive");
  }
  if (!options_.now) options_.now = [] { return std::chrono::system_clock::now(); };
}

void idempotent_store::create_table(client& dynamo, const std::string& table) {
  dynamo.create_table({.name = table, .partition_key = "id", .ttl_attribute = "expires_at"});
}

std::string idempotent_store::item_id(std::string_view key) const {
  return fmt::format("{}#{}", options_.scope, key);
}

std::int64_t idempotent_store::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(options_.now().time_since_epoch()).count();
}

claim idempotent_store::verdict(std::string_view key, const item& record,
                                const std::string& payload_hash) const {
  const auto stored_hash = string_of(record, "payload_sha256");
  if (!payload_hash.empty() && stored_hash && *stored_hash != payload_hash) {
    throw error(
        errc::idempotency_key_reused,
        fmt::format("dynamodb::idempotent_store: key {} came again with a different payload (table {})", key,
                    options_.table));
  }
  if (string_of(record, "status") == applied)
    return {apply_outcome::already_applied, string_of(record, "result").value_or("")};
  return {apply_outcome::busy, {}};  // in progress under a live lease, or changed under us: come back later
}

idempotent_store::held_claim idempotent_store::held(std::string_view key) const {
  std::lock_guard lock(held_mutex_);
  const auto found = held_.find(key);
  if (found == held_.end()) {
    throw error(
        errc::lease_lost,
        fmt::format("dynamodb::idempotent_store: no claim on key {} is held here (begin first)", key));
  }
  return found->second;
}

void idempotent_store::lost(std::string_view key, const char* step, const item* record,
                            const held_claim& mine) const {
  const auto fence = record != nullptr ? number_of(*record, "fence") : std::nullopt;
  throw error(
      errc::lease_lost,
      fmt::format("dynamodb::idempotent_store: {} of key {}: the lease ran out and another caller took the "
                  "key over (fence {}, ours {}); nothing of it was changed",
                  step, key, fence ? std::to_string(*fence) : std::string("gone"), mine.fence));
}

claim idempotent_store::do_begin(const claim_request& request) {
  const std::int64_t now = now_ms();
  const auto lease = request.lease > std::chrono::milliseconds(0) ? request.lease : options_.lease;
  held_claim mine{1, aws::random_id(), request.payload.empty() ? std::string() : sha256_hex(request.payload)};
  const std::int64_t lease_until = now + lease.count();
  const std::int64_t expires = lease_until / 1000 + options_.retention.count() / 1000;

  // A key seen for the first time, the common case: one conditional PutItem
  // (moto answers it in a third of an UpdateItem's time; DynamoDB charges
  // the same).
  item fresh{{"id", string_value(item_id(request.key))},
             {"status", string_value(in_progress)},
             {"lease_until", number_value(lease_until)},
             {"owner", string_value(mine.owner)},
             {"fence", number_value(1)},
             {"expires_at", number_value(expires)}};
  if (!mine.payload_hash.empty()) fresh["payload_sha256"] = string_value(mine.payload_hash);
  item record;
  try {
    dynamo_.call("PutItem", {{"TableName", options_.table},
                             {"Item", std::move(fresh)},
                             {"ConditionExpression", "attribute_not_exists(#id)"},
                             {"ExpressionAttributeNames", names_used_in({"#id"})},
                             {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}});
    return hold(request.key, std::move(mine));
  } catch (const aws::error& e) {
    if (!is_condition_failure(e)) throw;
    record = failed_item(e);
  }
  if (string_of(record, "owner") == mine.owner) return hold(request.key, std::move(mine));  // ours, retried
  const bool expired = number_of(record, "expires_at").value_or(0) < now / 1000;
  const bool lease_ran_out =
      string_of(record, "status") == in_progress && number_of(record, "lease_until").value_or(0) < now;
  if (!expired && !lease_ran_out) return verdict(request.key, record, mine.payload_hash);

  // Taking a key over: the fence goes up by one (never back to 1, so an
  // effect elsewhere can refuse the old holder's token). The condition is
  // checked again: another caller may be taking it over too.
  const std::string condition =
      fmt::format("#expires < :now_s OR (#status = :in_progress AND #lease < :now_ms{})",
                  mine.payload_hash.empty() ? "" : " AND (attribute_not_exists(#hash) OR #hash = :hash)");
  // The hash is set, or removed with no payload: never one left from
  // another claim.
  const std::string update = fmt::format(
      "SET #status = :in_progress, #lease = :lease_until, #owner = :owner, #expires = :expires{} REMOVE "
      "#result{} ADD #fence :one",
      mine.payload_hash.empty() ? "" : ", #hash = :hash", mine.payload_hash.empty() ? ", #hash" : "");
  json::object values{{":in_progress", string_value(in_progress)},
                      {":lease_until", number_value(lease_until)},
                      {":owner", string_value(mine.owner)},
                      {":expires", number_value(expires)},
                      {":one", number_value(1)},
                      {":now_s", number_value(now / 1000)},
                      {":now_ms", number_value(now)}};
  if (!mine.payload_hash.empty()) values[":hash"] = string_value(mine.payload_hash);
  try {
    const auto answer =
        dynamo_.call("UpdateItem", {{"TableName", options_.table},
                                    {"Key", {{"id", string_value(item_id(request.key))}}},
                                    {"UpdateExpression", update},
                                    {"ConditionExpression", condition},
                                    {"ExpressionAttributeNames", names_used_in({update, condition})},
                                    {"ExpressionAttributeValues", std::move(values)},
                                    {"ReturnValues", "UPDATED_NEW"},
                                    {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}});
    const auto* attributes = answer.if_contains("Attributes");
    if (attributes != nullptr && attributes->is_object())
      mine.fence = number_of(attributes->as_object(), "fence").value_or(0);
  } catch (const aws::error& e) {
    if (!is_condition_failure(e)) throw;
    record = failed_item(e);
    if (string_of(record, "owner") != mine.owner) return verdict(request.key, record, mine.payload_hash);
    mine.fence = number_of(record, "fence").value_or(0);  // ours, its answer lost and retried
  }
  return hold(request.key, std::move(mine));
}

boost::json::object idempotent_store::ownership(const held_claim& mine) {
  return {{":in_progress", string_value(in_progress)},
          {":owner", string_value(mine.owner)},
          {":fence", number_value(mine.fence)}};
}

void idempotent_store::forget(std::string_view key) {
  std::lock_guard lock(held_mutex_);
  if (const auto found = held_.find(key); found != held_.end()) held_.erase(found);
}

claim idempotent_store::hold(std::string_view key, held_claim claim_held) {
  std::lock_guard lock(held_mutex_);
  held_[std::string(key)] = std::move(claim_held);
  return {};
}

void idempotent_store::do_commit(std::string_view key, std::string_view result) {
  const held_claim mine = held(key);
  // The whole applied record in one conditional PutItem: what the claim
  // held (fence, owner, payload hash) carried over, so nothing is lost.
  item done{{"id", string_value(item_id(key))},
            {"status", string_value(applied)},
            {"owner", string_value(mine.owner)},
            {"fence", number_value(mine.fence)},
            {"expires_at", number_value((now_ms() + options_.retention.count()) / 1000)}};
  if (!mine.payload_hash.empty()) done["payload_sha256"] = string_value(mine.payload_hash);
  if (!result.empty()) done["result"] = string_value(result);
  try {
    dynamo_.call("PutItem", {{"TableName", options_.table},
                             {"Item", std::move(done)},
                             {"ConditionExpression", still_ours},
                             {"ExpressionAttributeNames", names_used_in({still_ours})},
                             {"ExpressionAttributeValues", ownership(mine)},
                             {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}});
  } catch (const aws::error& e) {
    if (!is_condition_failure(e)) throw;  // still held: the caller may commit again
    forget(key);
    const item record = failed_item(e);
    const bool ours = string_of(record, "owner") == mine.owner && number_of(record, "fence") == mine.fence;
    if (ours && string_of(record, "status") == applied) return;  // our commit, its answer lost and retried
    lost(key, "commit", &record, mine);
  }
  forget(key);
}

void idempotent_store::do_abort(std::string_view key) {
  const held_claim mine = held(key);
  forget(key);
  try {
    dynamo_.call("DeleteItem", {{"TableName", options_.table},
                                {"Key", {{"id", string_value(item_id(key))}}},
                                {"ConditionExpression", still_ours},
                                {"ExpressionAttributeNames", names_used_in({still_ours})},
                                {"ExpressionAttributeValues", ownership(mine)},
                                {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}});
  } catch (const aws::error& e) {
    if (!is_condition_failure(e)) throw;  // the lease runs out on its own
    const item record = failed_item(e);
    if (record.empty()) return;  // gone: our delete, its answer lost and retried
    lost(key, "abort", &record, mine);
  }
}

void idempotent_store::do_extend(std::string_view key, std::chrono::milliseconds lease) {
  const held_claim mine = held(key);
  const std::int64_t lease_until = now_ms() + lease.count();
  const std::string update = "SET #lease = :lease_until, #expires = :expires";
  json::object values = ownership(mine);
  values[":lease_until"] = number_value(lease_until);
  values[":expires"] = number_value(lease_until / 1000 + options_.retention.count() / 1000);
  try {
    dynamo_.call("UpdateItem", {{"TableName", options_.table},
                                {"Key", {{"id", string_value(item_id(key))}}},
                                {"UpdateExpression", update},
                                {"ConditionExpression", still_ours},
                                {"ExpressionAttributeNames", names_used_in({update, still_ours})},
                                {"ExpressionAttributeValues", std::move(values)},
                                {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}});
  } catch (const aws::error& e) {
    if (!is_condition_failure(e)) throw;
    const item record = failed_item(e);
    lost(key, "extend", &record, mine);
  }
}

std::int64_t idempotent_store::fence(std::string_view key) const {
  std::lock_guard lock(held_mutex_);
  const auto found = held_.find(key);
  return found == held_.end() ? 0 : found->second.fence;
}

apply_outcome idempotent_store::apply_in_transaction(
    const claim_request& request, const std::function<std::vector<json::object>()>& writes) {
  std::vector<json::object> entries = writes();
  if (entries.size() > 99) {
    throw error(
        errc::invalid_option,
        fmt::format("dynamodb::idempotent_store::apply_in_transaction: {} writes for key {}; a transaction "
                    "holds 100 items, one of them the key's record",
                    entries.size(), request.key));
  }
  const std::int64_t now = now_ms();
  const std::string owner = aws::random_id();
  const std::string hash = request.payload.empty() ? std::string() : sha256_hex(request.payload);

  item record{{"id", string_value(item_id(request.key))},
              {"status", string_value(applied)},
              {"owner", string_value(owner)},
              {"fence", number_value(0)},
              {"expires_at", number_value((now + options_.retention.count()) / 1000)}};
  if (!hash.empty()) record["payload_sha256"] = string_value(hash);
  const std::string condition = fmt::format(
      "attribute_not_exists(#id) OR #expires < :now_s OR (#status = :in_progress AND #lease < :now_ms{})",
      hash.empty() ? "" : " AND (attribute_not_exists(#hash) OR #hash = :hash)");
  json::object values{{":in_progress", string_value(in_progress)},
                      {":now_s", number_value(now / 1000)},
                      {":now_ms", number_value(now)}};
  if (!hash.empty()) values[":hash"] = string_value(hash);

  json::object mark{{"TableName", options_.table},
                    {"Item", std::move(record)},
                    {"ConditionExpression", condition},
                    {"ExpressionAttributeNames", names_used_in({condition})},
                    {"ExpressionAttributeValues", std::move(values)},
                    {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}};
  // What the record another caller left says, once the mark was refused.
  auto refused = [&](const item& old) {
    if (string_of(old, "owner") == owner) return apply_outcome::applied;  // ours, its answer lost and retried
    return verdict(request.key, old, hash).outcome;
  };
  if (entries.empty()) {
    // Nothing but the mark: one conditional PutItem, half a transaction's cost.
    try {
      dynamo_.call("PutItem", mark);
      return apply_outcome::applied;
    } catch (const aws::error& e) {
      if (!is_condition_failure(e)) throw;
      return refused(failed_item(e));
    }
  }
  json::array items;
  for (auto& entry : entries) items.emplace_back(std::move(entry));
  items.emplace_back(json::object{{"Put", std::move(mark)}});
  const std::size_t ours = items.size() - 1;
  try {
    // The token makes DynamoDB treat the core's retry of a lost answer as
    // the same transaction.
    dynamo_.call("TransactWriteItems", {{"TransactItems", std::move(items)}, {"ClientRequestToken", owner}});
    return apply_outcome::applied;
  } catch (const aws::error& e) {
    if (e.aws_code() != "TransactionCanceledException") throw;
    std::error_code parse_error;
    const auto answer = json::parse(e.response(), parse_error);
    const json::array* reasons = nullptr;
    if (!parse_error && answer.is_object()) {
      if (const auto* found = answer.as_object().if_contains("CancellationReasons");
          found != nullptr && found->is_array())
        reasons = &found->as_array();
    }
    if (reasons == nullptr || reasons->size() != ours + 1) throw;
    for (std::size_t i = 0; i < reasons->size(); ++i) {
      const auto& reason = (*reasons)[i].as_object();
      const auto* code = reason.if_contains("Code");
      const std::string_view text =
          code != nullptr && code->is_string() ? std::string_view(code->as_string()) : "";
      if (text == "TransactionConflict")
        return apply_outcome::busy;  // another write on these items right now
      if (text != "ConditionalCheckFailed") continue;
      if (i != ours) {
        throw aws::error(
            "DynamoDB", "TransactWriteItems", "TransactionCanceledException",
            fmt::format("write {} of key {} failed its own condition; nothing was written", i, request.key),
            e.http_status(), e.attempts(), e.response());
      }
      if (const auto* found = reason.if_contains("Item"); found != nullptr && found->is_object()) {
        return refused(found->as_object());
      }
      return refused(
          dynamo_.get_item(options_.table, {{"id", string_value(item_id(request.key))}}).value_or(item{}));
    }
    throw;
  }
}

}  // namespace dynamodb
}  // namespace v1
}  // namespace courier
