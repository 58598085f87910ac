// Tests of <sluice/clock.hpp>: manual_clock moves on its own sleeps (sleeping::advances) or waits
// for advance() from another thread (sleeping::blocks), records every sleep, and ends a sleep on
// a stop request; clock::system() sleeps for real and ends at once for a stopped token.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <stop_token>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/clock.hpp>
#include <sluice/detail/saturate.hpp>

#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sleeping = sluice::manual_clock::sleeping;

TEST_SUITE("clock") {
  TEST_CASE("manual_clock in advances mode moves to each deadline at once and records the sleeps") {
    sluice::manual_clock clock;
    const auto start = clock.now();
    const auto wall_start = clock.wall_now();
    CHECK(clock.sleep_until(clock.now() + 100ms));
    CHECK(clock.sleep_until(clock.now() + 250ms));
    CHECK(clock.now() - start == 350ms);
    CHECK(clock.wall_now() - wall_start == 350ms);
    CHECK(clock.sleeps() == std::vector<sluice::clock::duration>{100ms, 250ms});
  }

  TEST_CASE("manual_clock does not go back for a deadline in the past, but records the sleep") {
    sluice::manual_clock clock;
    const auto start = clock.now();
    CHECK(clock.sleep_until(start - 5ms));
    CHECK(clock.now() == start);
    CHECK(clock.sleeps() == std::vector<sluice::clock::duration>{-5ms});
  }

  TEST_CASE("manual_clock advance() moves now() and wall_now() and ignores negative steps") {
    sluice::manual_clock clock;
    const auto start = clock.now();
    const auto wall_start = clock.wall_now();
    clock.advance(2s);
    clock.advance(-1s);
    CHECK(clock.now() - start == 2s);
    CHECK(clock.wall_now() - wall_start == 2s);
    CHECK(clock.sleeps().empty());  // advance() is not a sleep
  }

  TEST_CASE("manual_clock saturates at the end of its range instead of overflowing") {
    sluice::manual_clock clock;
    const auto wall_start = clock.wall_now();
    CHECK(clock.sleep_until(sluice::clock::time_point::max()));  // a sleep "forever"
    CHECK(clock.now() == sluice::clock::time_point::max());
    CHECK(clock.wall_now() > wall_start);
    clock.advance(1h);
    clock.advance(sluice::clock::duration::max());
    CHECK(clock.now() == sluice::clock::time_point::max());
    CHECK(clock.wall_now() > wall_start);

    sluice::manual_clock other;
    const auto start = other.now();
    other.advance(sluice::clock::duration::max());
    CHECK(other.now() == sluice::clock::time_point::max());
    CHECK(other.now() > start);
  }

  TEST_CASE("saturating_add gives the deadline of a user duration, or the clock's end") {
    using sluice::detail::saturating_add;
    using point = std::chrono::steady_clock::time_point;
    const point at = point{} + 24h;
    CHECK(saturating_add(at, 5ms) == at + 5ms);
    CHECK(saturating_add(at, -5ms) == at - 5ms);
    CHECK(saturating_add(at, std::chrono::milliseconds::max()) == point::max());
    CHECK(saturating_add(at, std::chrono::milliseconds{24h * 365 * 1000}) == point::max());
    CHECK(saturating_add(at, std::chrono::hours::max()) == point::max());
    CHECK(saturating_add(point{} - 24h, std::chrono::milliseconds::min()) == point::min());
    CHECK(saturating_add(point::max() - 1ms, 2ms) == point::max());
    CHECK(saturating_add(point::max() - 2ms, 1ms) == point::max() - 1ms);
    CHECK(saturating_add(at, std::chrono::duration<double>{1e300}) == point::max());
    CHECK(saturating_add(at, std::chrono::duration<double>{0.5}) == at + 500ms);
    // A coarser time point keeps its own unit.
    const auto minute = std::chrono::time_point<std::chrono::system_clock, std::chrono::minutes>{};
    CHECK(saturating_add(minute, std::chrono::nanoseconds::max()) ==
          minute +
              std::chrono::duration_cast<std::chrono::minutes>(std::chrono::nanoseconds::max()));
    static_assert(saturating_add(point{}, std::chrono::seconds::max()) == point::max());
  }

  TEST_CASE("manual_clock returns false at once for a stopped token, in both modes") {
    for (sleeping mode : {sleeping::advances, sleeping::blocks}) {
      sluice::manual_clock clock{mode};
      std::stop_source source;
      source.request_stop();
      const auto start = clock.now();
      CHECK_FALSE(clock.sleep_until(start + 1s, source.get_token()));
      CHECK(clock.now() == start);  // a stopped sleep does not move the time
    }
  }

  TEST_CASE(
      "manual_clock in blocks mode waits until advance() from another thread reaches the "
      "deadline" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice::manual_clock clock{sleeping::blocks};
    std::atomic<bool> woke{false};
    std::atomic<bool> result{false};
    const auto deadline = clock.now() + 1s;
    std::thread sleeper([&] {
      result = clock.sleep_until(deadline);
      woke = true;
    });
    REQUIRE(sluice_test::eventually([&] { return clock.sleeps().size() == 1; }));
    clock.advance(500ms);  // not far enough
    std::this_thread::sleep_for(20ms);
    CHECK_FALSE(woke.load());
    clock.advance(500ms);
    CHECK(sluice_test::eventually([&] { return woke.load(); }));
    sleeper.join();
    CHECK(result.load());
    CHECK(clock.now() == deadline);  // the sleep itself did not move the time
    CHECK(clock.sleeps() == std::vector<sluice::clock::duration>{1s});
  }

  TEST_CASE("manual_clock in blocks mode ends a sleep early on a stop request" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice::manual_clock clock{sleeping::blocks};
    std::stop_source source;
    std::atomic<bool> woke{false};
    std::atomic<bool> result{true};
    const auto start = clock.now();
    std::thread sleeper([&] {
      result = clock.sleep_until(start + 1h, source.get_token());
      woke = true;
    });
    REQUIRE(sluice_test::eventually([&] { return clock.sleeps().size() == 1; }));
    CHECK_FALSE(woke.load());
    source.request_stop();
    sleeper.join();
    CHECK_FALSE(result.load());
    CHECK(clock.now() == start);
  }

  TEST_CASE("manual_clock in blocks mode wakes each of 8 sleepers when its deadline is reached" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t sleepers = 8;
    sluice::manual_clock clock{sleeping::blocks};
    const auto start = clock.now();
    std::atomic<std::size_t> awake{0};
    std::thread driver([&] {
      // Sleeper i sleeps until start + (i + 1) seconds; each step wakes exactly one more.
      for (std::size_t step = 1; step <= sleepers; ++step) {
        if (!sluice_test::eventually([&] { return clock.sleeps().size() == sleepers; })) return;
        CHECK(awake.load() == step - 1);
        clock.advance(1s);
        if (!sluice_test::eventually([&] { return awake.load() == step; })) return;
      }
    });
    sluice_test::run_on_threads(sleepers, [&](std::size_t index) {
      CHECK(clock.sleep_until(start + std::chrono::seconds(index + 1)));
      CHECK(clock.now() >= start + std::chrono::seconds(index + 1));
      awake.fetch_add(1);
    });
    driver.join();
    CHECK(awake.load() == sleepers);
    CHECK(clock.now() - start == std::chrono::seconds(sleepers));
  }

  TEST_CASE("clock::system() sleep_until returns false at once for a stopped token" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    const sluice::clock& system = sluice::clock::system();
    std::stop_source source;
    source.request_stop();
    CHECK_FALSE(system.sleep_until(system.now() + 1h, source.get_token()));
  }

  TEST_CASE("clock::system() sleep_until ends on a stop request from another thread" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    const sluice::clock& system = sluice::clock::system();
    std::stop_source source;
    std::atomic<bool> started{false};
    std::atomic<bool> result{true};
    std::thread sleeper([&] {
      started = true;
      result = system.sleep_until(system.now() + 1h, source.get_token());
    });
    REQUIRE(sluice_test::eventually([&] { return started.load(); }));
    source.request_stop();
    sleeper.join();
    CHECK_FALSE(result.load());
  }

  TEST_CASE("clock::system() sleep_until waits until the deadline" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    const sluice::clock& system = sluice::clock::system();
    SUBCASE("without a token") {
      const auto deadline = system.now() + 20ms;
      CHECK(system.sleep_until(deadline));
      CHECK(system.now() >= deadline);
    }
    SUBCASE("with a token that is never stopped") {
      std::stop_source source;
      const auto deadline = system.now() + 20ms;
      CHECK(system.sleep_until(deadline, source.get_token()));
      CHECK(system.now() >= deadline);
    }
  }

  TEST_CASE("clock_or_system picks the given clock, or the system clock for nullptr") {
    sluice::manual_clock manual;
    CHECK(&sluice::clock_or_system(&manual) == &manual);
    CHECK(&sluice::clock_or_system(nullptr) == &sluice::clock::system());
    const auto before = std::chrono::system_clock::now();
    const auto wall = sluice::clock::system().wall_now();
    CHECK(wall >= before);
  }
}
