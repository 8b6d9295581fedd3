#include "courier/event_ref.hpp"

#include <gtest/gtest.h>

namespace {

struct price_changed {
  int cents;
};
struct stock_changed {
  int units;
};

TEST(event_ref, gives_the_event_back_only_as_its_own_type) {
  const price_changed event{250};
  const auto ref = courier::event_ref::of(event);
  EXPECT_TRUE(ref.is<price_changed>());
  EXPECT_FALSE(ref.is<stock_changed>());
  ASSERT_NE(ref.get_if<price_changed>(), nullptr);
  EXPECT_EQ(ref.get_if<price_changed>(), &event);
  EXPECT_EQ(ref.get_if<stock_changed>(), nullptr);
}

TEST(event_ref, names_the_type_and_formats_as_it) {
  const auto ref = courier::event_ref::of(stock_changed{3});
  EXPECT_NE(ref.type_name().find("stock_changed"), std::string_view::npos);
  EXPECT_EQ(fmt::format("{}", ref), ref.type_name());
}

}  // namespace
