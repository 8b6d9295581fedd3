// GoogleTest assertions over a recorder<E>, with failure messages that list
// what was recorded (through fmt, see describe.hpp).
//
//   EXPECT_PUBLISHED(delivered, [](const parcel_delivered& d) { return d.parcel == 7; });
//   EXPECT_PUBLISHED_ONCE(delivered, is_parcel(7));
//   EXPECT_NEVER_PUBLISHED(delivered, is_parcel(8));
//   EXPECT_PUBLISHED_IN_ORDER(events, is_pickup(7), is_delivery(7));
//   ASSERT_WAIT(delivered.wait_for(3, 1s));
//
// The only header of the kit that needs GoogleTest; the rest works with any
// test framework (a wait_result converts to bool and has a message()).
#pragma once

#include "courier/testing/describe.hpp"
#include "courier/testing/recorder.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

namespace courier {
inline namespace v1 {
namespace testing {

namespace detail {

template <class Event, class Predicate>
std::vector<std::size_t> matches(const std::vector<Event>& events, Predicate& predicate) {
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (predicate(events[i])) at.push_back(i);
  }
  return at;
}

template <class Event>
::testing::AssertionResult failure(const std::vector<Event>& events, const std::string& expected) {
  return ::testing::AssertionFailure() << "expected " << expected << " of " << event_name<Event>()
                                       << "; recorded " << events.size() << ":\n"
                                       << describe_all(events);
}

}  // namespace detail

// At least one recorded event satisfies predicate.
template <class Event, class Predicate>
::testing::AssertionResult published(const recorder<Event>& events, Predicate predicate) {
  const auto seen = events.events();
  if (!detail::matches(seen, predicate).empty()) return ::testing::AssertionSuccess();
  return detail::failure(seen, "a matching event");
}

// Exactly one recorded event satisfies predicate.
template <class Event, class Predicate>
::testing::AssertionResult published_once(const recorder<Event>& events, Predicate predicate) {
  const auto seen = events.events();
  const auto at = detail::matches(seen, predicate);
  if (at.size() == 1) return ::testing::AssertionSuccess();
  return detail::failure(
      seen, fmt::format("exactly one matching event, found {} (at #{})", at.size(), fmt::join(at, ", #")));
}

// No recorded event satisfies predicate.
template <class Event, class Predicate>
::testing::AssertionResult never_published(const recorder<Event>& events, Predicate predicate) {
  const auto seen = events.events();
  const auto at = detail::matches(seen, predicate);
  if (at.empty()) return ::testing::AssertionSuccess();
  return detail::failure(
      seen, fmt::format("no matching event, found {} (at #{})", at.size(), fmt::join(at, ", #")));
}

// Events satisfying each predicate were recorded in this order (others may
// come between): the first matches predicates[0], a later one predicates[1]...
template <class Event, class... Predicates>
::testing::AssertionResult published_in_order(const recorder<Event>& events, Predicates... predicates) {
  const auto seen = events.events();
  std::size_t next = 0;  // where the search for the next predicate starts
  std::size_t step = 0;
  bool in_order = true;
  auto find_next = [&](auto& predicate) {
    if (!in_order) return;
    while (next < seen.size() && !predicate(seen[next])) ++next;
    if (next == seen.size()) {
      in_order = false;
      return;
    }
    ++next;
    ++step;
  };
  (find_next(predicates), ...);
  if (in_order) return ::testing::AssertionSuccess();
  return detail::failure(seen,
                         fmt::format("{} events in order; matched the first {}, not predicate #{} after them",
                                     sizeof...(Predicates), step, step));
}

// A wait_result as an assertion: on failure, what the recorder saw.
inline ::testing::AssertionResult arrived(const wait_result& waited) {
  if (waited) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << waited.message();
}

}  // namespace testing
}  // namespace v1
}  // namespace courier

#define EXPECT_PUBLISHED(recorder, predicate) EXPECT_TRUE(::courier::testing::published(recorder, predicate))
#define ASSERT_PUBLISHED(recorder, predicate) ASSERT_TRUE(::courier::testing::published(recorder, predicate))
#define EXPECT_PUBLISHED_ONCE(recorder, predicate) \
  EXPECT_TRUE(::courier::testing::published_once(recorder, predicate))
#define ASSERT_PUBLISHED_ONCE(recorder, predicate) \
  ASSERT_TRUE(::courier::testing::published_once(recorder, predicate))
#define EXPECT_NEVER_PUBLISHED(recorder, predicate) \
  EXPECT_TRUE(::courier::testing::never_published(recorder, predicate))
#define ASSERT_NEVER_PUBLISHED(recorder, predicate) \
  ASSERT_TRUE(::courier::testing::never_published(recorder, predicate))
#define EXPECT_PUBLISHED_IN_ORDER(recorder, ...) \
  EXPECT_TRUE(::courier::testing::published_in_order(recorder, __VA_ARGS__))
#define ASSERT_PUBLISHED_IN_ORDER(recorder, ...) \
  ASSERT_TRUE(::courier::testing::published_in_order(recorder, __VA_ARGS__))
#define EXPECT_WAIT(wait) EXPECT_TRUE(::courier::testing::arrived(wait))
#define ASSERT_WAIT(wait) ASSERT_TRUE(::courier::testing::arrived(wait))
