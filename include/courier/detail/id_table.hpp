// An owning table of heap objects found by a 64-bit id.
//
// A channel's records stay put while they wait, are delivered and
// redelivered (deliveries and group queues point at them), so they live on
// the heap; this table owns them and finds one by id through a flat_index:
// no node allocation per record, one probe usually. R provides
// `std::uint64_t table_key() const`, unique within the table.
// Not thread-safe.
#pragma once

#include "courier/detail/flat_index.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace courier {
inline namespace v1 {
namespace detail {

template <class R>
class id_table {
 public:
  id_table() = default;
  id_table(const id_table&) = delete;
  id_table& operator=(const id_table&) = delete;
  ~id_table() {
    index_.for_each([](std::uint64_t payload) { delete as_object(payload); });
  }

  R* find(std::uint64_t id) const {
    const std::uint64_t found =
        index_.find(hash_of(id), [id](std::uint64_t payload) { return as_object(payload)->table_key() == id; });
    return found == flat_index::npos ? nullptr : as_object(found);
  }

  R& insert(std::unique_ptr<R> object) {
    R* raw = object.release();
    index_.insert(hash_of(raw->table_key()), as_payload(raw));
    return *raw;
  }

  // Removes object from the table and hands it back to the caller, who may
  // destroy it later (outside a lock, say).
  std::unique_ptr<R> take(R& object) {
    const std::uint64_t wanted = as_payload(&object);
    index_.erase(hash_of(object.table_key()), [wanted](std::uint64_t payload) { return payload == wanted; });
    return std::unique_ptr<R>(&object);
  }

  template <class Visit>
  void for_each(Visit&& visit) const {
    index_.for_each([&](std::uint64_t payload) { visit(*as_object(payload)); });
  }

  std::size_t size() const noexcept { return index_.size(); }

 private:
  // Ids come in runs (a channel numbers its messages one after another):
  // four consecutive ids share a hash but for its last two bits, so they
  // sit in neighbouring slots, and a receiver going through a batch in id
  // order reads a new line of the index every fourth record, not each time.
  static std::uint64_t hash_of(std::uint64_t id) noexcept {
    return (mix64(id >> 2) & ~std::uint64_t{3}) | (id & 3);
  }

  static R* as_object(std::uint64_t payload) noexcept { return reinterpret_cast<R*>(payload); }
  static std::uint64_t as_payload(const R* object) noexcept {
    return reinterpret_cast<std::uint64_t>(object);
  }

  flat_index index_;
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
