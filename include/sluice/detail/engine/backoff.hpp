// Internal: how a worker or reader waits for a queue to fill before it gives its thread back.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

namespace sluice::detail {

// Spins a little, then yields, for about `budget`. On a machine with more busy threads than
// cores the yields let the producer we wait for run; once the budget is spent the caller retires
// (a worker) or sleeps (a reader), so an idle pipeline costs no CPU.
class backoff {
 public:
  static constexpr std::chrono::microseconds kBudget{5};

  // One more wait; false once the budget is spent. A few looks with pauses that double (1, 2, 4,
  // 8), then a yield between looks: where busy threads outnumber cores, a longer spin takes the
  // core from the very thread we wait for, and where a core is free a yield returns at once. A
  // look at a queue fed by many producers scans each of them, so an idle wait makes a few dozen
  // looks, not hundreds (docs/performance.md, "Decisions": idle spin).
  bool wait() noexcept {
    if (paused_ < kPauses) {
      const unsigned n = std::min(1U << std::min(round_, kMaxShift), kPauses - paused_);
      for (unsigned i = 0; i < n; ++i) relax();
      paused_ += n;
      ++round_;
      return true;
    }
    std::this_thread::yield();
    if (++yields_ == 1U) {
      until_ = std::chrono::steady_clock::now() + kBudget;
      return true;
    }
    return (yields_ & 7U) != 0 || std::chrono::steady_clock::now() < until_;
  }

  // Still in the first few looks, which pause instead of yielding the core.
  bool pausing() const noexcept { return paused_ < kPauses; }

  // One pause instruction: tells the core we spin. The compiler's builtin, not _mm_pause():
  // <immintrin.h> would add every vector intrinsic to each translation unit that builds a
  // pipeline.
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

 private:
  static constexpr unsigned kPauses = 16;
  static constexpr unsigned kMaxShift = 5;

  unsigned round_ = 0;
  unsigned paused_ = 0;
  unsigned yields_ = 0;
  std::chrono::steady_clock::time_point until_{};
};

// How a worker of quick calls shares the cores with threads whose blocking calls return, in a run
// that has such calls (a task with more workers than the machine has cores). A thread whose call
// returns is merely runnable; while CPU-bound workers hold every core, the kernel runs it only when
// a slice ends. Giving up the core after each kSlice of calls bounds that wait. A batch of kLong or
// more most likely blocked (or ran into the kernel's own slice), so it restarts the count and does
// not yield: a worker back from a blocking call goes straight on (docs/performance.md, "Decisions":
// core share).
class core_share {
 public:
  static constexpr std::chrono::microseconds kSlice{100};
  static constexpr std::chrono::microseconds kLong{1000};

  // Counts a batch that took `spent`; true when the worker should give up its core now.
  bool after(std::chrono::nanoseconds spent) noexcept {
    if (spent >= kLong) {
      running_ = {};
      return false;
    }
    running_ += spent;
    if (running_ < kSlice) return false;
    running_ = {};
    return true;
  }

 private:
  std::chrono::nanoseconds running_{};  // of quick batches since the last yield
};

// A consumer that has caught up with its producer waits about this long before it takes again,
// so that it takes a batch rather than items one by one: each take and each item handed over
// alone costs cache-line transfers between cores that a batch shares. An item that arrives
// alone is never held back by this: it is taken on the consumer's next look.
inline constexpr std::chrono::nanoseconds kGather{3000};

inline void gather_pause() noexcept {
  const auto until = std::chrono::steady_clock::now() + kGather;
  do {
    for (int i = 0; i < 16; ++i) backoff::relax();
  } while (std::chrono::steady_clock::now() < until);
}

}  // namespace sluice::detail
