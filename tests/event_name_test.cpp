#include "courier/event_name.hpp"

#include <gtest/gtest.h>

#include <string_view>

namespace app {
struct order_placed {};
struct order_shipped {};
}  // namespace app

template <>
struct courier::event_name_of<app::order_shipped> {
  static constexpr std::string_view value = "order.shipped";
};

namespace {

TEST(event_name, defaults_to_the_demangled_type_name) {
  EXPECT_EQ(courier::event_name<app::order_placed>(), "app::order_placed");
}

TEST(event_name, uses_a_specialization_when_there_is_one) {
  EXPECT_EQ(courier::event_name<app::order_shipped>(), "order.shipped");
}

TEST(event_name, is_stable_across_calls) {
  EXPECT_EQ(courier::event_name<int>().data(), courier::event_name<int>().data());
}

}  // namespace
