// This header defines `gate`, a latch whose waits give up after a deadline, and `eventually`.
//
// Tests prove that N calls are in flight at once without looking at a clock: each call
// arrives at a `gate{N}` and waits for it. If fewer than N calls ever run at once the gate
// never opens, each wait gives up after `patience`, and `timed_out()` reports it; no test hangs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "sanitizers.hpp"

namespace sluice_test {

// How long a bounded wait in a test waits before it gives up and records a failure. Well below
// the watchdog, well above anything a working engine needs.
inline constexpr std::chrono::milliseconds patience{scaled(10'000, 30'000)};

class gate {
 public:
  // Opens once `parties` calls to arrive() / arrive_and_wait() have been made, or at open().
  explicit gate(std::size_t parties = 1) : parties_(parties) {}

  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  void arrive() {
    {
      std::lock_guard lock(mutex_);
      ++arrived_;
      if (arrived_ >= parties_) open_ = true;
    }
    changed_.notify_all();
  }

  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }

  // Waits until the gate opens or `limit` passes; returns whether it opened.
  bool wait(std::chrono::milliseconds limit = patience) {
    std::unique_lock lock(mutex_);
    if (changed_.wait_for(lock, limit, [this] { return open_; })) return true;
    timed_out_ = true;
    return false;
  }

  bool arrive_and_wait(std::chrono::milliseconds limit = patience) {
    arrive();
    return wait(limit);
  }

  bool is_open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }
  // Whether any wait gave up before the gate opened.
  bool timed_out() const {
    std::lock_guard lock(mutex_);
    return timed_out_;
  }
  std::size_t arrived() const {
    std::lock_guard lock(mutex_);
    return arrived_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t parties_;
  std::size_t arrived_ = 0;
  bool open_ = false;
  bool timed_out_ = false;
};

// Polls `condition` until it holds or `limit` passes; returns whether it held.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = patience) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds{200});
  }
  return true;
}

}  // namespace sluice_test
