// Tests of sluice::opmap (<sluice/pmap.hpp>): one sluice::result per element in input order, a
// failed item's sluice::failure in its place (task, position, input, every attempt); retry, cache
// and rate around each call (on a manual clock: no real waiting); every item present when every
// call fails; empty inputs; invalid options.
#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <numeric>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/clock.hpp>
#include <sluice/pmap.hpp>

#include "common/call_log.hpp"
#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/map_inputs.hpp"
#include "common/drains.hpp"
#include "common/watchdog.hpp"

namespace drain_cases = sluice_test::drains;

using namespace std::chrono_literals;
using sluice_test::first;
using sluice_test::item_of;
using sluice_test::numbers;
using sluice_test::test_error;

namespace {

using sluice_test::call_log;

int fails_at_odd(int x) {
  if (x % 2 == 1) throw test_error{x};
  return 10 * x;
}

// A retry policy whose waits happen on `clock`.
sluice::retry_policy retry_on(const sluice::clock& clock, std::size_t attempts) {
  return {.max_attempts = attempts, .jitter = false, .clock = &clock};
}

}  // namespace

TEST_SUITE("opmap") {
  TEST_CASE("opmap returns a successful result per element in input order" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto square = [](int x) { return x * x; };
    auto check = [](const std::vector<sluice::result<int>>& out, int n) {
      REQUIRE(out.size() == static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        const auto& r = out[static_cast<std::size_t>(i)];
        REQUIRE(r.ok());
        CHECK(r.value() == i * i);
      }
    };
    static_assert(std::is_same_v<decltype(sluice::opmap(square, std::vector<int>{})),
                                 std::vector<sluice::result<int>>>);
    check(sluice::opmap(square, first<std::vector<int>>(1000), {.workers = 4}), 1000);
    check(sluice::opmap(square, first<std::list<int>>(1000), {.workers = 4}), 1000);
    check(sluice::opmap(square, numbers(1000), {.workers = 4}), 1000);
    check(sluice::opmap(square, first<std::vector<int>>(100)), 100);  // default workers
  }

  TEST_CASE("opmap keeps each failure in its item's place with its position and input" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const auto out = sluice::opmap(fails_at_odd, first<std::vector<int>>(200), {.workers = 4});
    REQUIRE(out.size() == 200);
    for (int i = 0; i < 200; ++i) {
      CAPTURE(i);
      const auto& r = out[static_cast<std::size_t>(i)];
      REQUIRE(r.ok() == (i % 2 == 0));
      if (r.ok()) {
        CHECK(r.value() == 10 * i);
        continue;
      }
      CHECK(r.error().task == "sluice::opmap");
      CHECK(r.error().sequence == static_cast<std::uint64_t>(i));
      CHECK(r.error().input_text == std::to_string(i));
      REQUIRE(r.error().input.has_value());
      CHECK(std::any_cast<int>(r.error().input) == i);
      CHECK(item_of(r.error().error) == i);
      CHECK(r.error().attempts.size() == 1);
    }
  }

  TEST_CASE("opmap's value() of a failed item rethrows the item's own exception" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const auto out = sluice::opmap(fails_at_odd, first<std::list<int>>(10), {.workers = 2});
    REQUIRE(out.size() == 10);
    try {
      static_cast<void>(out[3].value());
      FAIL("value() should have thrown");
    } catch (const test_error& e) {
      CHECK(e.item == 3);
    }
    CHECK(out[4].value() == 40);
  }

  TEST_CASE("opmap returns a result for every item even when every call fails" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto always = [](int x) -> int { throw test_error{x}; };
    auto check = [](const std::vector<sluice::result<int>>& out) {
      REQUIRE(out.size() == 500);
      for (std::size_t i = 0; i < out.size(); ++i) {
        REQUIRE_FALSE(out[i].ok());
        CHECK(out[i].error().sequence == i);
        CHECK(item_of(out[i].error().error) == static_cast<int>(i));
      }
    };
    check(sluice::opmap(always, first<std::vector<int>>(500), {.workers = 4}));
    check(sluice::opmap(always, numbers(500), {.workers = 4}));
  }

  TEST_CASE("opmap of an empty range returns no results and never calls f" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> calls{0};
    auto counted = [&](int x) {
      calls.fetch_add(1);
      return x;
    };
    CHECK(sluice::opmap(counted, std::vector<int>{}).empty());
    CHECK(sluice::opmap(counted, std::list<int>{}).empty());
    CHECK(sluice::opmap(counted, numbers(0)).empty());
    CHECK(calls.load() == 0);
  }

  TEST_CASE("opmap of a void f returns a result<void> per element" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> calls{0};
    auto check_odd = [&](int x) {
      calls.fetch_add(1);
      if (x % 2 == 1) throw test_error{x};
    };
    const auto out = sluice::opmap(check_odd, first<std::vector<int>>(20), {.workers = 3});
    static_assert(
        std::is_same_v<std::remove_cvref_t<decltype(out)>, std::vector<sluice::result<void>>>);
    REQUIRE(out.size() == 20);
    for (std::size_t i = 0; i < out.size(); ++i) {
      CHECK(out[i].ok() == (i % 2 == 0));
      if (!out[i].ok()) CHECK(out[i].error().sequence == i);
    }
    CHECK(calls.load() == 20);
  }

  TEST_CASE("opmap with retry calls a flaky item again until it succeeds" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    call_log calls;
    auto fails_twice = [&](int x) {
      if (calls.add(x) <= 2) throw test_error{x};
      return 2 * x;
    };
    const auto out = sluice::opmap(fails_twice, first<std::vector<int>>(50),
                                   {.workers = 4, .retry = retry_on(fake, 3)});
    REQUIRE(out.size() == 50);
    for (int i = 0; i < 50; ++i) {
      const auto& r = out[static_cast<std::size_t>(i)];
      REQUIRE(r.ok());
      CHECK(r.value() == 2 * i);
      CHECK(calls.of(i) == 3);
    }
    CHECK(calls.total() == 150);
    CHECK(fake.sleeps().size() == 100);  // two backoff waits per item, none of them real
  }

  TEST_CASE(
      "opmap with retry keeps every attempt of an item that never succeeds, the last as its "
      "error" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    call_log calls;
    auto fails_at_3 = [&](int x) {
      const int attempt = calls.add(x);
      if (x == 3) throw test_error{100 * x + attempt};
      return x;
    };
    const auto out = sluice::opmap(fails_at_3, first<std::list<int>>(6),
                                   {.workers = 2, .retry = retry_on(fake, 3)});
    REQUIRE(out.size() == 6);
    for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i].ok() == (i != 3));
    const sluice::failure& why = out[3].error();
    CHECK(why.sequence == 3);
    CHECK(why.task == "sluice::opmap");
    REQUIRE(why.attempts.size() == 3);
    CHECK(item_of(why.attempts[0]) == 301);
    CHECK(item_of(why.attempts[1]) == 302);
    CHECK(item_of(why.attempts[2]) == 303);
    CHECK(calls.of(3) == 3);
    CHECK(why.error == why.attempts.back());
    CHECK(item_of(why.error) == 303);
    CHECK_THROWS_AS(static_cast<void>(out[3].value()), test_error);  // its type, not all_failed
  }

  TEST_CASE("opmap with a cache calls f once per distinct input" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto square = [&](int x) {
      calls.add(x);
      return x * x;
    };
    const std::vector<int> items{1, 2, 1, 3, 2, 1, 3, 3};
    const auto out = sluice::opmap(square, items, {.workers = 1, .cache = sluice::cache_policy{}});
    REQUIRE(out.size() == items.size());
    for (std::size_t i = 0; i < items.size(); ++i) CHECK(out[i].value() == items[i] * items[i]);
    CHECK(calls.total() == 3);
    CHECK(calls.of(1) == 1);
    CHECK(calls.of(2) == 1);
    CHECK(calls.of(3) == 1);
  }

  TEST_CASE("opmap's cache lives for one call only" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto square = [&](int x) {
      calls.add(x);
      return x * x;
    };
    const sluice::opmap_options cached{.workers = 1, .cache = sluice::cache_policy{}};
    static_cast<void>(sluice::opmap(square, std::vector<int>{1, 1}, cached));
    static_cast<void>(sluice::opmap(square, std::vector<int>{1, 1}, cached));
    CHECK(calls.of(1) == 2);
  }

  TEST_CASE("opmap with a rate takes a token per call on the given clock" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    auto same = [](int x) { return x; };
    const auto out = sluice::opmap(same, first<std::vector<int>>(5),
                                   {.workers = 1, .rate = sluice::rate_limit{10.0, 1, &fake}});
    REQUIRE(out.size() == 5);
    for (int i = 0; i < 5; ++i) CHECK(out[static_cast<std::size_t>(i)].value() == i);
    const auto slept = fake.sleeps();
    CHECK(slept.size() == 4);  // the first token was in the full bucket
    for (auto wait : slept) CHECK(wait == 100ms);
  }

  TEST_CASE("opmap has workers calls in flight at once" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate all_in{4};
    sluice_test::concurrency_tracker tracker;
    auto f = [&](int x) {
      auto in_call = tracker.track();
      if (!all_in.is_open()) all_in.arrive_and_wait();
      sluice_test::spin(200);
      return x;
    };
    const auto out = sluice::opmap(f, first<std::vector<int>>(1000), {.workers = 4});
    CHECK(out.size() == 1000);
    CHECK(std::all_of(out.begin(), out.end(), [](const auto& r) { return r.ok(); }));
    CHECK_FALSE(all_in.timed_out());
    CHECK(tracker.peak() == 4);
  }

  TEST_CASE("opmap rejects a retry of zero attempts with std::invalid_argument") {
    auto same = [](int x) { return x; };
    sluice::retry_policy none;
    none.max_attempts = 0;
    CHECK_THROWS_AS(sluice::opmap(same, std::vector<int>{1, 2}, {.retry = none}),
                    std::invalid_argument);
  }
}  // TEST_SUITE

TEST_SUITE("opmap drain") {
  TEST_CASE("a drain during opmap returns one result per element started, a prefix of the input" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    using namespace drain_cases;
    std::stop_source source;
    std::atomic<std::size_t> calls{0};
    auto f = [&](int x) {
      calls.fetch_add(1);
      if (x == 100) source.request_stop();
      if (x == 7) throw test_error(x);
      return 2 * x;
    };
    const auto out = sluice::opmap(f, iota_vector(kInput), {.workers = 3, .drain = source.get_token()});

    CHECK(out.size() > 100);
    CHECK(out.size() < static_cast<std::size_t>(kInput));
    CHECK(out.size() == calls.load());
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (i == 7) {
        CHECK_FALSE(out[i].ok());
      } else if (!out[i].ok() || out[i].value() != 2 * static_cast<int>(i)) {
        FAIL_CHECK("result " << i << " is wrong");
      }
    }
  }

  TEST_CASE("in worker processes a drained opmap returns a result per element it sent" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    using namespace drain_cases;
    std::stop_source source;
    const auto out = sluice::opmap(
        sluice_test::twice, stopping_at(kInput, 50, &source),
        {.workers = 2, .mode = sluice::execution::process, .drain = source.get_token()});
    CHECK(out.size() > 50);
    CHECK(out.size() < static_cast<std::size_t>(kInput));
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!out[i].ok() || out[i].value() != 2 * static_cast<int>(i)) {
        FAIL_CHECK("result " << i << " is wrong");
      }
    }
  }
}  // TEST_SUITE
