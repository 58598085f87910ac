// Internal: per-attempt deadlines for task_options::timeout in thread mode. A call cannot be
// killed, so a deadline asks it to stop (through the std::stop_token a callable may take) and
// marks the attempt as late; the task then fails the attempt with sluice::timeout_error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>

namespace sluice::detail {

// While alive, requests a stop on `source` once `after` has passed (lib/deadline.cpp: one
// process-wide timer thread keeps every armed deadline in order). A deadline beyond the
// clock's range (milliseconds::max()) saturates: it never passes.
//
// Thread safety: a guard is used by the thread that made it; the timer thread only touches it
// under the timer's lock. The destructor disarms it, waiting for a stop request in progress.
class deadline_guard {
 public:
  deadline_guard(std::stop_source source, std::chrono::milliseconds after);
  deadline_guard(const deadline_guard&) = delete;
  deadline_guard& operator=(const deadline_guard&) = delete;
  ~deadline_guard();

  // Whether the deadline passed (the stop was requested by the timer).
  bool expired() const noexcept;

 private:
  std::stop_source source_;
  std::chrono::steady_clock::time_point at_;
  std::uint64_t id_ = 0;              // the timer's key for this guard
  std::atomic<bool> expired_{false};  // set by the timer just before it requests the stop
};

}  // namespace sluice::detail
