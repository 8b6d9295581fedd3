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

#include <atomic>
#include <chrono>
#include <cstdint>
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

// A mutex for critical sections of tens of nanoseconds that two threads
// take millions of times a second. std::mutex spun on with try_lock (each
// try a locked compare-exchange) kept the lock's cache line bouncing
// between the cores, so the holder's unlock waited for it: lock and unlock
// were 40% of a channel's time. This one spins reading (a read shares the
// line) and only then tries to take it; after the spin it sleeps in the
// kernel through std::atomic::wait (a futex on Linux). The classic three
// states: 0 free, 1 held, 2 held and someone may be sleeping (so unlock
// must wake one). Meets the Lockable requirements: std::unique_lock and
// std::condition_variable_any work with it.
class spin_mutex {
 public:
  spin_mutex() = default;
  spin_mutex(const spin_mutex&) = delete;
  spin_mutex& operator=(const spin_mutex&) = delete;

  void lock() noexcept {
    std::uint32_t expected = free;
    if (state_.compare_exchange_strong(expected, held, std::memory_order_acquire)) return;
    // Spin for a time, not a count of pauses: a pause takes a few to ~65 cycles on
    // AMD's recent cores and ~140 on Intel's since Skylake, so 256 of them
    // (the first version) spun about twice as long on Intel before sleeping.
    const auto give_up = std::chrono::steady_clock::now() + spin_budget;
    for (int attempt = 1;; ++attempt) {
      cpu_relax();
      if (state_.load(std::memory_order_relaxed) == free) {
        expected = free;
        if (state_.compare_exchange_weak(expected, held, std::memory_order_acquire)) return;
      }
      if (attempt % 16 == 0 && std::chrono::steady_clock::now() >= give_up) break;
    }
    // Announce a sleeper; whoever unlocks next wakes one.
    while (state_.exchange(contended, std::memory_order_acquire) != free) {
      state_.wait(contended, std::memory_order_relaxed);
    }
  }

  bool try_lock() noexcept {
    std::uint32_t expected = free;
    return state_.compare_exchange_strong(expected, held, std::memory_order_acquire);
  }

  void unlock() noexcept {
    if (state_.exchange(free, std::memory_order_release) == contended) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t free = 0;
  static constexpr std::uint32_t held = 1;
  static constexpr std::uint32_t contended = 2;
  // Longer than a channel's critical sections (tens of nanoseconds to a few
  // microseconds for a batch), far shorter than a sleep and a wake-up.
  static constexpr std::chrono::nanoseconds spin_budget = std::chrono::microseconds(5);
  std::atomic<std::uint32_t> state_{free};
};

// A lock for critical sections of a few instructions that never block (a
// push onto a vector, a swap of two): a waiter spins, yielding the
// processor between rounds, and never sleeps in the kernel, so unlock is a
// plain release store. spin_mutex's unlock must exchange (to learn whether
// to wake a sleeper), and that locked instruction waits until every store
// before it has left the core: after writing a message into a buffer the
// other core last touched, that wait is the cache misses' full latency
// (perf on courier_channel_bench: the instruction after the unlock was
// the hottest of a send).
//
// lock_ahead() is for one thread at a time (the channel's consumer, which
// holds the channel's lock when it takes the intake): it goes before every
// lock() that has not yet taken the lock. Without it, a producer sending in
// a tight loop took the lock again the instant it let go, while the line
// was still its own, and the consumer spun for it (perf on
// courier_channel_bench acked/1/1: 40% of the consumer's time).
class short_spin_lock {
 public:
  short_spin_lock() = default;
  short_spin_lock(const short_spin_lock&) = delete;
  short_spin_lock& operator=(const short_spin_lock&) = delete;

  void lock() noexcept {
    for (int round = 1;; ++round) {
      if (!ahead_.load(std::memory_order_relaxed) && !held_.load(std::memory_order_relaxed) &&
          !held_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      pause(round);
    }
  }

  // As lock(), going before every lock() still waiting. One caller at a time.
  void lock_ahead() noexcept {
    ahead_.store(true, std::memory_order_relaxed);
    for (int round = 1;; ++round) {
      if (!held_.load(std::memory_order_relaxed) && !held_.exchange(true, std::memory_order_acquire)) break;
      pause(round);
    }
    ahead_.store(false, std::memory_order_relaxed);
  }

  bool try_lock() noexcept {
    return !held_.load(std::memory_order_relaxed) && !held_.exchange(true, std::memory_order_acquire);
  }

  void unlock() noexcept { held_.store(false, std::memory_order_release); }

  // Whether a lock_ahead() is waiting (for tests).
  bool one_waits_ahead() const noexcept { return ahead_.load(std::memory_order_relaxed); }

 private:
  static void pause(int round) noexcept {
    cpu_relax();
    if (round % 64 == 0) std::this_thread::yield();  // the holder may be waiting for this core
  }

  std::atomic<bool> held_{false};
  std::atomic<bool> ahead_{false};  // a lock_ahead() waits: lock() stands back
};

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
