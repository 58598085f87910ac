// Tests sluice::circuit_breaker: when it opens (failures in a row, a failure rate over a
// window, only the failures counts_if accepts), failing fast while open, half-open trial calls
// on a manual clock, shared state between copies, the checks of the policy, and its counters
// under 8 threads.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/circuit_breaker.hpp>
#include <sluice/clock.hpp>

#include "common/fixtures.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice::circuit_state;
using sluice_test::invalid_argument_message;

namespace {

// A callable that fails with std::runtime_error while `*failing` is set, and counts its calls.
struct switchable {
  std::atomic<bool>* failing;
  std::atomic<int>* calls;
  int operator()(int x) const {
    ++*calls;
    if (*failing) throw std::runtime_error("service down");
    return x;
  }
};

// Calls `fn` and returns what it threw: "" for nothing, "open" for sluice::circuit_open,
// "failed" for anything else.
template <class Fn>
std::string outcome(Fn&& fn) {
  try {
    fn();
  } catch (const sluice::circuit_open&) {
    return "open";
  } catch (...) {
    return "failed";
  }
  return "";
}

template <class E>
std::exception_ptr error_of(E error) {
  return std::make_exception_ptr(std::move(error));
}

}  // namespace

TEST_SUITE("circuit_breaker") {
  TEST_CASE("a closed breaker opens after consecutive_failures failures in a row") {
    sluice::manual_clock fake;
    std::atomic<bool> failing{true};
    std::atomic<int> calls{0};
    const sluice::circuit_breaker breaker{{.consecutive_failures = 3, .clock = &fake}};
    auto guarded = breaker.wrap(switchable{&failing, &calls});

    CHECK(outcome([&] { guarded(1); }) == "failed");
    CHECK(outcome([&] { guarded(1); }) == "failed");
    failing = false;
    CHECK(guarded(5) == 5);  // a success resets the count
    failing = true;
    CHECK(outcome([&] { guarded(1); }) == "failed");
    CHECK(outcome([&] { guarded(1); }) == "failed");
    CHECK(breaker.state() == circuit_state::closed);
    CHECK(outcome([&] { guarded(1); }) == "failed");
    CHECK(breaker.state() == circuit_state::open);
    CHECK(breaker.stats().opened == 1);
    CHECK(calls == 6);
  }

  TEST_CASE("calls while open fail fast with circuit_open naming who and when, without a call") {
    sluice::manual_clock fake;
    std::atomic<bool> failing{true};
    std::atomic<int> calls{0};
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 2, .open_for = 10s, .clock = &fake}};
    auto guarded = breaker.wrap(switchable{&failing, &calls});
    for (int i = 0; i < 2; ++i) CHECK(outcome([&] { guarded(1); }) == "failed");
    REQUIRE(breaker.state() == circuit_state::open);

    failing = false;
    for (int i = 0; i < 5; ++i) CHECK(outcome([&] { guarded(1); }) == "open");
    CHECK(calls == 2);
    CHECK(breaker.stats().rejected == 5);

    fake.advance(4s);
    CHECK_THROWS_WITH_AS(breaker.acquire("task 'fetch' (task#2)"),
                         "sluice: task 'fetch' (task#2): circuit breaker is open (2 failures in "
                         "a row); it lets a trial call through in 6000 ms",
                         sluice::circuit_open);
  }

  TEST_CASE("after open_for the breaker is half-open, and a successful trial call closes it") {
    sluice::manual_clock fake;
    std::atomic<bool> failing{true};
    std::atomic<int> calls{0};
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 1, .open_for = 10s, .clock = &fake}};
    auto guarded = breaker.wrap(switchable{&failing, &calls});
    CHECK(outcome([&] { guarded(1); }) == "failed");

    fake.advance(10s - 1ms);
    CHECK(breaker.state() == circuit_state::open);
    fake.advance(1ms);
    CHECK(breaker.state() == circuit_state::half_open);
    failing = false;
    CHECK(guarded(3) == 3);
    CHECK(breaker.state() == circuit_state::closed);
    CHECK(guarded(4) == 4);
    CHECK(calls == 3);
  }

  TEST_CASE("a failed trial call opens the breaker again for another open_for") {
    sluice::manual_clock fake;
    std::atomic<bool> failing{true};
    std::atomic<int> calls{0};
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 1, .open_for = 10s, .clock = &fake}};
    auto guarded = breaker.wrap(switchable{&failing, &calls});
    CHECK(outcome([&] { guarded(1); }) == "failed");
    fake.advance(10s);
    CHECK(outcome([&] { guarded(1); }) == "failed");  // the trial call
    CHECK(breaker.state() == circuit_state::open);
    CHECK(outcome([&] { guarded(1); }) == "open");
    fake.advance(10s - 1ms);
    CHECK(breaker.state() == circuit_state::open);
    fake.advance(1ms);
    CHECK(breaker.state() == circuit_state::half_open);
    CHECK(breaker.stats().opened == 2);
    CHECK(calls == 2);
  }

  TEST_CASE("half-open lets half_open_probes trial calls through, and all must succeed to close") {
    sluice::manual_clock fake;
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 1, .open_for = 1s, .half_open_probes = 2, .clock = &fake}};
    breaker.acquire("");
    breaker.on_failure(error_of(std::runtime_error("down")));
    fake.advance(1s);

    breaker.acquire("");
    breaker.acquire("");
    CHECK_THROWS_WITH_AS(breaker.acquire(""),
                         doctest::Contains("half-open and has let through its 2 trial calls"),
                         sluice::circuit_open);
    breaker.on_success();
    CHECK(breaker.state() == circuit_state::half_open);
    breaker.on_success();
    CHECK(breaker.state() == circuit_state::closed);
  }

  TEST_CASE("an outcome reported while open, of a call let through before, changes nothing") {
    sluice::manual_clock fake;
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 1, .open_for = 1s, .clock = &fake}};
    breaker.acquire("");  // a slow call
    breaker.acquire("");
    breaker.on_failure(error_of(std::runtime_error("down")));
    REQUIRE(breaker.state() == circuit_state::open);
    breaker.on_success();  // the slow call ends
    CHECK(breaker.state() == circuit_state::open);
    CHECK(breaker.stats().successes == 1);
  }

  TEST_CASE("failure_rate opens the breaker once the last window calls fail that often") {
    sluice::manual_clock fake;
    const sluice::breaker_policy policy{
        .consecutive_failures = 0, .failure_rate = 0.5, .window = 4, .clock = &fake};
    const auto report = [](const sluice::circuit_breaker& breaker, const std::string& outcomes) {
      for (const char c : outcomes) {
        breaker.acquire("");
        if (c == 'F') {
          breaker.on_failure(error_of(std::runtime_error("down")));
        } else {
          breaker.on_success();
        }
      }
    };
    SUBCASE("not before the window is full") {
      const sluice::circuit_breaker breaker{policy};
      report(breaker, "FFF");
      CHECK(breaker.state() == circuit_state::closed);
      report(breaker, "S");  // 3 of 4
      CHECK(breaker.state() == circuit_state::open);
    }
    SUBCASE("over the last window calls only") {
      const sluice::circuit_breaker breaker{policy};
      report(breaker, "FSSSFS");  // the window holds S S F S: 1 of 4
      CHECK(breaker.state() == circuit_state::closed);
      report(breaker, "F");  // S F S F: 2 of 4
      CHECK(breaker.state() == circuit_state::open);
      CHECK_THROWS_WITH_AS(breaker.acquire(""), doctest::Contains("2 of the last 4 calls failed"),
                           sluice::circuit_open);
    }
  }

  TEST_CASE("counts_if decides which failures count, and the others are ignored") {
    sluice::manual_clock fake;
    const sluice::circuit_breaker breaker{{.consecutive_failures = 2,
                                           .counts_if =
                                               [](std::exception_ptr error) {
                                                 try {
                                                   std::rethrow_exception(error);
                                                 } catch (const std::runtime_error&) {
                                                   return true;
                                                 } catch (...) {
                                                   return false;
                                                 }
                                               },
                                           .clock = &fake}};
    auto fail_with = [&](std::exception_ptr error) {
      breaker.acquire("");
      breaker.on_failure(std::move(error));
    };
    for (int i = 0; i < 5; ++i) fail_with(error_of(std::logic_error("bad input")));
    CHECK(breaker.state() == circuit_state::closed);
    CHECK(breaker.stats().ignored == 5);
    fail_with(error_of(std::runtime_error("down")));
    fail_with(error_of(std::logic_error("bad input")));  // neither a success nor a failure
    CHECK(breaker.state() == circuit_state::closed);
    fail_with(error_of(std::runtime_error("down")));
    CHECK(breaker.state() == circuit_state::open);
    CHECK(breaker.stats().failures == 2);
  }

  TEST_CASE("copies of a breaker, and every callable they wrap, share one state") {
    sluice::manual_clock fake;
    std::atomic<bool> failing{true};
    std::atomic<int> calls{0};
    const sluice::circuit_breaker breaker{{.consecutive_failures = 2, .clock = &fake}};
    const sluice::circuit_breaker copy = breaker;
    auto first = breaker.wrap(switchable{&failing, &calls});
    auto second = sluice::with_breaker(switchable{&failing, &calls}, copy);
    CHECK(outcome([&] { first(1); }) == "failed");
    CHECK(outcome([&] { second(1); }) == "failed");
    CHECK(copy.state() == circuit_state::open);
    CHECK(outcome([&] { first(1); }) == "open");
    CHECK(outcome([&] { second(1); }) == "open");
    CHECK(breaker.stats().rejected == 2);

    const sluice::circuit_breaker apart{{.consecutive_failures = 2, .clock = &fake}};
    CHECK(apart.state() == circuit_state::closed);
  }

  TEST_CASE("a wrapped callable keeps its signature, and its exceptions pass unchanged") {
    const sluice::circuit_breaker breaker;
    auto add = breaker.wrap([](int a, int b) { return a + b; });
    static_assert(std::is_invocable_r_v<int, decltype(add), int, int>);
    static_assert(!std::is_invocable_v<decltype(add), std::string>);
    CHECK(add(2, 3) == 5);

    int value = 1;
    auto ref = breaker.wrap([&value]() -> int& { return value; });
    static_assert(std::is_same_v<decltype(ref()), int&>);
    ref() = 7;
    CHECK(value == 7);

    int touched = 0;
    auto nothing = breaker.wrap([&touched] { ++touched; });
    nothing();
    CHECK(touched == 1);

    auto throws = breaker.wrap([]() -> int { throw std::out_of_range("boom"); });
    CHECK_THROWS_WITH_AS(throws(), "boom", std::out_of_range);
    CHECK(breaker.stats().failures == 1);
    CHECK(breaker.stats().successes == 3);
  }

  TEST_CASE("an invalid breaker_policy throws std::invalid_argument naming the field") {
    struct bad_case {
      sluice::breaker_policy policy;
      std::string field;
    };
    const std::vector<bad_case> cases{
        {{.failure_rate = 1.5}, "breaker_policy.failure_rate is 1.5"},
        {{.failure_rate = -0.1}, "breaker_policy.failure_rate is -0.1"},
        {{.failure_rate = std::numeric_limits<double>::quiet_NaN()}, "breaker_policy.failure_rate"},
        {{.consecutive_failures = 0}, "breaker_policy.consecutive_failures and"},
        {{.failure_rate = 0.5, .window = 0}, "breaker_policy.window is 0"},
        {{.open_for = -1ms}, "breaker_policy.open_for is -1 ms"},
        {{.half_open_probes = 0}, "breaker_policy.half_open_probes is 0"},
    };
    for (const bad_case& c : cases) {
      CAPTURE(c.field);
      CHECK(invalid_argument_message([&] {
              return sluice::circuit_breaker{c.policy};
            }).rfind("sluice: " + c.field, 0) == 0);
      CHECK(invalid_argument_message([&] {
              sluice::detail::check_breaker_policy(c.policy, "task 'fetch' (task#2)");
            }).rfind("sluice: task 'fetch' (task#2): " + c.field, 0) == 0);
    }
    CHECK(invalid_argument_message([] {
            return sluice::circuit_breaker{{.consecutive_failures = 0, .failure_rate = 0.5}};
          }).empty());
  }

  TEST_CASE("8 threads hammering a flaky call keep the breaker's counters consistent" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    sluice::manual_clock fake;
    const sluice::circuit_breaker breaker{{.consecutive_failures = 3,
                                           .failure_rate = 0.5,
                                           .window = 10,
                                           .open_for = 5ms,
                                           .half_open_probes = 2,
                                           .clock = &fake}};
    std::atomic<std::uint64_t> made{0};
    auto flaky = breaker.wrap([&](std::size_t thread, std::size_t i) {
      fake.advance(1ms);
      const std::uint64_t n = made++;
      if ((n + thread + i) % 3 == 0) throw std::runtime_error("flaky");
    });
    constexpr std::size_t per_thread = 3000;
    std::atomic<std::uint64_t> succeeded{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> rejected{0};
    sluice_test::run_on_threads(8, [&](std::size_t thread) {
      for (std::size_t i = 0; i < per_thread; ++i) {
        const std::string result = outcome([&] { flaky(thread, i); });
        if (result.empty()) {
          ++succeeded;
        } else if (result == "open") {
          ++rejected;
        } else {
          ++failed;
        }
        (void)breaker.state();
      }
    });

    const sluice::breaker_stats stats = breaker.stats();
    CHECK(stats.calls + stats.rejected == 8 * per_thread);
    CHECK(stats.calls == made.load());
    CHECK(stats.rejected == rejected.load());
    CHECK(stats.successes == succeeded.load());
    CHECK(stats.failures == failed.load());
    CHECK(stats.ignored == 0);
    CHECK(stats.successes + stats.failures == stats.calls);
    CHECK(stats.opened >= 1);
    CHECK(stats.rejected >= 1);
  }
}
