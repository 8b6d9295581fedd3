// sqs::channel's Asio operations (courier/sqs/asio.hpp) against moto_server
// (fixture moto): coroutines, callbacks and futures; cancellation of a long
// poll and of a receive whose poll had already taken a message; the
// channel destroyed under a pending operation.
#include "courier/sqs/asio.hpp"

#include "queue_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/describe.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

struct pickup {
  std::string vendor;
  int parcel;
};
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using courier::sqs::delivery;

struct sqs_asio : courier_test::queue_fixture {
  std::string attribute(const std::string& url, const std::string& name) {
    return sqs.get_queue_attributes(url, {name}).at(name);
  }
};

// The code of the courier::error in failure ("none" when there is none).
std::string error_of(std::exception_ptr failure) {
  if (!failure) return "none";
  try {
    std::rethrow_exception(failure);
  } catch (const courier::sqs::error& e) {
    return e.aws_code();
  } catch (const courier::error& e) {
    return e.code().message();
  }
}

TEST_F(sqs_asio, coroutines_send_receive_and_ack) {
  const std::string url = queue(false);
  asio::io_context io;  // before the channel: its threads post to io until the channel is gone
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url});
  std::vector<int> parcels;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int parcel = 1; parcel <= 3; ++parcel) {
          pickup next{"acme", parcel};
          courier::send_options plain;
          const courier::sqs::sent sent =
              co_await pickups.async_send(std::move(next), std::move(plain), asio::use_awaitable);
          EXPECT_FALSE(sent.message_id.empty());
        }
        for (int round = 0; round < 10 && parcels.size() < 3; ++round) {
          auto batch = co_await pickups.async_receive(10, 1s, asio::use_awaitable);
          for (auto& item : batch) {
            parcels.push_back(item.message().parcel);
            item.ack();
          }
        }
      },
      [&](std::exception_ptr thrown) { failure = thrown; });
  io.run();
  ASSERT_EQ(error_of(failure), "none");
  std::sort(parcels.begin(), parcels.end());
  EXPECT_EQ(parcels, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(attribute(url, "ApproximateNumberOfMessages"), "0");
  EXPECT_EQ(attribute(url, "ApproximateNumberOfMessagesNotVisible"), "0");
}

TEST_F(sqs_asio, the_handler_runs_on_its_executor_and_not_on_the_callers_thread) {
  asio::io_context io;
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(false)});
  pickups.send(pickup{"acme", 5});
  bool on_io = false;
  std::vector<int> parcels;
  pickups.async_receive(
      1, 2s, asio::bind_executor(io, [&](std::exception_ptr failure, std::vector<delivery<pickup>> batch) {
        EXPECT_EQ(error_of(failure), "none");
        on_io = io.get_executor().running_in_this_thread();
        for (auto& item : batch) parcels.push_back(item.message().parcel);
      }));
  io.run();
  EXPECT_TRUE(on_io);
  EXPECT_EQ(parcels, (std::vector<int>{5}));
}

TEST_F(sqs_asio, a_long_poll_raced_against_a_timer_ends_when_the_timer_wins) {
  asio::io_context io;
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(false)});
  std::size_t winner = 99;
  const auto started = std::chrono::steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer timer(io, 300ms);
        auto first = co_await (pickups.async_receive(10, 20s, asio::use_awaitable) ||
                               timer.async_wait(asio::use_awaitable));
        winner = first.index();
      },
      asio::detached);
  io.run();  // returns once the cancelled poll completed too
  EXPECT_EQ(winner, 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the 20 s poll was abandoned";
}

TEST_F(sqs_asio, a_receive_cancelled_after_its_poll_took_a_message_puts_it_back_at_once) {
  const std::string url = queue(false, {{"VisibilityTimeout", "60"}});
  // Not running yet: the receive cannot complete before the cancellation.
  // Declared before the channel, whose threads post to it until the channel is gone.
  asio::io_context io;
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url});
  pickups.send(pickup{"acme", 7});
  asio::cancellation_signal signal;
  std::exception_ptr failure;
  std::size_t handed_over = 99;
  pickups.async_receive(1, 5s,
                        asio::bind_cancellation_slot(
                            signal.slot(), asio::bind_executor(io, [&](std::exception_ptr error,
                                                                       std::vector<delivery<pickup>> batch) {
                              failure = error;
                              handed_over = batch.size();
                            })));
  // The operation's poll returned with the message (the channel counted it
  // as received; the completion is waiting for io, which is not running).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (pickups.stats().received != 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the poll never took the message";
    std::this_thread::yield();
  }
  signal.emit(asio::cancellation_type::terminal);
  io.run();
  EXPECT_EQ(error_of(failure), "Cancelled");
  EXPECT_EQ(handed_over, 0u);
  // Visible again at once, not after its 60 s visibility timeout.
  auto again = pickups.receive(1, 2s);
  ASSERT_EQ(again.size(), 1u) << "the cancelled receive's message was left invisible";
  EXPECT_EQ(again[0].message().parcel, 7);
  EXPECT_EQ(again[0].receive_count(), 2) << "SQS counts the cancelled receive";
}

TEST_F(sqs_asio, destroying_the_channel_completes_a_pending_long_poll_with_channel_closed) {
  const std::string url = queue(false);
  asio::io_context io;
  std::exception_ptr failure;
  bool completed = false;
  const auto started = std::chrono::steady_clock::now();
  {
    courier::sqs::channel<pickup> pickups(sqs, {.queue_url = url});
    pickups.async_receive(10, 20s, asio::bind_executor(io, [&](std::exception_ptr error, auto) {
                            failure = error;
                            completed = true;
                          }));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the destructor waited out the poll";
  io.run();
  EXPECT_TRUE(completed);
  EXPECT_EQ(error_of(failure), courier::make_error_code(courier::errc::channel_closed).message());
}

TEST_F(sqs_asio, failures_come_to_the_handler_as_the_exceptions_the_blocking_calls_throw) {
  asio::io_context io;
  courier::sqs::channel<pickup> pickups(sqs, {.queue_url = queue(true)});
  std::exception_ptr failure;
  pickups.async_send(
      pickup{"acme", 1}, {},
      asio::bind_executor(io, [&](std::exception_ptr error, courier::sqs::sent) { failure = error; }));
  io.run();
  EXPECT_EQ(error_of(failure), courier::make_error_code(courier::errc::missing_group).message());

  courier::sqs::channel<pickup> nowhere(
      sqs, {.queue_url = sqs.settings().endpoint + "/123456789012/no-such-queue"});
  auto pending = nowhere.async_receive(1, 0s, asio::use_future);  // no io_context: a future
  try {
    pending.get();
    ADD_FAILURE() << "a receive from a queue that does not exist succeeded";
  } catch (const courier::sqs::error& e) {
    EXPECT_EQ(e.code(), courier::aws::make_error_code(courier::aws::error_kind::aws_error)) << e.what();
  }
}

}  // namespace
