// courier/asio.hpp: channel::async_receive and async_send, and
// delivery_receipt::async_wait, with each kind of completion token; what a
// cancellation, a close and a destroyed channel do to a pending operation;
// and that a receive raced against a timer never loses or doubles a message.
#include "courier/asio.hpp"

#include "courier/bus.hpp"
#if COURIER_TEST_SQLITE
#include "courier/sqlite/durable.hpp"
#endif

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;

struct job {
  int number = 0;
};

const error_code closed = courier::asio_error(courier::errc::channel_closed);

// A plain callback's associated executor is Asio's system executor (a
// thread pool); these tests run their handlers on their io_context.
template <class Handler>
auto on(asio::io_context& io, Handler handler) {
  return asio::bind_executor(io.get_executor(), std::move(handler));
}

TEST(asio, a_callback_receives_what_was_sent_before) {
  asio::io_context io;
  courier::channel<job> channel;
  channel.send(job{7});
  std::vector<int> got;
  error_code result = asio::error::would_block;
  channel.async_receive(4, on(io, [&](error_code code, std::vector<courier::delivery<job>> batch) {
                          result = code;
                          for (auto& d : batch) {
                            got.push_back(d.message().number);
                            d.ack();
                          }
                        }));
  EXPECT_TRUE(got.empty()) << "the handler runs on the io_context, never inside the initiating call";
  io.run();
  EXPECT_FALSE(result);
  EXPECT_EQ(got, std::vector<int>{7});
  EXPECT_EQ(channel.stats().waiting, 0u);
}

TEST(asio, a_parked_receive_is_woken_by_a_send_from_another_thread) {
  asio::io_context io;
  courier::channel<job> channel;
  int got = 0;
  channel.async_receive(1, on(io, [&](error_code code, std::vector<courier::delivery<job>> batch) {
                          ASSERT_FALSE(code) << code.message();
                          got = batch.at(0).message().number;
                          batch[0].ack();
                        }));
  std::thread producer([&] {
    // Runs while the receive is parked, or before it first looks: either way it completes.
    channel.send(job{42});
  });
  io.run();  // returns once the receive completed: it holds work on the io_context until then
  producer.join();
  EXPECT_EQ(got, 42);
}

TEST(asio, use_future_and_deferred_work_as_tokens) {
  asio::io_context io;
  courier::channel<job> channel;
  channel.send(job{1});
  channel.send(job{2});
  auto future = channel.async_receive(1, asio::use_future);
  auto later = channel.async_receive(1, asio::deferred);  // nothing happens until it is launched
  std::thread runner([&] { io.run(); });
  auto first = future.get();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].message().number, 1);
  first[0].ack();
  runner.join();
  EXPECT_EQ(channel.stats().in_flight, 0u) << "the deferred receive has not run yet";
  io.restart();
  int second = 0;
  std::move(later)(on(io, [&](error_code code, std::vector<courier::delivery<job>> batch) {
    ASSERT_FALSE(code);
    second = batch.at(0).message().number;
    batch[0].ack();
  }));
  io.run();
  EXPECT_EQ(second, 2);
}

TEST(asio, a_coroutine_receives_acks_and_awaits_the_senders_receipt) {
  asio::io_context io;
  courier::channel<job> channel;
  courier::delivery_outcome outcome{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Named, not a braced temporary in the co_await expression: GCC 12
        // copies such a temporary bitwise and frees its string twice.
        courier::send_options tracked{.track_delivery = true};
        auto sent = co_await channel.async_send(job{5}, std::move(tracked), asio::use_awaitable);
        auto batch = co_await channel.async_receive(1, asio::use_awaitable);
        EXPECT_EQ(batch.at(0).id(), sent.id);
        batch[0].ack();
        outcome = co_await sent.receipt.async_wait(asio::use_awaitable);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(outcome, courier::delivery_outcome::acked);
}

TEST(asio, a_receipt_wait_completes_when_the_consumer_acks_on_another_thread) {
  asio::io_context io;
  courier::channel<job> channel;
  auto sent = channel.send(job{1}, {.track_delivery = true});
  std::optional<courier::delivery_outcome> told;
  sent.receipt.async_wait(on(io, [&](error_code code, courier::delivery_outcome outcome) {
    ASSERT_FALSE(code);
    told = outcome;
  }));
  std::thread consumer([&] { channel.receive(1, 1s).at(0).ack(); });
  io.run();
  consumer.join();
  EXPECT_EQ(told, courier::delivery_outcome::acked);
}

TEST(asio, a_cancelled_receipt_wait_completes_aborted_and_the_receipt_still_knows) {
  asio::io_context io;
  courier::channel<job> channel;
  auto sent = channel.send(job{1}, {.track_delivery = true});
  asio::cancellation_signal cancel;
  error_code result;
  sent.receipt.async_wait(asio::bind_cancellation_slot(
      cancel.slot(), on(io, [&](error_code code, courier::delivery_outcome) { result = code; })));
  cancel.emit(asio::cancellation_type::terminal);
  io.run();
  EXPECT_EQ(result, asio::error::operation_aborted);
  channel.receive(1).at(0).ack();
  EXPECT_EQ(sent.receipt.peek(), courier::delivery_outcome::acked);
}

TEST(asio, a_cancelled_receive_takes_nothing_and_the_next_receive_sees_a_first_delivery) {
  asio::io_context io;
  courier::channel<job> channel;
  asio::cancellation_signal cancel;
  error_code result;
  std::size_t got = 99;
  channel.async_receive(
      1, asio::bind_cancellation_slot(cancel.slot(),
                                      on(io, [&](error_code code, std::vector<courier::delivery<job>> b) {
                                        result = code;
                                        got = b.size();
                                      })));
  io.poll();  // the receive has looked and parked
  cancel.emit(asio::cancellation_type::terminal);
  io.run();
  EXPECT_EQ(result, asio::error::operation_aborted);
  EXPECT_EQ(got, 0u);
  channel.send(job{3});
  auto next = channel.receive(1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].receive_count(), 1u);
}

TEST(asio, a_message_taken_by_a_receive_that_is_then_cancelled_goes_back_with_its_receive_count) {
  asio::io_context io;
  courier::channel<job> channel;
  channel.send(job{6});
  asio::cancellation_signal cancel;
  error_code result;
  std::size_t got = 99;
  // The receive takes the message as it starts; its completion is not run yet.
  channel.async_receive(
      1, asio::bind_cancellation_slot(cancel.slot(),
                                      on(io, [&](error_code code, std::vector<courier::delivery<job>> b) {
                                        result = code;
                                        got = b.size();
                                      })));
  EXPECT_EQ(channel.stats().in_flight, 1u);
  cancel.emit(asio::cancellation_type::terminal);
  io.run();
  EXPECT_EQ(result, asio::error::operation_aborted);
  EXPECT_EQ(got, 0u);
  auto next = channel.receive(1);  // visible at once: no visibility timeout to wait out
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].message().number, 6);
  EXPECT_EQ(next[0].receive_count(), 1u);
}

TEST(asio, a_receive_cancelled_after_it_was_woken_passes_the_message_on) {
  asio::io_context io;
  courier::channel<job> channel;
  asio::cancellation_signal cancel;
  error_code first_result, second_result;
  int second_got = 0;
  channel.async_receive(
      1, asio::bind_cancellation_slot(
             cancel.slot(),
             on(io, [&](error_code code, std::vector<courier::delivery<job>>) { first_result = code; })));
  channel.async_receive(1, on(io, [&](error_code code, std::vector<courier::delivery<job>> batch) {
                          second_result = code;
                          if (!code) second_got = batch.at(0).message().number;
                        }));
  io.poll();             // both parked, the first one first
  channel.send(job{9});  // wakes the first: its attempt is posted, not yet run
  cancel.emit(asio::cancellation_type::terminal);
  io.run();
  EXPECT_EQ(first_result, asio::error::operation_aborted);
  EXPECT_FALSE(second_result);
  EXPECT_EQ(second_got, 9) << "the cancelled receive handed its wake-up to the other one";
}

TEST(asio, a_parked_receive_redelivers_when_a_visibility_timeout_runs_out) {
  asio::io_context io;
  courier::channel<job> channel({.visibility_timeout = 30ms});
  channel.send(job{4});
  auto held = channel.receive(1);  // in flight, never acked
  ASSERT_EQ(held.size(), 1u);
  std::uint32_t receive_count = 0;
  channel.async_receive(1, on(io, [&](error_code code, std::vector<courier::delivery<job>> batch) {
                          ASSERT_FALSE(code);
                          receive_count = batch.at(0).receive_count();
                        }));
  io.run();  // nobody else calls the channel: the operation's own timer brings the message back
  EXPECT_EQ(receive_count, 2u);
}

TEST(asio, a_cancelled_receive_leaves_no_timer_keeping_run_going) {
  asio::io_context io;
  courier::channel<job> channel({.visibility_timeout = 10min});
  channel.send(job{1});
  auto held = channel.receive(1);  // in flight: something falls due in 10 minutes
  asio::cancellation_signal cancel;
  error_code result;
  channel.async_receive(
      1, asio::bind_cancellation_slot(
             cancel.slot(),
             on(io, [&](error_code code, std::vector<courier::delivery<job>>) { result = code; })));
  io.poll();  // parked, its timer set for the visibility timeout
  cancel.emit(asio::cancellation_type::terminal);
  io.run_for(5s);
  EXPECT_EQ(result, asio::error::operation_aborted);
  EXPECT_TRUE(io.stopped()) << "run() still had work: the parked receive's timer outlived it";
}

TEST(asio, close_completes_every_pending_receive_and_send_with_channel_closed) {
  asio::io_context io;
  courier::channel<job> channel({.capacity = 1});
  channel.send(job{0});  // full
  std::vector<error_code> results;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          courier::send_options plain;  // named: see the GCC 12 note above
          auto [code, sent] =
              co_await channel.async_send(job{i + 1}, std::move(plain), asio::as_tuple(asio::use_awaitable));
          results.push_back(code);
        },
        asio::detached);
  }
  courier::channel<job> empty;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto [code, batch] = co_await empty.async_receive(1, asio::as_tuple(asio::use_awaitable));
          results.push_back(code);
        },
        asio::detached);
  }
  io.poll();  // all six parked
  EXPECT_TRUE(results.empty());
  channel.close();
  empty.close();
  io.run();
  ASSERT_EQ(results.size(), 6u);
  for (const auto& code : results) EXPECT_EQ(code, closed) << code.message();
  try {
    channel.send(job{9});
    ADD_FAILURE() << "a closed channel accepted a send";
  } catch (const courier::error& e) {
    EXPECT_EQ(e.code(), courier::errc::channel_closed);
  }
}

TEST(asio, a_receive_pending_when_its_channel_is_destroyed_completes_with_channel_closed) {
  asio::io_context io;
  error_code result;
  {
    courier::channel<job> channel;
    channel.async_receive(
        1, on(io, [&](error_code code, std::vector<courier::delivery<job>>) { result = code; }));
    io.poll();
  }
  io.run();
  EXPECT_EQ(result, closed);
}

TEST(asio, an_async_send_waits_for_room_and_a_cancelled_one_sends_nothing) {
  asio::io_context io;
  courier::channel<job> channel({.capacity = 1});
  channel.send(job{1});
  std::optional<courier::send_result> waited;
  channel.async_send(job{2}, {}, on(io, [&](error_code code, courier::send_result sent) {
                       ASSERT_FALSE(code) << code.message();
                       waited = sent;
                     }));
  asio::cancellation_signal cancel;
  error_code cancelled_result;
  channel.async_send(
      job{3}, {},
      asio::bind_cancellation_slot(
          cancel.slot(), on(io, [&](error_code code, courier::send_result) { cancelled_result = code; })));
  io.poll();
  EXPECT_FALSE(waited) << "no room yet";
  cancel.emit(asio::cancellation_type::terminal);
  channel.receive(1).at(0).ack();  // room for one
  io.run();
  ASSERT_TRUE(waited);
  EXPECT_EQ(cancelled_result, asio::error::operation_aborted);
  auto rest = channel.receive(8);
  ASSERT_EQ(rest.size(), 1u) << "the cancelled send was not queued";
  EXPECT_EQ(rest[0].message().number, 2);
  EXPECT_EQ(rest[0].id(), waited->id);
}

TEST(asio, an_async_send_reports_a_missing_group_and_a_duplicate_like_send) {
  asio::io_context io;
  courier::channel<job> fifo({.ordering = courier::ordering::fifo});
  error_code refused;
  fifo.async_send(job{1}, {}, on(io, [&](error_code code, courier::send_result) { refused = code; }));
  courier::send_result first, again;
  fifo.async_send(job{1}, {.group = "g", .idempotency_key = "k"},
                  on(io, [&](error_code, courier::send_result r) { first = r; }));
  io.run();
  io.restart();
  fifo.async_send(job{1}, {.group = "g", .idempotency_key = "k"},
                  on(io, [&](error_code, courier::send_result r) { again = r; }));
  io.run();
  EXPECT_EQ(refused, courier::asio_error(courier::errc::missing_group));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.id, first.id);
}

TEST(asio, fifo_groups_keep_their_order_through_async_receives) {
  asio::io_context io;
  courier::channel<job> channel({.ordering = courier::ordering::fifo});
  for (int i = 0; i < 50; ++i) channel.send(job{i}, {.group = i % 2 == 0 ? "even" : "odd"});
  std::vector<int> even, odd;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (even.size() + odd.size() < 50) {
          auto batch = co_await channel.async_receive(8, asio::use_awaitable);
          for (auto& d : batch) {
            (d.group() == "even" ? even : odd).push_back(d.message().number);
            d.ack();
          }
        }
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(std::is_sorted(even.begin(), even.end()));
  EXPECT_TRUE(std::is_sorted(odd.begin(), odd.end()));
  EXPECT_EQ(even.size(), 25u);
}

// The cancellation guarantee under load: a producer thread sends while a
// coroutine receives against a timer that often wins, for a fixed number of
// receive || timer rounds; then the producer stops and the rest is
// received. Every message must arrive exactly once, each on its first
// delivery (a message a cancelled receive had taken would come back with
// receive count 2 after the visibility timeout, or not at all). io_threads
// > 1: the coroutine runs on a strand of an io_context that several threads
// run.
#if defined(__SANITIZE_ADDRESS__)
// ASan looks for memory errors, which a fifth of the run shows as well; the
// full run is for the race itself (dev and TSan builds).
constexpr int full_race = 20'000;
#else
constexpr int full_race = 100'000;
#endif
void race_receives_against_a_timer(int io_threads, int rounds) {
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  asio::io_context io;
  // Room for one: the next message lands only after the last one was taken,
  // so the receiver is often parked when it lands, and its timer (0-20 us)
  // often fires close to that moment, at any speed (a sanitizer's too).
  courier::channel<job> channel({.visibility_timeout = 10min, .capacity = 1, .send_timeout = 100ms});
  std::atomic<bool> stop{false};
  std::atomic<int> produced{-1};  // known once the producer has stopped
  std::thread producer([&] {
    int next = 0;
    while (!stop.load()) {
      try {
        channel.send(job{next});
        ++next;
      } catch (const courier::error&) {  // full for 100 ms: look at stop again
      }
    }
    produced = next;
  });
  std::vector<int> seen;
  int timeouts = 0, received = 0, wrong_count = 0;
  asio::co_spawn(
      asio::make_strand(io),
      [&]() -> asio::awaitable<void> {
        std::minstd_rand random(seed);
        asio::steady_timer timer(co_await asio::this_coro::executor);
        std::optional<std::chrono::steady_clock::time_point> give_up;
        for (int round = 0;; ++round) {
          if (round == rounds) stop = true;
          if (const int total = produced.load(); total >= 0) {
            if (received == total) break;
            // A lost message never comes: stop after 5 s, the checks below say what is missing.
            if (!give_up) give_up = std::chrono::steady_clock::now() + 5s;
            if (std::chrono::steady_clock::now() > *give_up) break;
          }
          timer.expires_after(std::chrono::microseconds(random() % 21));
          auto won = co_await (channel.async_receive(1 + random() % 4, asio::use_awaitable) ||
                               timer.async_wait(asio::use_awaitable));
          if (won.index() == 1) {
            ++timeouts;
            continue;
          }
          for (auto& d : std::get<0>(won)) {
            const auto number = static_cast<std::size_t>(d.message().number);
            if (number >= seen.size()) seen.resize(number + 1, 0);
            ++seen[number];
            if (d.receive_count() != 1) ++wrong_count;
            d.ack();
            ++received;
          }
        }
      },
      asio::detached);
  std::vector<std::thread> runners;
  for (int i = 1; i < io_threads; ++i) runners.emplace_back([&] { io.run(); });
  io.run();
  for (auto& runner : runners) runner.join();
  stop = true;
  producer.join();
  const int total = produced.load();
  seen.resize(static_cast<std::size_t>(std::max(total, 0)), 0);
  int missing = 0, doubled = 0;
  for (int count : seen) {
    if (count == 0) ++missing;
    if (count > 1) ++doubled;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(doubled, 0);
  EXPECT_EQ(wrong_count, 0);
  EXPECT_EQ(received, total);
  EXPECT_GT(timeouts, rounds / 1000) << "the timer seldom won: the race was not exercised";
  std::printf("%d rounds: the timer won %d, %d messages\n", rounds, timeouts, received);
  EXPECT_EQ(channel.stats().in_flight, 0u);
  EXPECT_EQ(channel.stats().waiting, 0u);
}

TEST(asio, a_receive_raced_against_a_timer_never_loses_or_doubles_a_message) {
  race_receives_against_a_timer(1, full_race);
}

TEST(asio, the_same_race_on_a_strand_run_by_two_threads_loses_nothing_either) {
  race_receives_against_a_timer(2, full_race / 5);  // the same code under a second thread: a shorter run
}

#if COURIER_TEST_SQLITE
TEST(asio, an_async_send_to_a_durable_channel_completes_once_its_message_is_written) {
  const auto path =
      std::filesystem::temp_directory_path() / ("courier_asio_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  courier::send_result first;
  {
    asio::io_context io;
    auto store = courier::sqlite::store::open(path);
    courier::channel<std::string> channel({.durable = courier::sqlite::durable<std::string>(store, "jobs")});
    std::optional<error_code> result;
    channel.async_send("parcel 7", {.idempotency_key = "p7"},
                       on(io, [&](error_code code, courier::send_result sent) {
                         result = code;
                         first = sent;
                       }));
    io.run();  // returns only after the journal reported the write
    ASSERT_TRUE(result);
    EXPECT_FALSE(*result) << result->message();
  }
  auto store =
      courier::sqlite::store::open(path);  // reopened: the message was durable when the send completed
  courier::channel<std::string> channel({.durable = courier::sqlite::durable<std::string>(store, "jobs")});
  auto kept = channel.receive(1);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].message(), "parcel 7");
  EXPECT_EQ(kept[0].id(), first.id);
  kept[0].ack();
  std::filesystem::remove(path);
}
#endif

#if COURIER_TEST_SQLITE
TEST(asio, an_async_send_whose_write_fails_completes_with_storage_failed) {
  const auto path =
      std::filesystem::temp_directory_path() / ("courier_asio_full_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  asio::io_context io;
  auto store = courier::sqlite::store::open(path, {.max_size = 64 * 1024});  // a disk that fills up
  courier::channel<std::string> channel({.durable = courier::sqlite::durable<std::string>(store, "jobs")});
  std::optional<error_code> result;
  channel.async_send(std::string(256 * 1024, 'x'), {},
                     on(io, [&](error_code code, courier::send_result) { result = code; }));
  io.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, courier::asio_error(courier::errc::storage_failed)) << result->message();
  EXPECT_EQ(channel.stats().waiting, 0u) << "a message that was never durable is not kept";
  std::filesystem::remove(path);
}
#endif

struct scanned {
  int publisher = 0;
  int sequence = 0;
};

// Runs io on `threads` threads until the returned guard is reset and the
// work is done.
struct io_threads {
  io_threads(asio::io_context& io, int threads) : work(asio::make_work_guard(io)) {
    for (int i = 0; i < threads; ++i) runners.emplace_back([&io] { io.run(); });
  }
  ~io_threads() {
    work.reset();
    for (auto& runner : runners) runner.join();
  }
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::thread> runners;
};

TEST(asio, an_observer_on_an_io_context_keeps_each_publishers_order_and_never_runs_twice_at_once) {
  constexpr int per_publisher = 20'000;
  asio::io_context io;
  courier::bus bus;
  std::atomic<int> running{0}, overlaps{0}, seen{0};
  std::vector<int> last(2, -1);
  int out_of_order = 0;
  auto subscription = bus.subscribe<scanned>(
      [&](const scanned& scan) {
        if (running.fetch_add(1) != 0) ++overlaps;
        if (scan.sequence <= last[scan.publisher]) ++out_of_order;  // plain data: calls never overlap
        last[scan.publisher] = scan.sequence;
        running.fetch_sub(1);
        seen.fetch_add(1);
      },
      {.executor = courier::on(io.get_executor())});
  {
    io_threads runners(io, 2);
    std::vector<std::thread> publishers;
    for (int publisher = 0; publisher < 2; ++publisher) {
      publishers.emplace_back([&, publisher] {
        for (int i = 0; i < per_publisher; ++i) bus.publish(scanned{publisher, i});
      });
    }
    for (auto& publisher : publishers) publisher.join();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (seen.load() < 2 * per_publisher && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  }
  EXPECT_EQ(seen.load(), 2 * per_publisher);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(out_of_order, 0);
}

TEST(asio, an_observer_disconnected_while_events_are_queued_for_it_never_runs_after_disconnect_returns) {
  asio::io_context io;
  courier::bus bus;
  std::atomic<bool> disconnected{false}, publishing{true};
  std::atomic<int> calls{0}, late{0};
  auto subscription = bus.subscribe<scanned>(
      [&](const scanned&) {
        if (disconnected.load()) ++late;
        calls.fetch_add(1);
      },
      {.executor = courier::on(io.get_executor())});
  io_threads runners(io, 2);
  std::thread publisher([&] {
    for (int i = 0; publishing.load(); ++i) bus.publish(scanned{0, i});
  });
  while (calls.load() < 1000) std::this_thread::yield();  // events flowing, some queued
  subscription.disconnect();
  disconnected = true;
  const int at_disconnect = calls.load();
  publishing = false;
  publisher.join();
  EXPECT_EQ(late.load(), 0);
  EXPECT_EQ(calls.load(), at_disconnect);
}

}  // namespace
