// This header defines `concurrency_tracker`, which counts calls in flight and their peak.
//
//   sluice_test::concurrency_tracker tracker;
//   ... task([&](int x) { auto in_call = tracker.track(); ...; return x; }, {.concurrency = 8})
//   CHECK(tracker.peak() == 8);
#pragma once

#include <atomic>
#include <cstddef>

namespace sluice_test {

class concurrency_tracker {
 public:
  // Marks one call in flight until it is destroyed.
  class [[nodiscard]] scope {
   public:
    explicit scope(concurrency_tracker& tracker) : tracker_(&tracker) { tracker_->enter(); }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    ~scope() { tracker_->exit(); }

   private:
    concurrency_tracker* tracker_;
  };

  scope track() { return scope{*this}; }

  // All operations are sequentially consistent: the tests read these counters to reason about
  // what other threads have done, and speed does not matter here.
  void enter() {
    calls_.fetch_add(1);
    std::size_t now = current_.fetch_add(1) + 1;
    std::size_t seen = peak_.load();
    while (seen < now && !peak_.compare_exchange_weak(seen, now)) {
    }
  }
  void exit() { current_.fetch_sub(1); }

  std::size_t current() const { return current_.load(); }  // calls in flight now
  std::size_t peak() const { return peak_.load(); }        // most calls in flight at once
  std::size_t calls() const { return calls_.load(); }      // calls started so far

 private:
  std::atomic<std::size_t> current_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<std::size_t> calls_{0};
};

}  // namespace sluice_test
