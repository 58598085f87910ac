// Tests of <sluice/retry.hpp>: how many calls a retry makes, the exact backoff delays (on a
// manual clock), jitter, retry_if / retry_on filters, the shape of the error when it gives up,
// stop requests during a wait, policy checks, calls from many threads, and
// detail::run_with_retry, the entry point the pipeline uses.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/clock.hpp>
#include <sluice/errors.hpp>
#include <sluice/retry.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::item_of;
using sluice_test::plain_error;
using sluice_test::test_error;

namespace {

// What calling `fn` throws, or a null exception_ptr when it returns.
template <class Fn>
std::exception_ptr error_of(Fn&& fn) {
  try {
    static_cast<void>(fn());
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

// The all_failed inside `error`; fails the test when it holds something else.
std::vector<std::exception_ptr> all_failed_errors(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const sluice::all_failed& e) {
    return e.errors();
  } catch (...) {
    FAIL("expected sluice::all_failed");
  }
  return {};
}

// The nominal delay before attempt made + 1, from the formula of the contract.
sluice::clock::duration nominal_delay(const sluice::retry_policy& policy, std::size_t made) {
  const double ms = static_cast<double>(policy.min_delay.count()) *
                    std::pow(policy.backoff, static_cast<double>(made - 1));
  const auto capped = std::min(ms, static_cast<double>(policy.max_delay.count()));
  return std::chrono::duration_cast<sluice::clock::duration>(
      std::chrono::duration<double, std::milli>{capped});
}

}  // namespace

TEST_SUITE("retry") {
  TEST_CASE("retry returns the first success and calls f once per failure plus once") {
    sluice::manual_clock clock;
    for (int failures = 0; failures < 4; ++failures) {
      CAPTURE(failures);
      int calls = 0;
      auto flaky = [&](int x) {
        ++calls;
        if (calls <= failures) throw test_error{calls};
        return 2 * x;
      };
      auto wrapped = sluice::retry(flaky, {.max_attempts = 4, .clock = &clock});
      CHECK(wrapped(21) == 42);
      CHECK(calls == failures + 1);
    }
  }

  TEST_CASE("retry stops after max_attempts and throws all_failed with every error") {
    sluice::manual_clock clock;
    for (std::size_t max_attempts : {std::size_t{2}, std::size_t{3}, std::size_t{5}}) {
      CAPTURE(max_attempts);
      int calls = 0;
      auto broken = [&] {
        ++calls;
        throw test_error{calls};
      };
      auto wrapped = sluice::retry(broken, {.max_attempts = max_attempts, .clock = &clock});
      try {
        wrapped();
        FAIL("the retry did not throw");
      } catch (const sluice::all_failed& e) {
        CHECK(static_cast<std::size_t>(calls) == max_attempts);
        REQUIRE(e.errors().size() == max_attempts);
        for (std::size_t i = 0; i < max_attempts; ++i) {
          CHECK(item_of(e.errors()[i]) == static_cast<int>(i) + 1);  // oldest first
        }
        const std::string what = e.what();
        CHECK(what.find("retry") != std::string::npos);
        CHECK(what.find(std::to_string(max_attempts) + " attempts") != std::string::npos);
        CHECK(what.find("test_error at item " + std::to_string(max_attempts)) !=
              std::string::npos);  // the last error's what()
      }
    }
  }

  TEST_CASE("retry waits min_delay * backoff^(n-1), capped at max_delay, before attempt n+1") {
    struct example {
      sluice::retry_policy policy;
      std::vector<std::chrono::milliseconds> delays;
    };
    const std::vector<example> examples{
        {{.max_attempts = 6, .backoff = 2.0, .min_delay = 100ms, .max_delay = 1s},
         {100ms, 200ms, 400ms, 800ms, 1000ms}},
        {{.max_attempts = 3}, {100ms, 150ms}},  // the defaults
        {{.max_attempts = 4, .backoff = 1.0, .min_delay = 30ms}, {30ms, 30ms, 30ms}},
        {{.max_attempts = 3, .min_delay = 0ms}, {0ms, 0ms}},
        {{.max_attempts = 4, .backoff = 3.0, .min_delay = 50ms, .max_delay = 50ms},
         {50ms, 50ms, 50ms}},
    };
    for (const example& ex : examples) {
      CAPTURE(ex.policy.max_attempts);
      CAPTURE(ex.policy.backoff);
      sluice::manual_clock clock;
      sluice::retry_policy policy = ex.policy;
      policy.jitter = false;
      policy.clock = &clock;
      const auto start = clock.now();
      auto broken = [] { throw test_error{0}; };
      CHECK_THROWS_AS(sluice::retry(broken, policy)(), sluice::all_failed);

      std::vector<sluice::clock::duration> expected(ex.delays.begin(), ex.delays.end());
      CHECK(clock.sleeps() == expected);
      sluice::clock::duration total{};
      for (auto d : expected) total += d;
      CHECK(clock.now() - start == total);
    }
  }

  TEST_CASE("a delay too long for the clock waits as long as the clock can; it is not skipped") {
    for (const std::chrono::milliseconds delay :
         {std::chrono::milliseconds{24h * 365 * 1000}, std::chrono::milliseconds::max()}) {
      CAPTURE(delay.count());
      sluice::manual_clock clock;
      const auto start = clock.now();
      std::atomic<int> calls{0};
      auto broken = [&]() -> int { throw test_error{++calls}; };
      const sluice::retry_policy policy{.max_attempts = 2,
                                        .min_delay = delay,
                                        .max_delay = delay,
                                        .jitter = false,
                                        .clock = &clock};
      CHECK(all_failed_errors(error_of(sluice::retry(broken, policy))).size() == 2);
      const std::vector<sluice::clock::duration> sleeps = clock.sleeps();
      REQUIRE(sleeps.size() == 1);
      // The clock's nanoseconds end about 292 years after its epoch: the wait reaches that end.
      CHECK(sleeps.front() == sluice::clock::time_point::max() - start);
      CHECK(sleeps.front() > 24h * 365 * 200);
      CHECK(clock.now() == sluice::clock::time_point::max());
    }
  }

  TEST_CASE("a retry that succeeds at once does not wait or read the clock") {
    sluice::manual_clock clock;
    auto wrapped = sluice::retry([](int x) { return x + 1; }, {.clock = &clock});
    const auto start = clock.now();
    CHECK(wrapped(1) == 2);
    CHECK(clock.sleeps().empty());
    CHECK(clock.now() == start);
  }

  TEST_CASE("jittered waits are uniform draws between 0 and the delay") {
    sluice::manual_clock clock;
    const sluice::retry_policy policy{.max_attempts = 40,
                                      .backoff = 1.5,  // delays exact in nanoseconds
                                      .min_delay = 100ms,
                                      .max_delay = 1s,
                                      .jitter = true,
                                      .clock = &clock};
    auto broken = [] { throw test_error{0}; };
    CHECK_THROWS_AS(sluice::retry(broken, policy)(), sluice::all_failed);

    const std::vector<sluice::clock::duration> sleeps = clock.sleeps();
    REQUIRE(sleeps.size() == policy.max_attempts - 1);
    std::size_t below_nominal = 0;
    for (std::size_t made = 1; made <= sleeps.size(); ++made) {
      CAPTURE(made);
      const auto slept = sleeps[made - 1];
      CHECK(slept >= sluice::clock::duration::zero());
      CHECK(slept <= nominal_delay(policy, made));
      if (slept < nominal_delay(policy, made)) ++below_nominal;
    }
    CHECK(below_nominal > 0);  // jitter is on: not every wait is the full delay
    bool all_equal = true;
    for (auto slept : sleeps) all_equal = all_equal && slept == sleeps.front();
    CHECK_FALSE(all_equal);
  }

  TEST_CASE("an error that retry_if rejects is rethrown unchanged after one call") {
    sluice::manual_clock clock;
    int calls = 0;
    const test_error* thrown = nullptr;
    auto picky = [&] {
      ++calls;
      try {
        throw test_error{7};
      } catch (const test_error& e) {
        thrown = &e;
        throw;
      }
    };
    auto wrapped = sluice::retry(
        picky,
        {.max_attempts = 5, .retry_if = sluice::retry_on<std::logic_error>(), .clock = &clock});
    try {
      wrapped();
      FAIL("the retry did not throw");
    } catch (const test_error& e) {
      CHECK(&e == thrown);  // the very object f threw
      CHECK(e.item == 7);
    }
    CHECK(calls == 1);
    CHECK(clock.sleeps().empty());
  }

  TEST_CASE("an error that retry_if rejects after retried ones gives all_failed with all of them") {
    sluice::manual_clock clock;
    int calls = 0;
    auto worsening = [&] {
      ++calls;
      if (calls < 3) throw test_error{calls};
      throw std::logic_error("permanent");
    };
    auto wrapped = sluice::retry(
        worsening,
        {.max_attempts = 10, .retry_if = sluice::retry_on<test_error>(), .clock = &clock});
    const std::vector<std::exception_ptr> errors = all_failed_errors(error_of(wrapped));
    CHECK(calls == 3);
    REQUIRE(errors.size() == 3);
    CHECK(item_of(errors[0]) == 1);
    CHECK(item_of(errors[1]) == 2);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(errors[2]), "permanent", std::logic_error);
  }

  TEST_CASE("retry_if receives each failed attempt's exception") {
    sluice::manual_clock clock;
    std::vector<int> seen;
    int calls = 0;
    auto broken = [&] {
      ++calls;
      throw test_error{calls};
    };
    auto until_two = [&](std::exception_ptr error) {
      seen.push_back(item_of(error));
      return item_of(error) < 2;
    };
    CHECK(
        all_failed_errors(error_of(sluice::retry(
                              broken, {.max_attempts = 5, .retry_if = until_two, .clock = &clock})))
            .size() == 2);
    CHECK(seen == std::vector<int>{1, 2});
  }

  TEST_CASE("retry_on accepts the listed types and types derived from them, and nothing else") {
    auto filter = sluice::retry_on<std::out_of_range, test_error>();
    CHECK(filter(std::make_exception_ptr(std::out_of_range("x"))));
    CHECK(filter(std::make_exception_ptr(test_error{1})));
    CHECK_FALSE(filter(std::make_exception_ptr(std::runtime_error("x"))));
    CHECK_FALSE(filter(std::make_exception_ptr(std::logic_error("x"))));  // a base is not enough
    CHECK_FALSE(filter(std::make_exception_ptr(plain_error{1})));
    auto any_runtime = sluice::retry_on<std::runtime_error>();
    CHECK(any_runtime(std::make_exception_ptr(test_error{1})));  // derived from runtime_error
    CHECK(any_runtime(std::make_exception_ptr(
        sluice::all_failed("retry", {std::make_exception_ptr(test_error{1})}))));
  }

  TEST_CASE("an empty retry_if retries std::exception types but not other thrown types") {
    sluice::manual_clock clock;
    SUBCASE("a std::exception is retried") {
      int calls = 0;
      auto broken = [&] {
        ++calls;
        throw std::runtime_error("again");
      };
      CHECK_THROWS_AS(sluice::retry(broken, {.max_attempts = 3, .clock = &clock})(),
                      sluice::all_failed);
      CHECK(calls == 3);
    }
    SUBCASE("anything else is rethrown unchanged after one call") {
      int calls = 0;
      auto odd = [&] {
        ++calls;
        throw plain_error{42};
      };
      try {
        sluice::retry(odd, {.max_attempts = 3, .clock = &clock})();
        FAIL("the retry did not throw");
      } catch (const plain_error& e) {
        CHECK(e.item == 42);
      }
      CHECK(calls == 1);
    }
  }

  TEST_CASE("max_attempts = 1 calls once and rethrows the call's own exception") {
    sluice::manual_clock clock;
    int calls = 0;
    const test_error* thrown = nullptr;
    auto broken = [&](int x) -> int {
      ++calls;
      try {
        throw test_error{x};
      } catch (const test_error& e) {
        thrown = &e;
        throw;
      }
    };
    auto once = sluice::retry(broken, {.max_attempts = 1, .clock = &clock});
    try {
      static_cast<void>(once(5));
      FAIL("the retry did not throw");
    } catch (const test_error& e) {
      CHECK(&e == thrown);
      CHECK(e.item == 5);
    }
    CHECK(calls == 1);
    CHECK(clock.sleeps().empty());
  }

  TEST_CASE("a stop request during a backoff wait ends it and the retry gives up" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice::manual_clock clock{sluice::manual_clock::sleeping::blocks};
    std::atomic<int> calls{0};
    std::atomic<bool> got_token{false};
    auto broken = [&](int x, std::stop_token stop) -> int {
      got_token = stop.stop_possible();
      throw test_error{++calls * 100 + x};
    };
    auto wrapped = sluice::retry(
        broken, {.max_attempts = 5, .min_delay = 1s, .jitter = false, .clock = &clock});

    // `attempts` attempts fail, the wait after the last one is stopped.
    for (int attempts : {1, 2}) {
      CAPTURE(attempts);
      calls = 0;
      std::stop_source source;
      std::exception_ptr outcome;
      std::atomic<bool> done{false};
      const std::size_t sleeps_before = clock.sleeps().size();
      std::thread caller([&] {
        outcome = error_of([&] { return wrapped(1, source.get_token()); });
        done = true;
      });
      for (int i = 1; i <= attempts; ++i) {
        REQUIRE(sluice_test::eventually(
            [&] { return clock.sleeps().size() == sleeps_before + static_cast<std::size_t>(i); }));
        if (i < attempts) clock.advance(clock.sleeps().back());  // lets attempt i + 1 run
      }
      CHECK_FALSE(done.load());  // waiting on the manual clock, which does not move
      source.request_stop();
      caller.join();
      CHECK(calls == attempts);
      CHECK(got_token.load());  // the token is passed on to the callable
      if (attempts == 1) {
        CHECK(item_of(outcome) == 101);  // a single failure, rethrown unchanged
      } else {
        const std::vector<std::exception_ptr> errors = all_failed_errors(outcome);
        REQUIRE(errors.size() == 2);
        CHECK(item_of(errors[0]) == 101);
        CHECK(item_of(errors[1]) == 201);
      }
    }
  }

  TEST_CASE("a retry whose token is already stopped gives up after the first attempt") {
    sluice::manual_clock clock;
    int calls = 0;
    auto broken = [&](std::stop_token) -> int { throw test_error{++calls}; };
    std::stop_source source;
    source.request_stop();
    auto wrapped = sluice::retry(broken, {.max_attempts = 5, .clock = &clock});
    CHECK(item_of(error_of([&] { return wrapped(source.get_token()); })) == 1);
    CHECK(calls == 1);
  }

  TEST_CASE("retry on the system clock ends a long backoff wait on a stop request" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<int> calls{0};
    auto broken = [&](std::stop_token) -> int { throw test_error{++calls}; };
    // An hour's wait that only the stop request can end in time.
    auto wrapped = sluice::retry(broken, {.max_attempts = 2, .min_delay = 1h, .max_delay = 1h});
    std::stop_source source;
    std::exception_ptr outcome;
    std::thread caller([&] { outcome = error_of([&] { return wrapped(source.get_token()); }); });
    REQUIRE(sluice_test::eventually([&] { return calls.load() == 1; }));
    source.request_stop();
    caller.join();
    CHECK(item_of(outcome) == 1);
    CHECK(calls == 1);
  }

  TEST_CASE(
      "retry on the system clock with a delay of milliseconds::max() waits until a stop "
      "request" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<int> calls{0};
    auto broken = [&](std::stop_token) -> int { throw test_error{++calls}; };
    auto wrapped = sluice::retry(broken, {.max_attempts = 2,
                                          .min_delay = std::chrono::milliseconds::max(),
                                          .max_delay = std::chrono::milliseconds::max(),
                                          .jitter = false});
    std::stop_source source;
    std::exception_ptr outcome;
    std::thread caller([&] { outcome = error_of([&] { return wrapped(source.get_token()); }); });
    const bool first = sluice_test::eventually([&] { return calls.load() >= 1; });
    // A wait that was skipped would make the second attempt now; give it the chance to show.
    const bool second = sluice_test::eventually([&] { return calls.load() >= 2; }, 100ms);
    source.request_stop();
    caller.join();
    CHECK(first);
    CHECK_FALSE(second);
    CHECK(item_of(outcome) == 1);
    CHECK(calls == 1);
  }

  TEST_CASE("retry on the system clock waits before the next attempt" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::vector<std::chrono::steady_clock::time_point> starts;
    auto flaky = [&] {
      starts.push_back(std::chrono::steady_clock::now());
      if (starts.size() < 2) throw test_error{1};
      return 1;
    };
    CHECK(sluice::retry(flaky, {.min_delay = 20ms, .jitter = false})() == 1);
    REQUIRE(starts.size() == 2);
    CHECK(starts[1] - starts[0] >= 20ms);
  }

  TEST_CASE("invalid policies throw invalid_argument naming the field and the value") {
    struct bad {
      sluice::retry_policy policy;
      std::string message;  // how the message starts
    };
    const std::vector<bad> cases{
        {{.max_attempts = 0}, "sluice: retry has retry_policy.max_attempts 0;"},
        {{.backoff = 0.5}, "sluice: retry has retry_policy.backoff 0.5;"},
        {{.backoff = -2}, "sluice: retry has retry_policy.backoff -2;"},
        {{.backoff = std::nan("")}, "sluice: retry has retry_policy.backoff nan;"},
        {{.min_delay = -5ms}, "sluice: retry has retry_policy.min_delay -5ms;"},
        {{.min_delay = 2s, .max_delay = 1s}, "sluice: retry has retry_policy.max_delay 1000ms;"},
    };
    for (const bad& c : cases) {
      CAPTURE(c.message);
      try {
        static_cast<void>(sluice::retry([] { return 0; }, c.policy));
        FAIL("the policy was accepted");
      } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).rfind(c.message, 0) == 0);
      }
    }
    // The pipeline passes the task's description.
    CHECK_THROWS_WITH_AS(
        sluice::detail::check_retry_policy({.max_attempts = 0}, "task 'fetch' (task#2)"),
        doctest::Contains("sluice: task 'fetch' (task#2) has retry_policy.max_attempts 0"),
        std::invalid_argument);
    CHECK_NOTHROW(sluice::detail::check_retry_policy({}, "retry"));
    CHECK_NOTHROW(sluice::detail::check_retry_policy(
        {.max_attempts = 1, .backoff = 1.0, .min_delay = 0ms, .max_delay = 0ms}, "retry"));
  }

  TEST_CASE("a retrying wrapper called from 8 threads at once counts every attempt" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t threads = 8;
    constexpr int calls_per_thread = 200;
    constexpr std::size_t max_attempts = 3;
    sluice::manual_clock clock;
    std::atomic<int> attempts{0};
    // Call i fails (i % 4) times before it succeeds.
    auto flaky = [&](int i, int& failures_so_far) {
      attempts.fetch_add(1);
      if (failures_so_far < i % 4) throw test_error{++failures_so_far};
      return i;
    };
    auto wrapped = sluice::retry(flaky, {.max_attempts = max_attempts, .clock = &clock});
    const auto copy = wrapped;  // copies share the state; both are used below
    std::atomic<int> succeeded{0};
    std::atomic<int> ran_out{0};
    sluice_test::run_on_threads(threads, [&](std::size_t index) {
      for (int i = 0; i < calls_per_thread; ++i) {
        int failures_so_far = 0;
        try {
          const int got = index % 2 == 0 ? wrapped(i, failures_so_far) : copy(i, failures_so_far);
          CHECK(got == i);
          succeeded.fetch_add(1);
        } catch (const sluice::all_failed& e) {
          CHECK(e.errors().size() == max_attempts);
          ran_out.fetch_add(1);
        }
      }
    });

    int expected_attempts = 0;
    int expected_successes = 0;
    for (int i = 0; i < calls_per_thread; ++i) {
      const int needed = i % 4 + 1;
      expected_attempts += std::min(needed, static_cast<int>(max_attempts));
      if (needed <= static_cast<int>(max_attempts)) ++expected_successes;
    }
    CHECK(attempts.load() == expected_attempts * static_cast<int>(threads));
    CHECK(succeeded.load() == expected_successes * static_cast<int>(threads));
    CHECK(ran_out.load() == (calls_per_thread - expected_successes) * static_cast<int>(threads));
    CHECK(clock.sleeps().size() == static_cast<std::size_t>((expected_attempts - calls_per_thread) *
                                                            static_cast<int>(threads)));
  }

  TEST_CASE("retry passes the arguments as lvalues that survive every attempt") {
    sluice::manual_clock clock;
    std::vector<int> seen;
    auto reads = [&](const std::unique_ptr<int>& p, std::string& log) {
      seen.push_back(p ? *p : -1);
      log += "x";
      if (seen.size() < 3) throw test_error{0};
      return log;
    };
    auto wrapped = sluice::retry(reads, {.clock = &clock});
    std::string log;
    CHECK(wrapped(std::make_unique<int>(9), log) == "xxx");  // a temporary, not moved from
    CHECK(seen == std::vector<int>{9, 9, 9});
    CHECK(log == "xxx");
  }

  TEST_CASE("retry works with callables returning void and references") {
    sluice::manual_clock clock;
    int calls = 0;
    auto void_call = [&] {
      if (++calls < 2) throw test_error{calls};
    };
    sluice::retry(void_call, {.clock = &clock})();
    CHECK(calls == 2);

    int target = 0;
    auto ref_call = [&]() -> int& { return target; };
    int& got = sluice::retry(ref_call, {.clock = &clock})();
    CHECK(&got == &target);
  }

  TEST_CASE("copies of a retrying wrapper share the wrapped callable") {
    struct counted {
      std::shared_ptr<int> copies = std::make_shared<int>(0);
      counted() = default;
      counted(const counted& other) : copies(other.copies) { ++*copies; }
      counted& operator=(const counted&) = delete;
      int operator()() const { return 1; }
    };
    counted fn;
    auto wrapped = sluice::retry(fn, {});
    const int after_wrapping = *fn.copies;
    auto a = wrapped;
    auto b = a;
    CHECK(*fn.copies == after_wrapping);
    CHECK(a() + b() == 2);
  }

  TEST_CASE("the wrapper accepts exactly the arguments the wrapped callable accepts") {
    auto wrapped = sluice::retry([](int x) { return x; }, {});
    static_assert(std::is_invocable_v<decltype(wrapped), int>);
    static_assert(!std::is_invocable_v<decltype(wrapped), std::string>);
    static_assert(!std::is_invocable_v<decltype(wrapped), int, std::stop_token>);
    CHECK(wrapped(3) == 3);
  }

  TEST_CASE("run_with_retry appends every failed attempt to failed, also when it gives up") {
    sluice::manual_clock clock;
    const sluice::retry_policy policy{.max_attempts = 4, .clock = &clock};
    SUBCASE("success after two failures") {
      int calls = 0;
      std::vector<std::exception_ptr> failed;
      const int got = sluice::detail::run_with_retry(
          policy, {},
          [&] {
            if (++calls < 3) throw test_error{calls};
            return calls;
          },
          &failed);
      CHECK(got == 3);
      REQUIRE(failed.size() == 2);
      CHECK(item_of(failed[0]) == 1);
      CHECK(item_of(failed[1]) == 2);
    }
    SUBCASE("running out") {
      int calls = 0;
      std::vector<std::exception_ptr> failed;
      const std::exception_ptr outcome = error_of([&] {
        return sluice::detail::run_with_retry(
            policy, {}, [&]() -> int { throw test_error{++calls}; }, &failed);
      });
      REQUIRE(failed.size() == 4);
      const std::vector<std::exception_ptr> errors = all_failed_errors(outcome);
      REQUIRE(errors.size() == 4);
      for (std::size_t i = 0; i < 4; ++i) {
        CHECK(item_of(failed[i]) == static_cast<int>(i) + 1);
        CHECK(errors[i] == failed[i]);  // the same exception objects
      }
    }
    SUBCASE("a single failure that is not retried") {
      std::vector<std::exception_ptr> failed;
      const std::exception_ptr outcome = error_of([&] {
        return sluice::detail::run_with_retry(
            policy, {}, []() -> int { throw plain_error{3}; }, &failed);
      });
      REQUIRE(failed.size() == 1);
      CHECK(failed[0] == outcome);
    }
    SUBCASE("a success at once leaves failed untouched") {
      std::vector<std::exception_ptr> failed;
      CHECK(sluice::detail::run_with_retry(
                policy, {}, [] { return 5; }, &failed) == 5);
      CHECK(failed.empty());
      CHECK(sluice::detail::run_with_retry(
                policy, {}, [] { return 6; }, nullptr) == 6);
    }
  }
}
