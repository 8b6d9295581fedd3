// courier.v1 frames (docs/protocol.md §2-3): what the server accepts, and the
// error it gives for everything else.
#include "courier/ws/frames.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace {

using courier::ws::client_frame;
using courier::ws::decode_client_frame;
using courier::ws::error_code;
using courier::ws::frame_error;

frame_error refused(std::string_view text) {
  auto decoded = decode_client_frame(text);
  if (auto* error = std::get_if<frame_error>(&decoded)) return *error;
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

template <class Frame>
Frame accepted(std::string_view text) {
  auto decoded = decode_client_frame(text);
  if (auto* error = std::get_if<frame_error>(&decoded)) {
    ADD_FAILURE() << "refused " << text << ": " << courier::ws::info(error->code).name << " "
                  << error->message;
    return {};
  }
  auto& frame = std::get<client_frame>(decoded);
  if (auto* wanted = std::get_if<Frame>(&frame)) return *wanted;
  ADD_FAILURE() << "decoded as another op: " << text;
  return {};
}

TEST(ws_frames, every_client_op_decodes) {
  const auto hello =
      accepted<courier::ws::hello_frame>(R"({"op":"hello","client":"dash","resume":"tok","acked":5})");
  EXPECT_EQ(hello.client, "dash");
  EXPECT_EQ(hello.resume, "tok");
  EXPECT_EQ(hello.acked, 5u);
  const auto subscribe =
      accepted<courier::ws::subscribe_frame>(R"({"op":"subscribe","topics":["a","b"],"ref":"r1"})");
  EXPECT_THAT(subscribe.topics, ::testing::ElementsAre("a", "b"));
  EXPECT_FALSE(subscribe.unsubscribe);
  EXPECT_EQ(subscribe.ref, "r1");
  EXPECT_TRUE(accepted<courier::ws::subscribe_frame>(R"({"op":"unsubscribe","topics":["a"]})").unsubscribe);
  const auto ack = accepted<courier::ws::ack_frame>(R"({"op":"ack","ids":["x.1"],"upto":3})");
  EXPECT_THAT(ack.ids, ::testing::ElementsAre("x.1"));
  EXPECT_EQ(ack.upto, 3u);
  const auto publish = accepted<courier::ws::publish_frame>(
      R"({"op":"publish","topic":"t","key":"k","group":"g","data":{"n":1}})");
  EXPECT_EQ(publish.topic, "t");
  EXPECT_EQ(publish.key, "k");
  EXPECT_EQ(publish.group, "g");
  EXPECT_EQ(publish.data.at("n").as_int64(), 1);
}

TEST(ws_frames, unknown_fields_are_ignored_and_null_is_absent) {
  const auto hello = accepted<courier::ws::hello_frame>(R"({"op":"hello","client":null,"shoe_size":44})");
  EXPECT_FALSE(hello.client);
}

TEST(ws_frames, malformed_json_and_non_objects) {
  for (const char* text : {"", "{", "not json", "[1,2]", "\"hello\"", "42", "{\"op\":\"hello\"", "{}}"}) {
    EXPECT_EQ(refused(text).code, error_code::malformed_json) << text;
  }
  // Invalid UTF-8 inside a string.
  EXPECT_EQ(refused("{\"op\":\"hello\",\"client\":\"\xff\xfe\"}").code, error_code::malformed_json);
  // Nesting that never closes is not JSON (past the depth limit, the limit
  // is what the parser meets first: bad_value, below).
  EXPECT_EQ(refused(R"({"op":"hello","x":[[[)").code, error_code::malformed_json);
}

// A frame of `levels` levels of nesting, the frame object being the first:
// its deepest part sits in field (data, or a field nobody knows).
std::string nested_frame(std::string_view op_and_fields, std::string_view field, std::size_t levels) {
  return "{" + std::string(op_and_fields) + ",\"" + std::string(field) +
         "\":" + std::string(levels - 1, '[') + std::string(levels - 1, ']') + "}";
}

TEST(ws_frames, valid_json_nests_up_to_the_documented_depth_anywhere_and_deeper_is_a_bad_value) {
  constexpr std::size_t limit = courier::ws::max_json_depth;
  static_assert(limit == 128, "docs/protocol.md §2 states 128");
  const std::string publish = R"("op":"publish","topic":"t")";
  EXPECT_EQ(accepted<courier::ws::publish_frame>(nested_frame(publish, "data", limit)).topic, "t");
  EXPECT_TRUE(
      accepted<courier::ws::hello_frame>(nested_frame(R"("op":"hello","client":"c")", "shoe_size", limit))
          .client);
  for (const auto& frame :
       {nested_frame(publish, "data", limit + 1), nested_frame(R"("op":"hello")", "x", limit + 1),
        std::string(100000, '[') + std::string(100000, ']')}) {
    const auto error = refused(frame);
    EXPECT_EQ(error.code, error_code::bad_value) << "valid JSON is not malformed";
    EXPECT_THAT(error.message, ::testing::HasSubstr("128")) << "the error names the limit";
  }
}

TEST(ws_frames, op_problems) {
  EXPECT_EQ(refused(R"({"topics":["a"]})").code, error_code::missing_field);
  EXPECT_EQ(refused(R"({"op":null})").code, error_code::missing_field);
  EXPECT_EQ(refused(R"({"op":7})").code, error_code::wrong_type);
  const auto unknown = refused(R"({"op":"teleport","ref":"r9"})");
  EXPECT_EQ(unknown.code, error_code::unknown_op);
  EXPECT_EQ(unknown.ref, "r9") << "an error names the frame it is about";
  // An op is any string: one that names no op is unknown_op, long or empty.
  EXPECT_EQ(refused(R"({"op":")" + std::string(33, 'x') + R"("})").code, error_code::unknown_op);
  EXPECT_EQ(refused(R"({"op":""})").code, error_code::unknown_op);
  // A refused frame says which op it was (the server closes on any bad hello).
  EXPECT_EQ(refused(R"({"op":"hello","client":""})").op, "hello");
}

TEST(ws_frames, missing_fields_wrong_types_and_bad_values_name_the_field) {
  struct expectation {
    const char* text;
    error_code code;
    const char* field;
  };
  const expectation cases[] = {
      {R"({"op":"subscribe"})", error_code::missing_field, "topics"},
      {R"({"op":"subscribe","topics":"a"})", error_code::wrong_type, "topics"},
      {R"({"op":"subscribe","topics":[1]})", error_code::wrong_type, "topics"},
      {R"({"op":"subscribe","topics":[]})", error_code::bad_value, "topics"},
      {R"({"op":"subscribe","topics":[""]})", error_code::bad_value, "topics"},
      {R"({"op":"ack"})", error_code::missing_field, "ids"},
      {R"({"op":"ack","ids":[5]})", error_code::wrong_type, "ids"},
      {R"({"op":"ack","upto":-1})", error_code::wrong_type, "upto"},
      {R"({"op":"ack","upto":1.5})", error_code::wrong_type, "upto"},
      {R"({"op":"ack","upto":"3"})", error_code::wrong_type, "upto"},
      {R"({"op":"ack","upto":9007199254740992})", error_code::wrong_type, "upto"},
      {R"({"op":"publish","data":{}})", error_code::missing_field, "topic"},
      {R"({"op":"publish","topic":"t"})", error_code::missing_field, "data"},
      {R"({"op":"publish","topic":"t","data":null})", error_code::missing_field, "data"},
      {R"({"op":"publish","topic":"t","data":{},"key":7})", error_code::wrong_type, "key"},
      {R"({"op":"hello","acked":true})", error_code::wrong_type, "acked"},
      {R"({"op":"hello","ref":5})", error_code::wrong_type, "ref"},
  };
  for (const auto& each : cases) {
    const auto error = refused(each.text);
    EXPECT_EQ(error.code, each.code) << each.text;
    EXPECT_EQ(error.field, each.field) << each.text;
    EXPECT_FALSE(error.message.empty());
  }
  EXPECT_EQ(refused(R"({"op":"publish","topic":")" + std::string(129, 't') + R"(","data":1})").code,
            error_code::bad_value);
  // Found by the fuzzer: a number too large for a double parses as infinity,
  // which no JSON writer can put back.
  EXPECT_EQ(refused(R"({"op":"publish","topic":"t","data":{"n":[8888728888888888888e8888888]}})").code,
            error_code::bad_value);
  EXPECT_EQ(refused(R"({"op":"ack","ids":[")" + std::string(65, 'i') + R"("]})").code, error_code::bad_value);
}

// A server frame's text decoded back as Frame (a copy: the variant is a temporary).
template <class Frame>
Frame server_as(const std::string& text) {
  auto decoded = courier::ws::decode_server_frame(text);
  if (auto* error = std::get_if<frame_error>(&decoded)) {
    ADD_FAILURE() << "refused " << text << ": " << error->message;
    return {};
  }
  return std::get<Frame>(std::get<courier::ws::server_frame>(decoded));
}

TEST(ws_frames, server_frames_round_trip) {
  courier::ws::event_frame event{
      .id = "r.1", .seq = 7, .topic = "t", .group = "g", .data = R"({"n":1})", .attempt = 2};
  const auto back = server_as<courier::ws::event_frame>(courier::ws::encode(event));
  EXPECT_EQ(back.id, "r.1");
  EXPECT_EQ(back.seq, 7u);
  EXPECT_EQ(back.group, "g");
  EXPECT_EQ(back.data, R"({"n":1})");
  EXPECT_EQ(back.attempt, 2u);

  courier::ws::welcome_frame welcome{
      .session = "s", .resume = "tok", .resumed = true, .acked = 3, .topics = {"a"}};
  welcome.limits.window = 8;
  const auto w = server_as<courier::ws::welcome_frame>(courier::ws::encode(welcome));
  EXPECT_TRUE(w.resumed);
  EXPECT_EQ(w.acked, 3u);
  EXPECT_EQ(w.limits.window, 8u);

  auto error = courier::ws::make_error(error_code::unknown_id, "m");
  error.ids = {"x"};
  const auto e = server_as<courier::ws::error_frame>(courier::ws::encode(error));
  EXPECT_EQ(e.code, "unknown_id");
  EXPECT_THAT(e.ids, ::testing::ElementsAre("x"));
  // Strings with quotes and control characters survive the hand-written event encoder.
  event.id = "a\"b\\c\n";
  const auto tricky = server_as<courier::ws::event_frame>(courier::ws::encode(event));
  EXPECT_EQ(tricky.id, "a\"b\\c\n");
}

}  // namespace
