// Tests of the resilience options of <sluice/task.hpp>: retry, rate, cache, timeout and breaker
// around each item's call, in the order cache -> rate -> retry -> breaker -> timeout -> call,
// with every attempt in failure::attempts and retried attempts counted in task_stats.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/detail/resilience/deadline.hpp>
#include <sluice/sluice.hpp>

#include "common/call_log.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;

namespace {

using sluice_test::call_log;

// Collects the failures an on_error handler receives.
struct failures {
  std::mutex mu;
  std::vector<sluice::failure> seen;
  std::function<void(const sluice::failure&)> handler() {
    return [this](const sluice::failure& f) {
      std::lock_guard lock(mu);
      seen.push_back(f);
    };
  }
};

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

sluice::retry_policy quick_retry(std::size_t attempts) {
  return {.max_attempts = attempts, .min_delay = 0ms, .max_delay = 0ms, .jitter = false};
}

}  // namespace

TEST_SUITE("task resilience") {
  TEST_CASE("a task's retry calls a failing item again until it succeeds" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto flaky = [&](int x) {
      if (calls.add(x) < 3) throw std::runtime_error("not yet");
      return 2 * x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(flaky, {.concurrency = 4, .retry = quick_retry(3)});
    auto out = p(50);
    std::vector<int> got;
    for (int x : out) got.push_back(x);
    std::sort(got.begin(), got.end());
    std::vector<int> expected;
    for (int i = 0; i < 50; ++i) expected.push_back(2 * i);
    CHECK(got == expected);
    CHECK(calls.total() == 150);
    CHECK(out.stats()[1].retried == 100);  // two retried attempts per item
    CHECK(out.stats()[1].failed == 0);
  }

  TEST_CASE(
      "a failed item's failure lists every attempt, oldest first, and its error is the last "
      "attempt's own exception" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    failures handled;
    auto always = [&](int x) -> int {
      throw std::runtime_error("attempt " + std::to_string(calls.add(x)));
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(always, {.name = "fetch",
                                   .retry = quick_retry(3),
                                   .on_error = handled.handler()}) > sluice::count();

    CHECK(p(4) == 0);
    REQUIRE(handled.seen.size() == 4);
    for (const sluice::failure& f : handled.seen) {
      CHECK(f.task == "fetch");
      REQUIRE(f.attempts.size() == 3);
      CHECK(what_of(f.attempts[0]) == "attempt 1");
      CHECK(what_of(f.attempts[1]) == "attempt 2");
      CHECK(what_of(f.attempts[2]) == "attempt 3");
      CHECK(f.error == f.attempts.back());
      CHECK(what_of(f.error) == "attempt 3");
    }
  }

  TEST_CASE(
      "without on_error, an item whose retries run out stops the run with its last "
      "attempt's own exception, its type unchanged" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto bad_seven = [&](int x) {
      if (x == 7) throw sluice_test::test_error{100 + calls.add(x)};  // 101, then 102
      return x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(bad_seven, {.retry = quick_retry(2)}) > sluice::count();
    try {
      p(20);
      FAIL("the run should have failed");
    } catch (const sluice::all_failed&) {
      FAIL("a task's retry must not wrap the item's exception in all_failed");
    } catch (const sluice_test::test_error& e) {
      CHECK(e.item == 102);  // the second, last attempt's
    }
    CHECK(calls.of(7) == 2);
  }

  TEST_CASE("a task's retry rethrows the last attempt's all_failed as it is, not wrapped again" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    failures handled;
    // Each attempt is a fallback sequence that throws its own all_failed.
    auto keys = sluice::with_fallback(
        [&](int x, int key) -> int { throw sluice_test::test_error{10 * calls.add(x) + key}; },
        std::vector<int>{1, 2});
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(keys, {.retry = quick_retry(2), .on_error = handled.handler()}) >
                 sluice::count();
    CHECK(p(1) == 0);
    REQUIRE(handled.seen.size() == 1);
    const sluice::failure& f = handled.seen.front();
    REQUIRE(f.attempts.size() == 2);
    CHECK(f.error == f.attempts.back());
    try {
      std::rethrow_exception(f.error);
    } catch (const sluice::all_failed& e) {
      REQUIRE(e.errors().size() == 2);  // the last attempt's two keys, not the two attempts
      CHECK(sluice_test::item_of(e.errors()[0]) == 31);
      CHECK(sluice_test::item_of(e.errors()[1]) == 42);
    }
  }

  TEST_CASE("a task with one attempt reports its own exception unchanged" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto bad = [](int x) -> int { throw std::out_of_range("item " + std::to_string(x)); };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(bad, {.retry = quick_retry(1)}) > sluice::count();
    CHECK_THROWS_AS(p(3), std::out_of_range);
  }

  TEST_CASE("a task's cache outlives a run: the second run of the pipeline makes no call" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto square = [&](int x) {
      calls.add(x);
      return x * x;
    };
    const auto p = sluice::task(numbers, sluice::branch) |
                   sluice::task(square, {.concurrency = 2, .cache = sluice::cache_policy{}}) >
                       sluice::reduce(0, [](int total, int x) { return total + x; });
    const int first = p(30);
    const auto copy = p;  // copies of the pipeline object share the cache
    const int second = copy(30);
    CHECK(first == second);
    CHECK(calls.total() == 30);
    for (int i = 0; i < 30; ++i) CHECK(calls.of(i) == 1);
  }

  TEST_CASE(
      "a task's unusable cache directory is rejected when the pipeline is called, naming the "
      "task, the option and the path" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                       ("sluice-task-cache-file-" + std::to_string(::getpid()));
    std::ofstream{file} << "not a directory";
    const std::string under_file = (file / "cache").string();
    auto square = [](int x) { return x * x; };
    struct example {
      std::string name;
      std::string who;
    };
    for (const example& ex : {example{"geo", "task 'geo' (task#2)"}, example{"", "task#2"}}) {
      CAPTURE(ex.who);
      const auto p =
          sluice::task(numbers, sluice::branch) |
          sluice::task(square,
                       {.name = ex.name, .cache = sluice::cache_policy{.directory = under_file}}) >
              sluice::count();
      const std::string expected = "sluice: " + ex.who + " has cache_policy.directory \"" +
                                   under_file + "\", which cannot be used: ";
      CHECK_THROWS_WITH_AS(p(3), doctest::Contains(expected.c_str()), std::runtime_error);
    }
    std::filesystem::remove(file);
  }

  TEST_CASE("a task's cache keeps no failure" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    failures handled;
    auto first_fails = [&](int x) {
      if (calls.add(x) == 1) throw std::runtime_error("first call");
      return x;
    };
    const auto p = sluice::task(numbers, sluice::branch) |
                   sluice::task(first_fails, {.cache = sluice::cache_policy{},
                                              .on_error = handled.handler()}) > sluice::count();
    CHECK(p(5) == 0);  // every item failed once
    CHECK(p(5) == 5);  // called again, not answered by the cache
    CHECK(p(5) == 5);  // now cached
    CHECK(calls.total() == 10);
  }

  TEST_CASE("a task's rate limit spaces its calls, and a cache hit takes no token" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    auto same = [](int x) { return x; };
    const auto p = sluice::task(numbers, sluice::branch) |
                   sluice::task(same, {.rate = sluice::rate_limit{10.0, 1, &fake},
                                       .cache = sluice::cache_policy{}}) > sluice::count();
    CHECK(p(5) == 5);
    const auto after_first = fake.sleeps();
    CHECK(after_first.size() == 4);  // the first token was in the full bucket
    for (auto slept : after_first) CHECK(slept == 100ms);
    CHECK(p(5) == 5);                                   // every item hits the cache
    CHECK(fake.sleeps().size() == after_first.size());  // and waits for no token
  }

  TEST_CASE(
      "a task's timeout stops a call that takes a stop_token and fails it with "
      "timeout_error" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    failures handled;
    std::atomic<int> asked_to_stop{0};
    auto waits = [&](int x, std::stop_token stop) {
      // Waits until asked to stop, for `patience` at most.
      sluice_test::eventually([&] { return stop.stop_requested(); });
      if (stop.stop_requested()) asked_to_stop.fetch_add(1);
      return x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(
                 waits, {.retry = quick_retry(2), .timeout = 20ms, .on_error = handled.handler()}) >
                 sluice::count();
    CHECK(p(2) == 0);
    CHECK(asked_to_stop.load() == 4);  // two items, two attempts each
    REQUIRE(handled.seen.size() == 2);
    for (const sluice::failure& f : handled.seen) {
      REQUIRE(f.attempts.size() == 2);
      CHECK_THROWS_AS(std::rethrow_exception(f.attempts[0]), sluice::timeout_error);
      CHECK_THROWS_AS(std::rethrow_exception(f.attempts[1]), sluice::timeout_error);
    }
  }

  TEST_CASE("a timeout of milliseconds::max() never expires, not even after a later deadline" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // Each call waits until a 1 ms deadline armed after its attempt's own has passed. The timer
    // fires deadlines in order, so an attempt deadline that overflowed into the past would have
    // stopped the call first; a saturated one never does.
    auto outlasts = [](int x, std::stop_token attempt) {
      std::stop_source later;
      {
        const sluice::detail::deadline_guard one_ms(later, 1ms);
        std::mutex mu;
        std::condition_variable_any passed;
        std::unique_lock lock(mu);
        passed.wait(lock, later.get_token(), [] { return false; });
      }
      return attempt.stop_requested() ? -1 : x;
    };
    for (const std::chrono::milliseconds timeout :
         {std::chrono::milliseconds::max(), std::chrono::milliseconds{24h * 365 * 1000}}) {
      CAPTURE(timeout.count());
      auto p = sluice::task(numbers, sluice::branch) |
               sluice::task(outlasts, {.concurrency = 2, .timeout = timeout}) > sluice::to_vector();
      std::vector<int> out = p(4);
      std::sort(out.begin(), out.end());
      CHECK(out == std::vector<int>{0, 1, 2, 3});
    }
  }

  TEST_CASE("a timeout leaves alone an attempt that ends in time" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto quick = [](int x, std::stop_token stop) { return stop.stop_requested() ? -1 : x; };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(quick, {.concurrency = 3, .timeout = 10s}) >
                 sluice::reduce(0, [](int total, int x) { return total + x; });
    CHECK(p(100) == 4950);
  }

  TEST_CASE("a task's breaker opens after failures in a row and later items fail fast" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    std::atomic<int> calls{0};
    failures handled;
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 3, .open_for = 1h, .clock = &fake}};
    auto down = [&](int) -> int {
      calls.fetch_add(1);
      throw std::runtime_error("service down");
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(down, {.breaker = breaker, .on_error = handled.handler()});
    auto out = p(10);
    int outputs = 0;
    for (int x : out) outputs += x * 0 + 1;
    CHECK(outputs == 0);
    CHECK(calls.load() == 3);
    REQUIRE(handled.seen.size() == 10);
    int refused = 0;
    for (const sluice::failure& f : handled.seen) {
      try {
        std::rethrow_exception(f.error);
      } catch (const sluice::circuit_open&) {
        ++refused;
      } catch (const std::runtime_error&) {
      }
    }
    CHECK(refused == 7);
    REQUIRE(out.stats()[1].circuit.has_value());
    CHECK(*out.stats()[1].circuit == sluice::circuit_state::open);
    CHECK(breaker.state() == sluice::circuit_state::open);
  }

  TEST_CASE("invalid resilience options are rejected naming the task" * doctest::timeout(30)) {
    auto same = [](int x) { return x; };
    SUBCASE("retry with no attempts") {
      auto p =
          sluice::task(numbers, sluice::branch) |
          sluice::task(same, {.name = "fetch", .retry = sluice::retry_policy{.max_attempts = 0}}) >
              sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("task 'fetch' (task#2)"), std::invalid_argument);
    }
    SUBCASE("a negative timeout") {
      auto p = sluice::task(numbers, sluice::branch) |
               sluice::task(same, {.timeout = -5ms}) > sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("task#2"), std::invalid_argument);
    }
    SUBCASE("resilience on the producer") {
      auto p = sluice::task(numbers, sluice::branch, {.retry = quick_retry(2)}) |
               sluice::task(same) > sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("producer"), std::invalid_argument);
    }
    SUBCASE("a cache on an input that cannot be a key") {
      struct opaque {
        int value = 0;
      };
      auto make = [](int x) { return opaque{x}; };
      auto unwrap = [](const opaque& o) { return o.value; };
      auto p = sluice::task(numbers, sluice::branch) | sluice::task(make) |
               sluice::task(unwrap, {.cache = sluice::cache_policy{}}) > sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("cannot be a cache key"), std::invalid_argument);
    }
  }
}
