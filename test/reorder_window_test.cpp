// Tests of <sluice/detail/engine/reorder_window.hpp>: results settled out of ticket order leave in
// ticket order, one emitter at a time; a batch beyond the bound waits until earlier tickets have
// left; a stop ends that wait without filing or emitting. wait_room() (in_order's entry) waits the
// same way before a ticket is handed out; idle() tells whether anything still waits.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/detail/engine/reorder_window.hpp>

#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

struct slot {
  bool filled = false;
  int value = -1;
};

// The results of tickets first .. first+count-1, each holding its own ticket.
std::vector<slot> results_for(std::uint64_t first, std::size_t count) {
  std::vector<slot> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = {true, static_cast<int>(first + i)};
  return out;
}

// What a window's emitters emitted, in order.
struct emitted_log {
  std::mutex mu;
  std::vector<int> values;
  auto emit() {
    return [this](slot* ready, std::size_t n) {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < n; ++i) values.push_back(ready[i].value);
    };
  }
};

constexpr auto never_stopped = [] { return false; };

}  // namespace

TEST_SUITE("reorder_window") {
  TEST_CASE("results settled out of ticket order are emitted in ticket order") {
    sluice::detail::reorder_window<slot> window(16, 2);
    emitted_log log;
    for (std::uint64_t first : {6u, 2u, 4u, 8u}) {
      auto batch = results_for(first, 2);
      window.settle(first, batch.data(), 2, never_stopped, log.emit());
    }
    CHECK(log.values.empty());  // ticket 0 has not come: everything waits
    auto head = results_for(0, 2);
    window.settle(0, head.data(), 2, never_stopped, log.emit());
    CHECK(log.values == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }

  TEST_CASE("a window that starts with one slot grows to hold what waits, up to its bound") {
    sluice::detail::reorder_window<slot> window(64, 1);
    emitted_log log;
    for (std::uint64_t first = 63; first >= 1; --first) {
      auto one = results_for(first, 1);
      window.settle(first, one.data(), 1, never_stopped, log.emit());
    }
    auto head = results_for(0, 1);
    window.settle(0, head.data(), 1, never_stopped, log.emit());
    REQUIRE(log.values.size() == 64);
    for (int i = 0; i < 64; ++i) CHECK(log.values[static_cast<std::size_t>(i)] == i);
  }

  TEST_CASE("a batch beyond the bound waits until the tickets before it have left" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::detail::reorder_window<slot> window(4, 4);
    emitted_log log;
    auto waiting = results_for(2, 2);  // tickets 2, 3: fit (below 0 + 4)
    window.settle(2, waiting.data(), 2, never_stopped, log.emit());
    std::atomic<bool> settled{false};
    std::thread beyond([&] {
      auto late = results_for(4, 2);  // tickets 4, 5: fit only once 0 and 1 have left
      window.settle(4, late.data(), 2, never_stopped, log.emit());
      settled = true;
    });
    // Two items ahead of it are missing: it must still be waiting after they could have passed.
    CHECK_FALSE(sluice_test::eventually([&] { return settled.load(); }, 50ms));
    auto head = results_for(0, 2);
    window.settle(0, head.data(), 2, never_stopped, log.emit());
    beyond.join();
    CHECK(settled);
    // 4 and 5 left after 3: filed for the emitter of 0..3, or emitted by their own worker when
    // it found them next in order.
    CHECK(log.values == std::vector<int>{0, 1, 2, 3, 4, 5});
  }

  TEST_CASE("a stop ends a wait for room, and the stopped batch is neither filed nor emitted" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::detail::reorder_window<slot> window(2, 2);
    emitted_log log;
    std::atomic<bool> stop{false};
    auto stopped = [&] { return stop.load(); };
    sluice_test::gate returned;
    std::thread beyond([&] {
      auto late = results_for(5, 1);  // never fits while ticket 0 is missing
      window.settle(5, late.data(), 1, stopped, log.emit());
      returned.open();
    });
    CHECK_FALSE(returned.wait(50ms));
    stop = true;
    window.wake_all();
    CHECK(returned.wait());
    beyond.join();
    CHECK(log.values.empty());
  }

  TEST_CASE("wait_room returns at once for a ticket that fits and waits for one beyond the bound" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::detail::reorder_window<slot> window(4, 1);
    emitted_log log;
    CHECK(window.wait_room(3, never_stopped));  // 0 .. 3 fit in a window of 4
    std::atomic<bool> admitted{false};
    std::thread beyond([&] {
      CHECK(window.wait_room(5, never_stopped));  // fits once 0 and 1 have left
      admitted = true;
    });
    auto second = results_for(1, 1);
    window.settle(1, second.data(), 1, never_stopped, log.emit());
    CHECK_FALSE(sluice_test::eventually([&] { return admitted.load(); }, 50ms));
    CHECK_FALSE(window.idle());  // ticket 1 waits for ticket 0
    auto head = results_for(0, 1);
    window.settle(0, head.data(), 1, never_stopped, log.emit());
    beyond.join();
    CHECK(admitted);
    CHECK(window.idle());
    CHECK(log.values == std::vector<int>{0, 1});
  }

  TEST_CASE("a stop ends wait_room, which then says the ticket must not be settled" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::detail::reorder_window<slot> window(2, 2);
    std::atomic<bool> stop{false};
    auto stopped = [&] { return stop.load(); };
    std::atomic<bool> result{true};
    sluice_test::gate returned;
    std::thread beyond([&] {
      result = window.wait_room(7, stopped);
      returned.open();
    });
    CHECK_FALSE(returned.wait(50ms));
    stop = true;
    window.wake_all();
    CHECK(returned.wait());
    beyond.join();
    CHECK_FALSE(result);
  }
}
