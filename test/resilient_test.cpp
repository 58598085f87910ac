// Tests of <sluice/resilient.hpp>: cache, rate limit, retry, breaker and timeout around one
// callable, in the order of a task's options (cache -> rate -> retry -> each attempt: breaker ->
// timeout -> the call, a fallback sequence inside each attempt).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/detail/resilience/deadline.hpp>
#include <sluice/sluice.hpp>

#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

sluice::retry_policy no_wait_retry(std::size_t attempts, const sluice::clock* clock) {
  return {
      .max_attempts = attempts, .backoff = 1.0, .min_delay = 10ms, .jitter = false, .clock = clock};
}

}  // namespace

TEST_SUITE("resilient") {
  TEST_CASE("a cache hit makes no call and waits for no token") {
    sluice::manual_clock fake;
    std::atomic<int> calls{0};
    auto twice = sluice::resilient(
        [&](int x) { return calls.fetch_add(1), 2 * x; },
        {.cache = sluice::cache_policy{.clock = &fake}, .rate = sluice::rate_limit{1.0, 1, &fake}});
    CHECK(twice(4) == 8);  // the full bucket's token
    CHECK(twice(4) == 8);  // a hit
    CHECK(twice(4) == 8);
    CHECK(calls.load() == 1);
    CHECK(fake.sleeps().empty());
    CHECK(twice(5) == 10);  // a miss waits a second for its token
    REQUIRE(fake.sleeps().size() == 1);
    CHECK(fake.sleeps()[0] == 1s);
  }

  TEST_CASE("one call takes one token however many attempts its retry makes") {
    sluice::manual_clock fake;
    std::atomic<int> calls{0};
    auto flaky = sluice::resilient(
        [&](int x) {
          if (calls.fetch_add(1) % 3 != 2) throw std::runtime_error("flaky");
          return x;
        },
        {.rate = sluice::rate_limit{1.0, 1, &fake}, .retry = no_wait_retry(3, &fake)});
    CHECK(flaky(1) == 1);
    CHECK(flaky(2) == 2);
    CHECK(calls.load() == 6);
    // sleeps: two backoffs of 10 ms for the first call; for the second, the token (1 s minus
    // the 20 ms already waited) and two more backoffs.
    const auto sleeps = fake.sleeps();
    REQUIRE(sleeps.size() == 5);
    CHECK(sleeps[0] == 10ms);
    CHECK(sleeps[1] == 10ms);
    CHECK(sleeps[2] == 980ms);
    CHECK(sleeps[3] == 10ms);
  }

  TEST_CASE("each retry attempt runs the whole fallback sequence") {
    sluice::manual_clock fake;
    std::vector<std::string> tried;
    auto call_with_key = [&](int, const std::string& key) -> int {
      tried.push_back(key);
      throw std::runtime_error("refused with " + key);
    };
    auto all = sluice::resilient(
        sluice::with_fallback(call_with_key, std::vector<std::string>{"k1", "k2"}),
        {.retry = no_wait_retry(2, &fake)});
    try {
      all(7);
      FAIL("every key failed");
    } catch (const sluice::all_failed& e) {
      REQUIRE(e.errors().size() == 2);  // one per attempt, each an all_failed of the keys
      for (const std::exception_ptr& attempt : e.errors()) {
        CHECK_THROWS_AS(std::rethrow_exception(attempt), sluice::all_failed);
      }
    }
    CHECK(tried == std::vector<std::string>{"k1", "k2", "k1", "k2"});
  }

  TEST_CASE("an open breaker refuses every attempt without calling") {
    sluice::manual_clock fake;
    std::atomic<int> calls{0};
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 2, .open_for = 1min, .clock = &fake}};
    auto down = sluice::resilient(
        [&](int) -> int {
          calls.fetch_add(1);
          throw std::runtime_error("down");
        },
        {.retry = no_wait_retry(3, &fake), .breaker = breaker});
    CHECK_THROWS_AS(down(1), sluice::all_failed);
    CHECK(calls.load() == 2);  // the third attempt was refused
    CHECK(breaker.state() == sluice::circuit_state::open);
  }

  TEST_CASE("a single call with nothing to retry rethrows its own exception") {
    auto bad = sluice::resilient([](int) -> int { throw std::out_of_range("bad"); }, {});
    CHECK_THROWS_AS(bad(1), std::out_of_range);
  }

  TEST_CASE("copies share one cache, and calls from 8 threads compute each key once" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<int> calls{0};
    const auto square = sluice::resilient([&](int x) { return calls.fetch_add(1), x * x; },
                                          {.cache = sluice::cache_policy{}});
    const auto copy = square;
    sluice_test::run_on_threads(8, [&](std::size_t t) {
      for (int round = 0; round < 50; ++round) {
        for (int k = 0; k < 20; ++k) CHECK((t % 2 == 0 ? square : copy)(k) == k * k);
      }
    });
    CHECK(calls.load() == 20);
  }

  TEST_CASE("an invalid policy is rejected when the wrapper is made") {
    auto same = [](int x) { return x; };
    CHECK_THROWS_AS(sluice::resilient(same, {.retry = sluice::retry_policy{.max_attempts = 0}}),
                    std::invalid_argument);
  }

  TEST_CASE("a timeout stops an attempt through the token it is given, and fails it" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> stopped{0};
    auto waits = sluice::resilient(
        [&](int x, std::stop_token stop) {
          std::mutex mu;
          std::condition_variable_any never;
          std::unique_lock lock(mu);
          never.wait(lock, stop, [] { return false; });  // ends only when asked to stop
          stopped.fetch_add(1);
          return x;
        },
        {.retry = sluice::retry_policy{.max_attempts = 2, .min_delay = 1ms, .jitter = false},
         .timeout = 5ms});
    try {
      (void)waits(7, std::stop_token{});
      FAIL("the attempts ran past their timeout and still returned");
    } catch (const sluice::all_failed& e) {
      REQUIRE(e.errors().size() == 2);
      CHECK_THROWS_AS(std::rethrow_exception(e.errors()[0]), sluice::timeout_error);
      CHECK_THROWS_WITH_AS(std::rethrow_exception(e.errors()[1]),
                           doctest::Contains("resilient: an attempt ran past its timeout of 5 ms"),
                           sluice::timeout_error);
    }
    CHECK(stopped.load() == 2);
  }

  TEST_CASE("a late result of a callable without a stop_token is a timeout_error" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // The callable outlasts its 1 ms deadline by waiting for a later one of its own.
    auto late = sluice::resilient(
        [](int x) {
          std::stop_source later;
          const sluice::detail::deadline_guard passes(later, 20ms);
          std::mutex mu;
          std::condition_variable_any passed;
          std::unique_lock lock(mu);
          passed.wait(lock, later.get_token(), [] { return false; });
          return x;
        },
        {.timeout = 1ms});
    CHECK_THROWS_AS((void)late(1), sluice::timeout_error);
  }

  TEST_CASE("the caller's stop request reaches an attempt under a timeout" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::stop_source caller;
    auto waits = sluice::resilient(
        [](int x, std::stop_token stop) {
          std::mutex mu;
          std::condition_variable_any never;
          std::unique_lock lock(mu);
          never.wait(lock, stop, [] { return false; });
          return x;
        },
        {.timeout = std::chrono::milliseconds::max()});
    std::thread stopper([&] { caller.request_stop(); });
    CHECK(waits(3, caller.get_token()) == 3);  // asked to stop by its caller: not late
    stopper.join();
  }

  TEST_CASE("a negative timeout is rejected when the wrapper is made") {
    auto same = [](int x) { return x; };
    CHECK_THROWS_WITH_AS(sluice::resilient(same, {.timeout = -1ms}),
                         doctest::Contains("resilient has a negative timeout (-1 ms)"),
                         std::invalid_argument);
  }
}
