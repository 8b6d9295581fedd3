// libFuzzer: decode_client_frame (and decode_server_frame) on arbitrary
// bytes must never crash, leak, hang or break an invariant: an error always
// has a code and a message; a frame that decodes encodes back to text that
// decodes to the same op.
#include "courier/ws/frames.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void broken() { __builtin_trap(); }

std::size_t op_of(const courier::ws::client_frame& frame) { return frame.index(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = courier::ws::decode_client_frame(text);
  if (const auto* error = std::get_if<courier::ws::frame_error>(&decoded)) {
    if (courier::ws::info(error->code).name.empty() || error->message.empty()) broken();
  } else {
    const auto& frame = std::get<courier::ws::client_frame>(decoded);
    const std::string again = std::visit([](const auto& each) { return courier::ws::encode(each); }, frame);
    auto round_trip = courier::ws::decode_client_frame(again);
    const auto* back = std::get_if<courier::ws::client_frame>(&round_trip);
    if (back == nullptr || op_of(*back) != op_of(frame)) broken();
  }
  auto as_server = courier::ws::decode_server_frame(text);
  if (const auto* error = std::get_if<courier::ws::frame_error>(&as_server)) {
    if (courier::ws::info(error->code).name.empty()) broken();
  }
  return 0;
}
