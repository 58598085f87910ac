// Tests that concurrency is real: calls in flight are counted, never timed. A task at
// concurrency N has N calls in flight at once (even when they block, on a 2-core machine), never
// more, and other tasks keep making progress meanwhile.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;

namespace {

// Yields `first` items (0, 1, ...), waits for `between` to open, then yields `second` more.
sluice::generator<int> two_phases(int first, int second, sluice_test::gate* between) {
  for (int i = 0; i < first; ++i) co_yield i;
  between->wait();
  for (int i = first; i < first + second; ++i) co_yield i;
}

// Yields `burst` items, sleeps `pause`, then yields `burst` more.
sluice::generator<int> bursts(int burst, std::chrono::milliseconds pause) {
  for (int i = 0; i < burst; ++i) co_yield i;
  std::this_thread::sleep_for(pause);
  for (int i = burst; i < 2 * burst; ++i) co_yield i;
}

}  // namespace

TEST_SUITE("concurrency") {
  TEST_CASE("a task at concurrency 100 has 100 sleeping calls in flight at once" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate all_in{100};
    sluice_test::concurrency_tracker tracker;
    auto sleepy = [&](int x) {
      auto in_call = tracker.track();
      all_in.arrive_and_wait();  // opens only once 100 calls are in flight together
      std::this_thread::sleep_for(20ms);
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(sleepy, {.concurrency = 100})) > sluice::count();

    CHECK(run(100) == 100);
    CHECK_FALSE(all_in.timed_out());
    CHECK(tracker.peak() == 100);
  }

  TEST_CASE("a task never has more calls in flight than its concurrency" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    for (std::size_t concurrency : {std::size_t{1}, std::size_t{3}, std::size_t{8}}) {
      CAPTURE(concurrency);
      sluice_test::gate all_in{concurrency};
      sluice_test::concurrency_tracker tracker;
      auto busy = [&](int x) {
        auto in_call = tracker.track();
        if (!all_in.is_open()) all_in.arrive_and_wait();
        std::this_thread::yield();
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::task(busy, {.concurrency = concurrency})) > sluice::count();

      CHECK(run(2000) == 2000);
      CHECK_FALSE(all_in.timed_out());
      CHECK(tracker.peak() == concurrency);
    }
  }

  TEST_CASE("a blocked call holds back no other item while its task has idle workers" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // Many cheap calls first (a worker that takes items in batches would now take several at
    // once), then item `cheap` blocks until the 8 items after it have finished: only workers
    // other than the blocked one can do that.
    const int cheap = sluice_test::scaled(20'000, 5'000);
    std::atomic<int> overtaken{0};
    std::atomic<bool> gave_up{false};
    auto mostly_cheap = [&](int x) {
      if (x == cheap) gave_up = !sluice_test::eventually([&] { return overtaken.load() >= 8; });
      if (x > cheap && x <= cheap + 8) overtaken.fetch_add(1);
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(mostly_cheap, {.concurrency = 4})) > sluice::count();

    CHECK(run(cheap + 100) == cheap + 100);
    CHECK_FALSE(gave_up.load());
  }

  TEST_CASE("consecutive tasks work on different items at the same time" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // The first task's call for item 1 waits until the second task is busy with item 0, and
    // that call waits until the first task is busy with item 1: only a pipelined run finishes.
    sluice_test::gate first_on_item_1;
    sluice_test::gate second_on_item_0;
    auto first = [&](int x) {
      if (x == 1) {
        first_on_item_1.open();
        second_on_item_0.wait();
      }
      return x;
    };
    auto second = [&](int x) {
      if (x == 0) {
        second_on_item_0.open();
        first_on_item_1.wait();
      }
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(first) |
                sluice::task(second)) > sluice::count();

    CHECK(run(10) == 10);
    CHECK_FALSE(first_on_item_1.timed_out());
    CHECK_FALSE(second_on_item_0.timed_out());
  }

  TEST_CASE("a task whose idle successor runs on its thread still takes the items that come next" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // Item 0 reaches an idle `second` at the end of `first`'s batch, so `second` may run on the
    // thread that ran `first`. Item 1 only exists once `second` is busy with item 0, and that
    // call waits until `first` is busy with item 1: `first` must take it on another thread.
    sluice_test::gate second_on_item_0;
    sluice_test::gate first_on_item_1;
    auto first = [&](int x) {
      if (x == 1) first_on_item_1.open();
      return x;
    };
    auto second = [&](int x) {
      if (x == 0) {
        second_on_item_0.open();
        first_on_item_1.wait();
      }
      return x;
    };
    auto producer = [&](int) { return two_phases(1, 9, &second_on_item_0); };
    auto run = (sluice::task(producer, sluice::branch) | sluice::task(first) |
                sluice::task(second)) > sluice::count();

    CHECK(run(0) == 10);
    CHECK_FALSE(second_on_item_0.timed_out());
    CHECK_FALSE(first_on_item_1.timed_out());
  }

  TEST_CASE(
      "a CPU-bound branch completes all its items while 100 blocking calls are held in flight" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr int blocking_items = 100;
    constexpr int cpu_items = 200;
    sluice_test::gate all_blocked{blocking_items};  // opens when the 100 blocking calls are in
    sluice_test::gate release;                      // opened by the last CPU call
    sluice_test::concurrency_tracker blocked;
    std::atomic<int> cpu_done{0};
    std::atomic<std::size_t> fewest_blocked_seen{std::numeric_limits<std::size_t>::max()};

    auto blocking = [&](int x) {
      auto in_call = blocked.track();
      all_blocked.arrive();
      release.wait();
      return x;
    };
    auto cpu_bound = [&](int x) {
      sluice_test::spin(20'000);
      std::size_t now = blocked.current();
      std::size_t fewest = fewest_blocked_seen.load();
      while (now < fewest && !fewest_blocked_seen.compare_exchange_weak(fewest, now)) {
      }
      if (cpu_done.fetch_add(1) + 1 == cpu_items) release.open();
      return x;
    };
    // Items 0..99 go to the blocking branch; the producer then waits until all 100 of them are
    // in flight before it yields the CPU branch's items 100..299.
    auto run = (sluice::task(two_phases, sluice::branch) |
                sluice::route([](int x) { return x < blocking_items ? 0 : 1; },
                              sluice::task(blocking, {.concurrency = blocking_items}),
                              sluice::task(cpu_bound))) > sluice::count();

    CHECK(run(blocking_items, cpu_items, &all_blocked) == blocking_items + cpu_items);
    CHECK_FALSE(all_blocked.timed_out());  // 100 blocking calls were in flight at once
    CHECK_FALSE(release.timed_out());      // the CPU branch finished while they were held
    CHECK(cpu_done.load() == cpu_items);
    CHECK(blocked.peak() == blocking_items);
    CHECK(fewest_blocked_seen.load() == blocking_items);  // every CPU call ran beside all 100
  }

  TEST_CASE("a task has all its workers in flight again after its input paused" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // During the pause the task's idle workers give their threads back; the second burst must
    // start them all again. At 100, the engine's far arena is idle when each burst arrives: the
    // workers TBB wakes for it are held back until an activation waits for them (herd_park).
    for (std::size_t workers : {std::size_t{8}, std::size_t{100}}) {
      CAPTURE(workers);
      sluice_test::gate first_burst{workers};
      sluice_test::gate second_burst{workers};
      sluice_test::concurrency_tracker tracker;
      const int burst = static_cast<int>(workers);
      auto held = [&](int x) {
        auto in_call = tracker.track();
        (x < burst ? first_burst : second_burst).arrive_and_wait();
        return x;
      };
      auto run = (sluice::task(bursts, sluice::branch) |
                  sluice::task(held, {.concurrency = workers})) > sluice::count();

      CHECK(run(burst, 50ms) == 2 * burst);
      CHECK_FALSE(first_burst.timed_out());
      CHECK_FALSE(second_burst.timed_out());
      CHECK(tracker.peak() == workers);
    }
  }

}  // TEST_SUITE
