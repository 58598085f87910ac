// This header defines `watchdog`, which aborts the test binary when a test hangs.
//
// doctest::timeout only reports a test that took too long after it has finished; a test that
// never finishes needs this. Every test that could hang creates one:
//
//   sluice_test::watchdog guard{30s};
//
// If the guard is still alive when the time is up, the current test's name is printed to
// stderr and the process aborts (so CTest reports a crash with a name, not a silent timeout).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <doctest/doctest.h>

#include "sanitizers.hpp"

namespace sluice_test {

// The name of the doctest test case now running, or "<no test>".
inline std::string current_test_name() {
  const doctest::ContextOptions* options = doctest::getContextOptions();
  if (options != nullptr && options->currentTest != nullptr) return options->currentTest->m_name;
  return "<no test>";
}

class watchdog {
 public:
  // Sanitized builds run slower, so they get four times as long.
  explicit watchdog(std::chrono::milliseconds limit, std::string label = current_test_name())
      : label_(std::move(label)), limit_(limit * scaled(1, 4)), thread_([this] { watch(); }) {}

  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, limit_, [this] { return disarmed_; })) return;
    std::fprintf(stderr, "\nwatchdog: \"%s\" is still running after %lld ms; aborting\n",
                 label_.c_str(), static_cast<long long>(limit_.count()));
    std::fflush(stderr);
    std::abort();
  }

  std::string label_;
  std::chrono::milliseconds limit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool disarmed_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace sluice_test
