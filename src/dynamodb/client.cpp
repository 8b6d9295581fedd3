// The DynamoDB client (see courier/dynamodb/client.hpp).
#include "courier/dynamodb/client.hpp"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <charconv>
#include <thread>

namespace courier {
inline namespace v1 {
namespace dynamodb {
namespace json = boost::json;

json::value string_value(std::string_view text) { return json::object{{"S", text}}; }

json::value number_value(std::int64_t number) { return json::object{{"N", std::to_string(number)}}; }

namespace {

// The text under type ("S", "N") of item[attribute], or nullptr.
const json::string* typed_text(const item& from, std::string_view attribute, std::string_view type) {
  const auto* value = from.if_contains(attribute);
  if (value == nullptr || !value->is_object()) return nullptr;
  const auto* text = value->as_object().if_contains(type);
  return text != nullptr && text->is_string() ? &text->as_string() : nullptr;
}

}  // namespace

std::optional<std::string> string_of(const item& from, std::string_view attribute) {
  const auto* text = typed_text(from, attribute, "S");
  if (text == nullptr) return std::nullopt;
  return std::string(*text);
}

std::optional<std::int64_t> number_of(const item& from, std::string_view attribute) {
  const auto* text = typed_text(from, attribute, "N");
  if (text == nullptr) return std::nullopt;
  std::int64_t number = 0;
  const auto [end, failure] = std::from_chars(text->data(), text->data() + text->size(), number);
  if (failure != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return number;
}

client::client(client_options options) : core_(service, std::move(options)) {}

json::object client::call(std::string_view action, const json::object& request) {
  return core_.call_json(action, request);
}

bool client::create_table(const table_spec& spec, std::chrono::milliseconds wait) {
  bool made = true;
  try {
    call(
        "CreateTable",
        {{"TableName", spec.name},
         {"AttributeDefinitions",
          json::array{json::object{{"AttributeName", spec.partition_key}, {"AttributeType", "S"}}}},
         {"KeySchema", json::array{json::object{{"AttributeName", spec.partition_key}, {"KeyType", "HASH"}}}},
         {"BillingMode", "PAY_PER_REQUEST"}});
  } catch (const aws::error& e) {
    if (e.aws_code() != "ResourceInUseException") throw;
    made = false;  // it exists (perhaps made by another process just now)
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const auto described = call("DescribeTable", {{"TableName", spec.name}});
    const auto* table = described.if_contains("Table");
    const auto* status =
        table != nullptr && table->is_object() ? table->as_object().if_contains("TableStatus") : nullptr;
    if (status != nullptr && status->is_string() && status->as_string() == "ACTIVE") break;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw aws::error("DynamoDB", "DescribeTable", "TableNotActive",
                       fmt::format("table {} did not become ACTIVE within {} ms", spec.name, wait.count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // real time: AWS makes the table
  }
  if (!spec.ttl_attribute.empty()) {
    try {
      call("UpdateTimeToLive",
           {{"TableName", spec.name},
            {"TimeToLiveSpecification", {{"Enabled", true}, {"AttributeName", spec.ttl_attribute}}}});
    } catch (const aws::error& e) {
      // Turning on TTL that is already on is refused; anything else is not fine.
      if (e.aws_code() != "ValidationException" || e.message().find("already enabled") == std::string::npos)
        throw;
    }
  }
  return made;
}

void client::delete_table(const std::string& name) { call("DeleteTable", {{"TableName", name}}); }

std::optional<item> client::get_item(const std::string& table, const item& key) {
  auto answer = call("GetItem", {{"TableName", table}, {"Key", key}, {"ConsistentRead", true}});
  auto* found = answer.if_contains("Item");
  if (found == nullptr || !found->is_object()) return std::nullopt;
  return std::move(found->as_object());
}

}  // namespace dynamodb
}  // namespace v1
}  // namespace courier
