// Tests sluice::rate_limit and sluice::rate_limited: the schedule of tokens (exact, on a manual
// clock), shared buckets, first-come-first-served fairness across threads, cancellation, the
// checks of the fields, and one run on the real clock.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/clock.hpp>
#include <sluice/rate_limit.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::invalid_argument_message;
using duration = sluice::clock::duration;
using time_point = sluice::clock::time_point;

namespace {

// The time between two tokens at `per_second`, as the bucket computes it.
duration interval(double per_second) {
  return std::chrono::round<duration>(std::chrono::duration<double>{1.0 / per_second});
}

}  // namespace

TEST_SUITE("rate_limit") {
  TEST_CASE("a rate_limit is an aggregate whose bucket is made, full, from the fields before it") {
    const sluice::rate_limit plain{5.0};
    const sluice::rate_limit positional{50.0, 5};
    const sluice::rate_limit designated{.per_second = 5, .burst = 2};
    const sluice::rate_limit defaulted;

    REQUIRE(plain.bucket != nullptr);
    CHECK(plain.bucket->per_second() == 5.0);
    CHECK(plain.bucket->burst() == 1);
    CHECK(positional.bucket->per_second() == 50.0);
    CHECK(positional.bucket->burst() == 5);
    CHECK(designated.bucket->per_second() == 5.0);
    CHECK(designated.bucket->burst() == 2);
    CHECK(defaulted.bucket->per_second() == 1.0);
    CHECK(defaulted.bucket->burst() == 1);
    CHECK(plain.bucket != designated.bucket);
  }

  TEST_CASE("burst calls go at once, then one call every 1/per_second, exactly on a manual clock") {
    struct shape {
      double per_second;
      std::size_t burst;
    };
    for (const shape s : {shape{10.0, 1}, shape{10.0, 3}, shape{4.0, 5}, shape{50.0, 2}}) {
      CAPTURE(s.per_second);
      CAPTURE(s.burst);
      sluice::manual_clock fake;
      std::vector<time_point> calls;
      auto limited =
          sluice::rate_limited([&] { calls.push_back(fake.now()); },
                               {.per_second = s.per_second, .burst = s.burst, .clock = &fake});
      const time_point start = fake.now();
      constexpr std::size_t n = 12;
      for (std::size_t i = 0; i < n; ++i) limited();

      REQUIRE(calls.size() == n);
      const duration step = interval(s.per_second);
      for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        const std::size_t waited = i < s.burst ? 0 : i - (s.burst - 1);
        CHECK(calls[i] - start == step * static_cast<long>(waited));
      }
      // Only the calls after the burst slept, each for one interval.
      CHECK(fake.sleeps() == std::vector<duration>(n - s.burst, step));
    }
  }

  TEST_CASE("an idle bucket fills up again, to burst tokens and no more") {
    sluice::manual_clock fake;
    const sluice::rate_limit limit{.per_second = 10, .burst = 3, .clock = &fake};
    auto limited = sluice::rate_limited([] {}, limit);
    for (int i = 0; i < 6; ++i) limited();
    REQUIRE(fake.sleeps().size() == 3);

    fake.advance(10 * interval(10));  // long enough to refill far more than 3 tokens
    for (int i = 0; i < 3; ++i) limited();
    CHECK(fake.sleeps().size() == 3);  // the burst went at once
    limited();
    CHECK(fake.sleeps().size() == 4);  // the 4th waited
    CHECK(fake.sleeps().back() == interval(10));
  }

  TEST_CASE("copies of a rate_limit share one bucket, and a rate_limit made apart has its own") {
    sluice::manual_clock fake;
    const sluice::rate_limit limit{.per_second = 10, .burst = 1, .clock = &fake};
    const sluice::rate_limit copy = limit;
    const sluice::rate_limit apart{.per_second = 10, .burst = 1, .clock = &fake};
    CHECK(copy.bucket == limit.bucket);

    auto first = sluice::rate_limited([] { return 1; }, limit);
    auto second = sluice::rate_limited([] { return 2; }, copy);
    auto copied_wrapper = second;
    const time_point start = fake.now();
    CHECK(first() == 1);
    CHECK(second() == 2);
    CHECK(copied_wrapper() == 2);
    CHECK(first() == 1);
    CHECK(fake.now() - start == 3 * interval(10));  // one bucket: four calls, three intervals

    auto other = sluice::rate_limited([] { return 3; }, apart);
    const time_point before = fake.now();
    CHECK(other() == 3);
    CHECK(fake.now() == before);  // its own bucket is still full
  }

  TEST_CASE("callers on 8 threads are served first come, first served, each in its turn" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // A blocking clock: a caller sleeps until the test moves the time to its slot. The test
    // moves it one slot at a time, once every caller that has calls left is asleep.
    sluice::manual_clock fake{sluice::manual_clock::sleeping::blocks};
    const sluice::rate_limit limit{.per_second = 10, .burst = 1, .clock = &fake};
    constexpr std::size_t threads = 8;
    constexpr std::size_t calls = 5;
    constexpr std::size_t total = threads * calls;

    std::mutex mu;
    std::vector<std::size_t> order;  // the thread of each call, in the order they were made
    std::vector<time_point> at;      // and when
    std::vector<std::size_t> made(threads, 0);
    std::atomic<std::size_t> entered{0};  // calls of the wrapper begun
    std::stop_source stop;
    auto limited = sluice::rate_limited(
        [&](std::size_t thread, std::stop_token) {
          std::lock_guard lock(mu);
          order.push_back(thread);
          at.push_back(fake.now());
          ++made[thread];
        },
        limit);

    const auto made_so_far = [&] {
      std::lock_guard lock(mu);
      return order.size();
    };
    // Every thread with calls left has begun its next call and is asleep in it.
    const auto all_asleep = [&] {
      std::size_t left = 0;
      std::size_t done = 0;
      {
        std::lock_guard lock(mu);
        left = static_cast<std::size_t>(
            std::count_if(made.begin(), made.end(), [](std::size_t m) { return m < calls; }));
        done = order.size();
      }
      const std::size_t begun = entered.load();
      return begun - done == left && fake.sleeps().size() == begun;
    };

    REQUIRE(sluice::detail::acquire(limit, {}));  // the test takes the only token: all must wait
    bool drove = true;
    std::jthread driver([&] {
      for (std::size_t step = 0; step < total && drove; ++step) {
        drove = sluice_test::eventually([&] { return made_so_far() == step && all_asleep(); });
        fake.advance(interval(10));
      }
      drove = drove && sluice_test::eventually([&] { return made_so_far() == total; });
      if (!drove) stop.request_stop();  // frees the callers, so that the test ends
    });
    sluice_test::run_on_threads(threads, [&](std::size_t thread) {
      for (std::size_t i = 0; i < calls; ++i) {
        ++entered;
        try {
          limited(thread, stop.get_token());
        } catch (const std::runtime_error&) {
          return;  // cancelled: the driver gave up
        }
      }
    });
    driver.join();

    REQUIRE(drove);
    REQUIRE(order.size() == total);
    for (std::size_t i = 0; i < total; ++i) {
      CAPTURE(i);
      CHECK(at[i] - at[0] == interval(10) * static_cast<long>(i));  // one call per slot
      CHECK(order[i] == order[i % threads]);                        // the same rotation every round
    }
    // Each round of 8 calls has one call of every thread: none waits for the others to finish.
    const std::set<std::size_t> first_round(order.begin(), order.begin() + threads);
    CHECK(first_round.size() == threads);
  }

  TEST_CASE(
      "a stop request ends a wait for a token: the call is not made and its slot is given back" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice::manual_clock fake{sluice::manual_clock::sleeping::blocks};
    const sluice::rate_limit limit{.per_second = 10, .burst = 1, .clock = &fake};
    std::atomic<int> calls{0};
    auto limited = sluice::rate_limited([&](std::stop_token) { ++calls; }, limit);
    limited(std::stop_token{});  // takes the only token
    REQUIRE(calls == 1);

    std::stop_source stop;
    std::string message;
    std::jthread waiter([&] {
      try {
        limited(stop.get_token());
      } catch (const std::runtime_error& error) {
        message = error.what();
      }
    });
    CHECK(sluice_test::eventually([&] { return fake.sleeps().size() == 1; }));
    stop.request_stop();
    waiter.join();
    CHECK(calls == 1);
    CHECK(message.find("cancelled") != std::string::npos);

    // The next caller gets the slot the cancelled one had reserved, one interval away, not two.
    std::atomic<bool> granted{false};
    std::jthread next([&] { granted = sluice::detail::acquire(limit, {}); });
    CHECK(sluice_test::eventually([&] { return fake.sleeps().size() == 2; }));
    fake.advance(interval(10));
    next.join();
    CHECK(granted);
    REQUIRE(fake.sleeps().size() == 2);
    CHECK(fake.sleeps()[1] == interval(10));

    // A stop already requested refuses even a token that is there.
    fake.advance(10 * interval(10));
    CHECK_FALSE(sluice::detail::acquire(limit, stop.get_token()));
    CHECK(sluice::detail::acquire(limit, {}));
  }

  TEST_CASE("an invalid per_second or burst throws std::invalid_argument naming the field") {
    for (const double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity(), 1e-12}) {
      CAPTURE(bad);
      const std::string message =
          invalid_argument_message([&] { return sluice::rate_limit{.per_second = bad}; });
      CHECK(message.rfind("sluice: rate_limit.per_second is ", 0) == 0);
    }
    const std::string burst =
        invalid_argument_message([] { return sluice::rate_limit{.per_second = 5, .burst = 0}; });
    CHECK(burst.rfind("sluice: rate_limit.burst is 0;", 0) == 0);

    // The pipeline's check names the task; a field changed after the bucket was made is caught.
    sluice::rate_limit changed{5.0};
    changed.per_second = 0;
    CHECK(invalid_argument_message([&] {
            sluice::detail::check_rate_limit(changed, "task 'fetch' (task#2)");
          }).rfind("sluice: task 'fetch' (task#2): rate_limit.per_second is 0;", 0) == 0);
    changed.per_second = 7;
    CHECK(invalid_argument_message([&] {
            return sluice::rate_limited([] {}, changed);
          }).find("rate_limit.per_second is 7 but its bucket was made with 5") !=
          std::string::npos);
    sluice::manual_clock fake;
    sluice::rate_limit reclocked{5.0};
    reclocked.clock = &fake;
    CHECK(invalid_argument_message([&] {
            return sluice::rate_limited([] {}, reclocked);
          }).find("rate_limit.clock") != std::string::npos);
    CHECK(invalid_argument_message([] {
            return sluice::rate_limited([] {}, sluice::rate_limit{5.0, 2});
          }).empty());
  }

  TEST_CASE("rate_limited keeps the call's signature and passes a trailing stop_token on") {
    sluice::manual_clock fake;
    const sluice::rate_limit limit{.per_second = 1000, .burst = 100, .clock = &fake};

    auto add = sluice::rate_limited([](int a, int b) { return a + b; }, limit);
    static_assert(std::is_invocable_r_v<int, decltype(add), int, int>);
    static_assert(!std::is_invocable_v<decltype(add), std::string>);
    static_assert(!std::is_invocable_v<decltype(add), int, int, std::stop_token>);
    CHECK(add(2, 3) == 5);

    int value = 1;
    auto ref = sluice::rate_limited([&value]() -> int& { return value; }, limit);
    static_assert(std::is_same_v<decltype(ref()), int&>);
    ref() = 7;
    CHECK(value == 7);

    auto take = sluice::rate_limited([](std::unique_ptr<int> p) { return *p; }, limit);
    CHECK(take(std::make_unique<int>(4)) == 4);

    std::stop_source source;
    auto same = sluice::rate_limited(
        [&](int x, std::stop_token token) { return token == source.get_token() ? x : -1; }, limit);
    CHECK(same(9, source.get_token()) == 9);

    auto throws = sluice::rate_limited([]() -> int { throw std::out_of_range("boom"); }, limit);
    CHECK_THROWS_AS(throws(), std::out_of_range);
  }

  TEST_CASE("8 threads at 50 calls a second make 100 calls (+ burst) in 2 s on the real clock" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    constexpr std::size_t burst = 5;
    const sluice::rate_limit limit{.per_second = 50, .burst = burst};
    std::atomic<int> calls{0};
    std::stop_source stop;
    auto limited = sluice::rate_limited([&](std::stop_token) { ++calls; }, limit);
    const auto start = std::chrono::steady_clock::now();
    std::jthread timer([&] {
      std::this_thread::sleep_until(start + 2s);
      stop.request_stop();
    });
    sluice_test::run_on_threads(8, [&](std::size_t) {
      while (!stop.stop_requested()) {
        try {
          limited(stop.get_token());
        } catch (const std::runtime_error&) {
          // cancelled at the end
        }
      }
    });
    const double expected = 100.0 + burst;
    CAPTURE(calls.load());
    CHECK(std::abs(calls.load() - expected) <= 0.05 * expected);
  }
}
