// courier::dynamodb::client: DynamoDB's JSON API on the AWS core
// (courier/aws/client.hpp): configuration with AWS_ENDPOINT_URL_DYNAMODB,
// SigV4, pooled connections, retries, courier::aws::error.
//
// Requests and answers are DynamoDB's own JSON (items as attribute name ->
// AttributeValue, {"S": "text"}, {"N": "42"}), so every action and
// expression of the API reference can be written as it is documented;
// courier adds no item model of its own. The helpers below are the few
// courier's stores need. Thread-safe.
#pragma once

#include "courier/aws/client.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace dynamodb {

// DynamoDB to the AWS core: SigV4 name "dynamodb", targets
// "DynamoDB_20120810.<Action>".
inline constexpr aws::service service{
    .id = "DynamoDB", .signing_name = "dynamodb", .json_target = "DynamoDB_20120810"};

using client_options = aws::client_options;

// An item: attribute name -> AttributeValue.
using item = boost::json::object;

// AttributeValues: {"S": text}, {"N": "number"}.
boost::json::value string_value(std::string_view text);
boost::json::value number_value(std::int64_t number);

// The attribute's S (or N) text, or nullopt when item lacks it or it has
// another type.
std::optional<std::string> string_of(const item& from, std::string_view attribute);
std::optional<std::int64_t> number_of(const item& from, std::string_view attribute);

// A table with a string partition key, billed per request (what the stores
// use).
struct table_spec {
  std::string name = {};
  std::string partition_key = "id";
  // The attribute DynamoDB deletes expired items by (epoch seconds); empty:
  // no TTL.
  std::string ttl_attribute = {};
};

class client {
 public:
  // Resolves options.settings for DynamoDB (aws::config::resolve). Makes no
  // request. Throws courier::aws::error ("MissingConfiguration").
  explicit client(client_options options = {});

  // Any DynamoDB action: request as documented, the answer's object.
  // Throws courier::aws::error (ConditionalCheckFailedException keeps
  // the failed item in response() when the request asked for it).
  boost::json::object call(std::string_view action, const boost::json::object& request);

  // Creates the table unless it exists, waits until it is ACTIVE (at most
  // wait), and turns TTL on for spec.ttl_attribute. True when this call made
  // it. Throws courier::aws::error.
  bool create_table(const table_spec& spec, std::chrono::milliseconds wait = std::chrono::seconds(60));
  void delete_table(const std::string& name);

  // The item with this key, read strongly consistent; nullopt when absent.
  std::optional<item> get_item(const std::string& table, const item& key);

  const aws::config& settings() const noexcept { return core_.settings(); }
  std::size_t requests_made() const noexcept { return core_.requests_made(); }

 private:
  aws::client core_;
};

}  // namespace dynamodb
}  // namespace v1
}  // namespace courier
