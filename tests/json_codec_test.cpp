#include "courier/json/codec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace parcels {

struct address {
  std::string street;
  int number;
  friend bool operator==(const address&, const address&) = default;
};
BOOST_DESCRIBE_STRUCT(address, (), (street, number))

struct pickup {
  std::string vendor;
  int parcel;
  double weight;
  address from;
  std::vector<std::string> tags;
  std::optional<std::string> note;
  friend bool operator==(const pickup&, const pickup&) = default;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel, weight, from, tags, note))

}  // namespace parcels

namespace {

using parcels::pickup;

courier::errc error_of(const std::string& text, std::string* what = nullptr) {
  try {
    courier::json::decode<pickup>(text);
  } catch (const courier::error& failure) {
    if (what != nullptr) *what = failure.what();
    return static_cast<courier::errc>(failure.code().value());
  }
  ADD_FAILURE() << "decoded: " << text;
  return {};
}

TEST(json_codec, a_described_struct_round_trips) {
  const pickup original{"acme", 7, 2.5, {"Main St", 12}, {"fragile", "express"}, "leave at the door"};
  const std::string text = courier::json::encode(original);
  EXPECT_THAT(text, ::testing::HasSubstr(R"("vendor":"acme")"));
  EXPECT_THAT(text, ::testing::HasSubstr(R"("from":{"street":"Main St","number":12})"));
  EXPECT_EQ(courier::json::decode<pickup>(text), original);
}

TEST(json_codec, an_absent_optional_member_is_null_and_decodes_back_empty) {
  const pickup original{"acme", 7, 2.5, {"Main St", 12}, {}, std::nullopt};
  const std::string text = courier::json::encode(original);
  EXPECT_THAT(text, ::testing::HasSubstr(R"("note":null)"));
  EXPECT_EQ(courier::json::decode<pickup>(text), original);
}

TEST(json_codec, bad_input_is_a_clear_error_naming_the_type) {
  std::string what;
  EXPECT_EQ(error_of("{not json", &what), courier::errc::malformed_message);
  EXPECT_THAT(what, ::testing::HasSubstr("decode<parcels::pickup>"));
  EXPECT_THAT(what, ::testing::HasSubstr("not JSON"));
  // A missing member, a member of the wrong kind, the wrong shape altogether.
  EXPECT_EQ(error_of(R"({"vendor":"acme","parcel":7})"), courier::errc::malformed_message);
  EXPECT_EQ(
      error_of(
          R"({"vendor":"acme","parcel":"seven","weight":1,"from":{"street":"a","number":1},"tags":[],"note":null})"),
      courier::errc::malformed_message);
  EXPECT_EQ(error_of("[1,2,3]"), courier::errc::malformed_message);
  EXPECT_EQ(error_of(""), courier::errc::malformed_message);
}

}  // namespace
