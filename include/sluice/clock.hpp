// This header defines sluice::clock, the time source of the resilience wrappers (retry backoff,
// cache ttl, rate limits, circuit breakers), and sluice::manual_clock, a clock that tests move
// by hand so that timing behaviour is checked exactly and fast.
//
// Every resilience policy has a trailing `clock` field; nullptr (the default) means
// sluice::clock::system().
//
// Example:
//   sluice::manual_clock fake;
//   auto get = sluice::retry(fetch, {.max_attempts = 3, .min_delay = 100ms, .clock = &fake});
//   ...  // fake.sleeps() == {100ms, 150ms}: the backoff, without waiting for it
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <vector>

namespace sluice {

// A source of time and of waiting.
//
// Thread safety: every member may be called from many threads at once.
// Lifetime: a policy only points at a clock; the clock must outlive every wrapper using it.
class clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  clock() = default;
  clock(const clock&) = delete;
  clock& operator=(const clock&) = delete;
  virtual ~clock() = default;

  // Monotonic time, for delays and ages within the process.
  virtual time_point now() const = 0;
  // Calendar time, for what outlives the process (a disk cache entry's age).
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
  // Waits until `deadline`. Returns false at once when `stop` is (or becomes) requested.
  virtual bool sleep_until(time_point deadline, std::stop_token stop = {}) const = 0;

  // steady_clock, system_clock and real sleeps.
  static const clock& system() noexcept;
};

// `*c`, or the system clock when `c` is null.
inline const clock& clock_or_system(const clock* c) noexcept {
  return c != nullptr ? *c : clock::system();
}

// A clock that only moves when told to. Its time starts at an arbitrary fixed point.
//
// Example:
//   sluice::manual_clock fake;                       // sleeps move time forward at once
//   sluice::manual_clock held{sluice::manual_clock::sleeping::blocks};  // sleeps wait for
//   advance()
// Thread safety: every member may be called from many threads at once.
class manual_clock final : public clock {
 public:
  enum class sleeping {
    advances,  // sleep_until() moves the time to the deadline (if later) and returns at once
    blocks,    // sleep_until() waits until advance() reaches the deadline, or the stop
  };

  explicit manual_clock(sleeping mode = sleeping::advances) noexcept : mode_(mode) {}

  time_point now() const override;
  std::chrono::system_clock::time_point wall_now() const override;
  bool sleep_until(time_point deadline, std::stop_token stop = {}) const override;

  // Moves the time forward by `by` (a negative value is ignored) and wakes the sleepers it
  // reaches. Time stops at time_point::max() rather than overflow.
  void advance(duration by);
  // Every sleep asked for (deadline minus the time it was asked at), in the order asked.
  std::vector<duration> sleeps() const;

 private:
  const sleeping mode_;
  mutable std::mutex mu_;  // guards the members below
  mutable std::condition_variable_any moved_;
  mutable duration elapsed_{};  // sleeping::advances moves it from const sleep_until()
  mutable std::vector<duration> sleeps_;
};

}  // namespace sluice
