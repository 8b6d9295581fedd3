// courier::sqlite::durable<T>(): the channel option that keeps a channel in
// a SQLite store (see store.hpp and channel_journal.hpp).
//
//   courier::channel<pickup> pickups({
//       .ordering = courier::ordering::fifo,
//       .durable = courier::sqlite::durable<pickup>("pickups.db"),
//   });
//
// Bodies are stored as bytes: a std::string as it is, a struct described
// with Boost.Describe as JSON (courier::json), any other type through the
// encode/decode pair you pass.
#pragma once

#include "courier/channel_journal.hpp"
#include "courier/json/codec.hpp"
#include "courier/sqlite/store.hpp"

#include <boost/describe.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace courier {
inline namespace v1 {
namespace sqlite {

// The channel called name in store, with the given codec.
template <class T>
durability<T> durable(const std::shared_ptr<store>& in, std::string_view name,
                      std::function<std::string(const T&)> encode,
                      std::function<T(std::string_view)> decode) {
  return durability<T>{in->journal(name), std::move(encode), std::move(decode)};
}

// The channel called name in store, with the codec chosen by T (see above).
template <class T>
durability<T> durable(const std::shared_ptr<store>& in, std::string_view name = "channel") {
  if constexpr (std::is_same_v<T, std::string>) {
    return durable<T>(
        in, name, [](const std::string& body) { return body; },
        [](std::string_view bytes) { return std::string(bytes); });
  } else {
    static_assert(boost::describe::has_describe_members<T>::value,
                  "courier::sqlite::durable<T>: T is neither std::string nor described with "
                  "BOOST_DESCRIBE_STRUCT; pass encode and decode functions");
    return durable<T>(
        in, name, [](const T& body) { return json::encode(body); },
        [](std::string_view bytes) { return json::decode<T>(bytes); });
  }
}

// A store of its own at path, holding this one channel.
template <class T>
durability<T> durable(const std::filesystem::path& path, store_options options = {}) {
  return durable<T>(store::open(path, std::move(options)));
}

}  // namespace sqlite
}  // namespace v1
}  // namespace courier
