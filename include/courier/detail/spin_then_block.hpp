// Short spins before a thread goes to sleep.
//
// A channel's critical sections last tens of nanoseconds, and its producer
// and consumer hand messages to each other many times per microsecond. A
// thread that finds the lock taken, or no message ready, and goes straight
// into the kernel (futex wait) costs a system call and a context switch on
// both sides: on a 2-core machine that was a third of the channel's time.
// Spinning briefly first lets the other side finish; the spin is bounded,
// so an idle or contended thread still ends up blocked, not burning a core.
#pragma once

#include <chrono>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace courier {
inline namespace v1 {
namespace detail {

// Tells the CPU this is a spin-wait loop (frees the sibling hyper-thread,
// saves power); no effect where there is no such instruction.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Locks mutex, trying for a while before blocking in the kernel. Returns a
// std::unique_lock so it works with std::condition_variable.
inline std::unique_lock<std::mutex> lock_spinning(std::mutex& mutex) {
  std::unique_lock lock(mutex, std::try_to_lock);
  for (int attempt = 0; !lock.owns_lock() && attempt < 128; ++attempt) {
    cpu_relax();
    lock.try_lock();
  }
  if (!lock.owns_lock()) lock.lock();
  return lock;
}

// Calls ready() (without any lock held) until it returns true or budget
// has passed; yields the processor between rounds so a thread that shares
// the core (more busy threads than cores) can run. Returns ready()'s last
// answer. The budget is time, not a count of pauses, since a pause lasts
// from a few to over a hundred cycles depending on the processor.
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::nanoseconds budget) {
  const auto give_up = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= give_up) return ready();
    std::this_thread::yield();
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace courier
