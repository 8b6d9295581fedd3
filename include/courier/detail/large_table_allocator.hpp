// An allocator for hash tables that may grow to many megabytes: a table of
// 2 MiB or more is placed on 2 MiB boundaries and, on Linux, offered to the
// kernel as transparent huge pages (madvise), before anything touches it.
//
// Why: a channel's dedup window holds every key of the window (millions at
// millions of sends a second), and each send probes one random slot of its
// index. With 4 KiB pages nearly every probe also missed the TLB, and the
// page walk stalled even a prefetch of the slot (perf on
// courier_channel_bench fifo/16/1: 90% of the producer's send was that
// probe). One 2 MiB page covers 512 times as much. Where the kernel gives no
// huge pages (THP off), the table is as before, only aligned. Smaller
// tables use the default allocator.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace courier {
inline namespace v1 {
namespace detail {

template <class T>
struct large_table_allocator {
  using value_type = T;

  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  large_table_allocator() = default;
  template <class U>
  large_table_allocator(const large_table_allocator<U>&) noexcept {}

  T* allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (bytes < huge_page) return std::allocator<T>{}.allocate(count);
    const std::size_t rounded = (bytes + huge_page - 1) / huge_page * huge_page;
    void* memory = std::aligned_alloc(huge_page, rounded);
    if (memory == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    ::madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: a refusal changes nothing but speed
#endif
    return static_cast<T*>(memory);
  }

  void deallocate(T* pointer, std::size_t count) noexcept {
    if (count * sizeof(T) < huge_page) {
      std::allocator<T>{}.deallocate(pointer, count);
      return;
    }
    std::free(pointer);
  }

  template <class U>
  friend bool operator==(const large_table_allocator&, const large_table_allocator<U>&) noexcept {
    return true;
  }
};

}  // namespace detail
}  // namespace v1
}  // namespace courier
