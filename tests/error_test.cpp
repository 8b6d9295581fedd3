#include "courier/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(error, carries_code_category_and_context) {
  const courier::error failure(courier::errc::bus_shutting_down, "post(order)");
  EXPECT_EQ(failure.code(), courier::errc::bus_shutting_down);
  EXPECT_STREQ(failure.code().category().name(), "courier");
  EXPECT_EQ(std::string(failure.what()), "post(order): the bus is shutting down");
}

TEST(error, is_a_system_error) {
  try {
    throw courier::error(courier::errc::invalid_option, "bus_options::executor");
  } catch (const std::system_error& failure) {
    EXPECT_EQ(failure.code(), courier::make_error_code(courier::errc::invalid_option));
    EXPECT_NE(std::string(failure.what()).find("invalid option"), std::string::npos);
    return;
  }
  FAIL() << "courier::error was not caught as std::system_error";
}

TEST(error, every_code_has_its_own_message) {
  const auto& category = courier::error_category();
  const std::string unknown = category.message(0);
  for (int value = 1; value <= static_cast<int>(courier::errc::too_many_event_types); ++value) {
    EXPECT_NE(category.message(value), unknown) << "errc value " << value;
  }
}

}  // namespace
