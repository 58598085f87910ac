// Tests of cancellation: destroying or cancelling a stream that is not exhausted stops the run
// (no new items start, blocked workers wake, everything is joined before the destructor
// returns), in a line of tasks and inside every shape; tasks that take a std::stop_token see
// the stop request.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/shape_cases.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::counted_numbers;
using sluice_test::twice;

namespace {

constexpr int endless = 1'000'000;  // a producer that is never meant to finish

// The documented bound on how far the producer of a line of tasks without branch runs ahead of
// the sink: 1 + the sum of every task's capacity + the sum of the concurrency of every task
// after the producer.
std::int64_t ahead_bound(std::initializer_list<std::size_t> capacities,
                         std::initializer_list<std::size_t> concurrencies_after_producer) {
  std::int64_t bound = 1;
  for (std::size_t c : capacities) bound += static_cast<std::int64_t>(c);
  for (std::size_t c : concurrencies_after_producer) bound += static_cast<std::int64_t>(c);
  return bound;
}

// Whether `counter` comes to rest (nothing is left running that moves it): true once it stays
// the same over 20 ms, false when it still moves after 50 such looks (a second). A stopped
// worker may finish the step it was in when the stop came (one more count), but no further one.
template <class Counter>
bool stays_still(const Counter& counter) {
  auto before = counter();
  for (int look = 0; look < 50; ++look) {
    std::this_thread::sleep_for(20ms);
    const auto now = counter();
    if (now == before) return true;
    before = now;
  }
  return false;
}

// A task body that takes 200 µs and counts its calls in `calls`.
auto slow_tracked(std::shared_ptr<sluice_test::concurrency_tracker> calls) {
  return [calls = std::move(calls)](int x) {
    auto in_call = calls->track();
    std::this_thread::sleep_for(200us);
    return x;
  };
}

}  // namespace

TEST_SUITE("cancellation") {
  TEST_CASE(
      "breaking out of a range-for ends the run promptly, and the producer stops within the bound" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto run = sluice::task(counted_numbers, sluice::branch) |
               sluice::task(twice, {.concurrency = 2}) | sluice::task(sluice_test::plus_hundred);
    std::int64_t consumed = 0;
    {
      auto items = run(endless, &produced);
      for (int x : items) {
        static_cast<void>(x);
        if (++consumed == 10) break;
      }
    }  // the stream is destroyed here

    const std::int64_t bound = ahead_bound(
        {sluice::default_capacity, sluice::default_capacity, sluice::default_capacity}, {2, 1});
    CHECK(produced.load() <= consumed + bound);
    CHECK(produced.load() < endless / 100);
    CHECK(stays_still([&] { return produced.load(); }));
  }

  TEST_CASE("a stream that is never pulled runs nothing and is destroyed at once" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    {
      auto items =
          (sluice::task(counted_numbers, sluice::branch) | sluice::task(twice))(endless, &produced);
    }
    CHECK(produced.load() == 0);
  }

  TEST_CASE("destroying a stream while calls are in flight waits for them, and no new call starts" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    sluice_test::concurrency_tracker calls;
    sluice_test::gate release;
    auto held = [&](int x) {  // items 0..4 pass, later ones wait for `release`
      auto in_call = calls.track();
      if (x >= 5) release.wait();
      return x;
    };
    std::size_t calls_before = 0;
    std::jthread releaser;
    {
      auto items = (sluice::task(counted_numbers, sluice::branch) |
                    sluice::task(held, {.concurrency = 4}))(endless, &produced);
      for (int i = 0; i < 5; ++i) CHECK(items.next().has_value());
      CHECK(sluice_test::eventually([&] { return calls.current() == 4; }));
      calls_before = calls.calls();
      // The held calls cannot see the stop; they return once the destructor is already waiting.
      releaser = std::jthread{[&] {
        std::this_thread::sleep_for(50ms);
        release.open();
      }};
    }
    CHECK(calls.current() == 0);  // every call had returned before the destructor did
    CHECK(calls_before == 9);     // items 0..4, and four held calls
    CHECK(calls.calls() == calls_before);
    CHECK(stays_still([&] { return calls.calls(); }));
    CHECK(produced.load() < endless / 100);
  }

  TEST_CASE("cancel() ends the stream: the next pull returns std::nullopt and the producer stops" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto items = (sluice::task(counted_numbers, sluice::branch) |
                  sluice::task(twice, {.concurrency = 2}))(endless, &produced);
    for (int i = 0; i < 3; ++i) REQUIRE(items.next().has_value());

    items.cancel();

    CHECK(items.next() == std::nullopt);
    CHECK(items.next() == std::nullopt);
    CHECK(produced.load() < endless / 100);
    CHECK(stays_still([&] { return produced.load(); }));
  }

  TEST_CASE(
      "cancel() from another thread ends a pull loop on the consuming thread without an error" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> consumed{0};
    auto slow = [](int x) {
      std::this_thread::sleep_for(1ms);
      return x;
    };
    std::atomic<std::int64_t> produced{0};
    auto items = (sluice::task(counted_numbers, sluice::branch) |
                  sluice::task(slow, {.concurrency = 2}))(endless, &produced);
    bool threw = false;

    std::jthread consumer{[&] {
      try {
        for (int x : items) {
          static_cast<void>(x);
          consumed.fetch_add(1);
        }
      } catch (...) {
        threw = true;
      }
    }};
    CHECK(sluice_test::eventually([&] { return consumed.load() >= 10; }));
    items.cancel();
    consumer.join();

    CHECK_FALSE(threw);
    CHECK(consumed.load() < endless / 100);
  }

  TEST_CASE(
      "a task that takes a trailing std::stop_token sees a stop request when its stream is "
      "stopped" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<std::int64_t> produced{0};
    sluice_test::gate entered;
    std::atomic<int> saw_stop{0};
    std::atomic<int> blocked_calls{0};
    auto wait_for_stop = [&](int x, std::stop_token stop) {
      if (x < 3) return x;
      blocked_calls.fetch_add(1);
      entered.open();
      if (sluice_test::eventually([&] { return stop.stop_requested(); })) saw_stop.fetch_add(1);
      return x;
    };
    auto run = sluice::task(counted_numbers, sluice::branch) |
               sluice::task(wait_for_stop, {.concurrency = 2});

    SUBCASE("by cancel()") {
      auto items = run(endless, &produced);
      for (int i = 0; i < 3; ++i) REQUIRE(items.next().has_value());
      REQUIRE(entered.wait());
      items.cancel();
      CHECK(items.next() == std::nullopt);
    }
    SUBCASE("by destroying the stream") {
      auto items = run(endless, &produced);
      for (int i = 0; i < 3; ++i) REQUIRE(items.next().has_value());
      REQUIRE(entered.wait());
    }

    CHECK(blocked_calls.load() >= 1);
    CHECK(saw_stop.load() == blocked_calls.load());  // every blocked call was told to stop
  }

  TEST_CASE("a stop_token task runs normally when nobody stops the run" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto checked = [](int x, std::stop_token stop) {
      return stop.stop_requested() ? -1 : twice(x);
    };
    auto run = (sluice::task(sluice_test::numbers, sluice::branch) |
                sluice::task(checked, {.concurrency = 2})) >
               sluice::reduce(0, [](int a, int b) { return a + b; });

    CHECK(run(20) == 380);
  }

  TEST_CASE_TEMPLATE(
      "destroying a stream mid-run inside a shape returns, and the producer and all calls stop" *
          doctest::timeout(60),
      Shape, SLUICE_TEST_SHAPES) {
    sluice_test::watchdog guard{60s};
    std::atomic<std::int64_t> produced{0};
    auto calls = std::make_shared<sluice_test::concurrency_tracker>();
    auto slow = slow_tracked(calls);
    auto pipeline = Shape::make(slow);
    {
      auto items = pipeline(endless, &produced);
      REQUIRE(items.next().has_value());
      // Items are in flight now (in calls and in queues) as the stream is destroyed.
      REQUIRE(sluice_test::eventually([&] { return calls->calls() > 10; }));
    }
    CHECK(calls->current() == 0);
    CHECK(stays_still([&] { return calls->calls(); }));
    CHECK(stays_still([&] { return produced.load(); }));
    CHECK(produced.load() < endless / 10);
  }

  TEST_CASE_TEMPLATE(
      "cancel() from another thread mid-run inside a shape ends the consumer's pulls without an "
      "error" *
          doctest::timeout(60),
      Shape, SLUICE_TEST_SHAPES, sluice_test::join_total_case) {
    sluice_test::watchdog guard{60s};
    std::atomic<std::int64_t> produced{0};
    auto calls = std::make_shared<sluice_test::concurrency_tracker>();
    auto slow = slow_tracked(calls);
    std::atomic<bool> threw{false};
    {
      auto items = Shape::make(slow)(endless, &produced);
      std::jthread consumer{[&] {
        try {
          static_cast<void>(sluice_test::drain(items));
        } catch (...) {
          threw = true;
        }
      }};
      CHECK(sluice_test::eventually([&] { return calls->calls() > 10; }));
      items.cancel();
      consumer.join();  // the watchdog fires if the consumer's pull never wakes
    }

    CHECK_FALSE(threw.load());
    CHECK(calls->current() == 0);
    CHECK(stays_still([&] { return calls->calls(); }));
    CHECK(produced.load() < endless / 10);
  }


  TEST_CASE(
      "cancel() from another thread makes a pull blocked in next() return std::nullopt while a "
      "call still runs" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate entered;
    sluice_test::gate release;
    std::atomic<bool> call_returned{false};
    auto stuck = [&](int x) {  // does not look at any stop token
      entered.open();
      release.wait();
      call_returned = true;
      return x;
    };
    auto items = (sluice::task(sluice_test::numbers, sluice::branch) |
                  sluice::task(stuck, {.concurrency = 2}))(10);
    std::atomic<bool> pulled{false};
    std::atomic<bool> call_ran_out{false};
    std::optional<int> got = 0;
    std::jthread reader{[&] {
      got = items.next();
      call_ran_out = call_returned.load();
      pulled = true;
    }};
    REQUIRE(entered.wait());

    items.cancel();

    CHECK(sluice_test::eventually([&] { return pulled.load(); }));
    CHECK_FALSE(call_ran_out.load());  // next() did not wait for the call
    release.open();
    reader.join();
    CHECK(got == std::nullopt);
    CHECK(items.next() == std::nullopt);
  }

  TEST_CASE(
      "cancel() makes a pull that waits for a failed run's calls return std::nullopt while a "
      "call still runs" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate entered;
    sluice_test::gate failing;
    sluice_test::gate release;
    std::atomic<bool> call_returned{false};
    auto one_stuck_one_throws = [&](int x) {  // neither looks at a stop token
      if (x == 1) {
        (void)entered.wait();
        failing.open();
        throw sluice_test::test_error(x);
      }
      entered.open();
      release.wait();
      call_returned = true;
      return x;
    };
    auto items = (sluice::task(sluice_test::numbers, sluice::branch) |
                  sluice::task(one_stuck_one_throws, {.concurrency = 2}))(2);
    std::atomic<bool> pulled{false};
    std::atomic<bool> call_ran_out{false};
    std::optional<int> got = 0;
    std::atomic<bool> threw{false};
    std::jthread reader{[&] {
      try {
        got = items.next();  // the run fails: the pull ends and waits for the stuck call
      } catch (...) {
        threw = true;  // the run's error, rethrown once the stuck call returned
      }
      call_ran_out = call_returned.load();
      pulled = true;
    }};
    REQUIRE(failing.wait());
    // Lets the reader reach the wait for the stuck call (it returns at cancel() either way).
    std::this_thread::sleep_for(50ms);

    items.cancel();

    CHECK(sluice_test::eventually([&] { return pulled.load(); }));
    CHECK_FALSE(call_ran_out.load());  // next() did not wait for the call
    release.open();
    reader.join();
    CHECK_FALSE(threw.load());
    CHECK(got == std::nullopt);
    CHECK(items.next() == std::nullopt);
  }

  TEST_CASE("after cancel(), an error a call throws because it was stopped is not reported" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate entered;
    std::atomic<int> handled{0};
    auto gives_up = [&](int x, std::stop_token stop) -> int {
      entered.open();
      sluice_test::eventually([&] { return stop.stop_requested(); });
      throw sluice_test::test_error(x);
    };

    SUBCASE("without on_error the pulls after cancel() return std::nullopt") {
      auto items = (sluice::task(sluice_test::numbers, sluice::branch) |
                    sluice::task(gives_up, {.concurrency = 2}))(10);
      std::jthread canceller{[&] {
        if (entered.wait()) items.cancel();
      }};
      CHECK_NOTHROW(CHECK(items.next() == std::nullopt));
      canceller.join();
      CHECK_NOTHROW(CHECK(items.next() == std::nullopt));
    }
    SUBCASE("with on_error the handler is not called for it") {
      auto record = [&](const sluice::failure&) { handled.fetch_add(1); };
      {
        auto items = (sluice::task(sluice_test::numbers, sluice::branch) |
                      sluice::task(gives_up, {.concurrency = 2, .on_error = record}))(10);
        std::jthread canceller{[&] {
          if (entered.wait()) items.cancel();
        }};
        CHECK_NOTHROW(CHECK(items.next() == std::nullopt));
      }  // joined: every call has returned
      CHECK(handled.load() == 0);
    }
  }

  TEST_CASE("a rate-limited call waiting for its token when the run stops reports no error" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<int> handled{0};
    auto record = [&](const sluice::failure&) { handled.fetch_add(1); };
    // One token now, the next in an hour: every call after the first waits until the stop.
    auto limited = [&] {
      return sluice::task(sluice_test::numbers, sluice::branch) |
             sluice::task(sluice_test::twice,
                          {.concurrency = 4,
                           .rate = sluice::rate_limit{.per_second = 1.0 / 3600},
                           .on_error = record});
    };

    const auto calls_waiting = [](const auto& items) {
      return sluice_test::eventually([&] { return items.stats().at(1).in_flight >= 3; });
    };
    SUBCASE("by cancel()") {
      auto items = limited()(10);
      REQUIRE(items.next().has_value());
      REQUIRE(calls_waiting(items));
      items.cancel();
      CHECK_NOTHROW(CHECK(items.next() == std::nullopt));
    }
    SUBCASE("by destroying the stream") {
      auto items = limited()(10);
      REQUIRE(items.next().has_value());
      REQUIRE(calls_waiting(items));
    }
    SUBCASE("by another task's error") {
      auto fails = [](int x) -> int { throw sluice_test::test_error(x); };
      auto run = (limited() | sluice::task(fails)) > sluice::count();
      CHECK_THROWS_AS(run(10), sluice_test::test_error);
    }
    CHECK(handled.load() == 0);
  }

}  // TEST_SUITE
