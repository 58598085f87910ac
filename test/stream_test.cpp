// Tests of <sluice/stream.hpp>: pulling a run's outputs with next() and range-for, moving a
// stream, the live stats() snapshot, and the graceful stop, drain().
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/drains.hpp"
#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::counted_numbers;
using sluice_test::numbers;
using sluice_test::twice;

namespace drain_cases {

using sluice_test::drains::paused_numbers;
using sluice_test::drains::paused_run;

// On another thread: once the producer is paused, drains `items` and lets the producer go on.
template <class T>
std::thread drain_when_paused(sluice::stream<T>& items, paused_run& state) {
  return std::thread([&items, &state] {
    state.paused.wait();
    items.drain();
    state.go.open();
  });
}

template <class T>
std::vector<T> pull_all(sluice::stream<T>& items) {
  std::vector<T> all;
  while (auto x = items.next()) all.push_back(std::move(*x));
  return all;
}

int parity(int x) { return x % 2; }

// Runs `tail` after paused_numbers(1000, 5), drains the run from another thread when the producer
// pauses at 5, and returns every output. The producer must have been resumed for 0..5 only.
template <class Tail>
auto drained_outputs(Tail tail) {
  paused_run state;
  auto items = (sluice::task(paused_numbers, sluice::branch) | tail)(1000, 5, &state);
  std::thread drainer = drain_when_paused(items, state);
  auto out = pull_all(items);
  drainer.join();
  CHECK(state.resumed.load() == 6);
  CHECK(items.drained());
  return out;
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace drain_cases
using namespace drain_cases;

static_assert(std::ranges::input_range<sluice::stream<int>>);
static_assert(std::is_move_constructible_v<sluice::stream<int>>);
static_assert(std::is_move_assignable_v<sluice::stream<int>>);
static_assert(!std::is_copy_constructible_v<sluice::stream<int>>);
static_assert(!std::is_copy_assignable_v<sluice::stream<int>>);
static_assert(
    std::is_same_v<decltype(std::declval<sluice::stream<int>&>().next()), std::optional<int>>);
static_assert(std::is_same_v<decltype(std::declval<sluice::stream<int>&>().stats()),
                             std::vector<sluice::task_stats>>);
static_assert(std::is_same_v<decltype(sluice::task_stats{}.busy), std::chrono::nanoseconds>);
static_assert(std::is_same_v<decltype(sluice::task_stats{}.blocked), std::chrono::nanoseconds>);

TEST_SUITE("stream") {
  TEST_CASE("a run does no work before the first pull" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto run = sluice::task(counted_numbers, sluice::branch) | sluice::task(twice);

    auto items = run(100, &produced);
    std::this_thread::sleep_for(20ms);  // time for a run that started early to show itself
    CHECK(produced.load() == 0);

    CHECK(items.next() == std::optional<int>{0});
    CHECK(produced.load() >= 1);
  }

  TEST_CASE("next() hands out every item, then std::nullopt on every later call" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(twice))(3);

    CHECK(items.next() == std::optional<int>{0});
    CHECK(items.next() == std::optional<int>{2});
    CHECK(items.next() == std::optional<int>{4});
    CHECK(items.next() == std::nullopt);
    CHECK(items.next() == std::nullopt);
  }

  TEST_CASE("next() and range-for can be mixed on one stream" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(twice))(5);

    CHECK(items.next() == std::optional<int>{0});
    std::vector<int> rest;
    for (int x : items) rest.push_back(x);
    CHECK(rest == std::vector<int>{2, 4, 6, 8});
  }

  TEST_CASE("a stream moved in the middle of a run goes on where it was" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = sluice::task(numbers, sluice::branch) | sluice::task(twice);
    auto first = run(1000);
    CHECK(first.next() == std::optional<int>{0});

    sluice::stream<int> second = std::move(first);
    std::vector<int> rest = sluice_test::collect(second);

    REQUIRE(rest.size() == 999);
    CHECK(rest.front() == 2);
    CHECK(rest.back() == 1998);

    auto third = run(2);
    third = std::move(second);  // assigning over an unstarted run, from a finished one
    CHECK(third.next() == std::nullopt);
  }

  TEST_CASE(
      "stats() lists one entry per task in pipeline order, named task#<position> unless given a "
      "name" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = sluice::task(numbers, sluice::branch) | sluice::task(twice, {.name = "doubler"}) |
               sluice::task([](int x) { return x + 1; });
    auto items = run(3);
    static_cast<void>(sluice_test::drain(items));

    std::vector<sluice::task_stats> stats = items.stats();

    REQUIRE(stats.size() == 3);
    CHECK(stats[0].name == "task#1");
    CHECK(stats[1].name == "doubler");
    CHECK(stats[2].name == "task#3");
  }

  TEST_CASE("after a full run stats() counts each task's items in and out" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto pairs = [](int x) { return std::vector<int>{x, x}; };
    auto run = sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 3}) |
               sluice::task(pairs, sluice::branch, {.concurrency = 2});
    auto items = run(100);
    CHECK(sluice_test::drain(items) == 200);

    std::vector<sluice::task_stats> stats = items.stats();

    REQUIRE(stats.size() == 3);
    CHECK(stats[0].items_out == 100);
    CHECK(stats[1].items_in == 100);
    CHECK(stats[1].items_out == 100);
    CHECK(stats[2].items_in == 100);
    CHECK(stats[2].items_out == 200);
    for (const sluice::task_stats& task : stats) {
      CAPTURE(task.name);
      CHECK(task.failed == 0);
      CHECK(task.retried == 0);
      CHECK(task.in_flight == 0);
      CHECK(task.queued == 0);
    }
  }

  TEST_CASE("busy counts the time spent inside a task's calls" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto nap = [](int x) {
      std::this_thread::sleep_for(5ms);
      return x;
    };
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(nap, {.concurrency = 2}))(4);
    static_cast<void>(sluice_test::drain(items));

    std::vector<sluice::task_stats> stats = items.stats();

    REQUIRE(stats.size() == 2);
    CHECK(stats[1].busy >= std::chrono::nanoseconds{5ms});  // at least one whole call
  }

  TEST_CASE(
      "a quick task before a held one counts its wait for room as blocked, not as busy" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t kRoom = 4;  // the quick task's output queue
    sluice_test::gate entered;        // the held task is in its first call
    sluice_test::gate release;
    auto quick = [](int x) { return x; };
    auto held = [&](int x) {
      if (x == 0) {
        entered.open();
        release.wait();
      }
      return x;
    };
    const auto started = std::chrono::steady_clock::now();
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::task(quick, {.name = "quick", .capacity = kRoom}) |
                  sluice::task(held, {.name = "held"}))(200);
    std::int64_t pulled = 0;
    std::jthread consumer{[&] { pulled = sluice_test::drain(items); }};

    REQUIRE(entered.wait());
    // Every slot of the queue between them is taken (the held call's item, and kRoom - 1
    // waiting) while the quick task has items left: its next output must wait for room.
    const bool full = sluice_test::eventually([&] {
      std::vector<sluice::task_stats> now = items.stats();
      return now.size() == 3 && now[2].queued + 1 >= kRoom && now[1].queued > 0;
    });
    const auto held_from = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(100ms);
    const auto window = std::chrono::steady_clock::now() - held_from;
    release.open();
    consumer.join();
    const auto whole_run = std::chrono::steady_clock::now() - started;

    CHECK(full);
    CHECK(pulled == 200);
    std::vector<sluice::task_stats> stats = items.stats();
    REQUIRE(stats.size() == 3);
    const sluice::task_stats& q = stats[1];
    // Nothing could leave the quick task during the window: its worker waited through it.
    CHECK(q.blocked >= window / 2);
    CHECK(q.blocked <= whole_run);
    // Its calls take no time: what it spent outside waiting is a small part of it.
    CHECK(q.busy * 4 < q.blocked);
    // The held task's first call lasted the whole window; nothing made it wait for room.
    CHECK(stats[2].busy >= window);
    CHECK(stats[2].blocked == std::chrono::nanoseconds{0});
  }

  TEST_CASE("the producer's busy time shows while it still runs" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate release;
    auto held = [&](int x) {
      release.wait();
      return x;
    };
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(held))(100'000);
    std::jthread consumer{[&] { static_cast<void>(sluice_test::drain(items)); }};

    // The producer cannot finish while `held` holds its first item: what shows is counted live.
    std::vector<sluice::task_stats> seen;
    const bool shown = sluice_test::eventually([&] {
      seen = items.stats();
      return seen.size() == 2 && seen[0].items_out >= 1000 && seen[0].busy.count() > 0;
    });
    release.open();
    consumer.join();
    CHECK(shown);
  }

  TEST_CASE("in_flight and queued show a running task's state to another thread" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<std::int64_t> produced{0};
    sluice_test::gate release;
    auto held = [&](int x) {
      release.wait();
      return x;
    };
    auto items = (sluice::task(counted_numbers, sluice::branch) |
                  sluice::task(held, {.name = "held", .concurrency = 3}))(50, &produced);

    std::int64_t pulled = 0;
    std::jthread consumer{[&] { pulled = sluice_test::drain(items); }};

    std::vector<sluice::task_stats> seen;
    bool observed = sluice_test::eventually([&] {
      seen = items.stats();
      return seen.size() == 2 && seen[1].in_flight == 3 && seen[1].queued > 0;
    });
    release.open();
    consumer.join();

    CHECK(observed);
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].name == "held");
    CHECK(seen[1].in_flight == 3);
    CHECK(seen[1].queued > 0);
    CHECK(seen[1].items_out == 0);  // nothing could finish while the gate was shut
    CHECK(pulled == 50);
    CHECK_FALSE(release.timed_out());

    std::vector<sluice::task_stats> after = items.stats();
    REQUIRE(after.size() == 2);
    CHECK(after[1].in_flight == 0);
    CHECK(after[1].queued == 0);
    CHECK(after[1].items_out == 50);
  }

  TEST_CASE(
      "stats() can be polled from another thread during a run and its counters never go back" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 4}) |
                  sluice::task([](int x) { return x + 1; }))(20'000);
    std::atomic<bool> done{false};
    std::atomic<bool> went_back{false};
    std::atomic<int> polls{0};

    std::jthread poller{[&] {
      std::uint64_t last_out = 0;
      while (!done.load()) {
        std::vector<sluice::task_stats> stats = items.stats();
        if (stats.size() == 3) {
          if (stats[2].items_out < last_out) went_back = true;
          last_out = stats[2].items_out;
        }
        polls.fetch_add(1);
      }
    }};
    std::int64_t pulled = sluice_test::drain(items);
    sluice_test::eventually([&] { return polls.load() > 0; });
    done = true;
    poller.join();

    CHECK(pulled == 20'000);
    CHECK(polls.load() > 0);
    CHECK_FALSE(went_back.load());
  }


  TEST_CASE("queued counts the items the task before holds back while the task is busy" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate producer_pauses;
    sluice_test::gate first_call_waits;
    // Yields 6 items, then waits in its own code: what it offered meanwhile is held back for a
    // worker that is busy with item 0.
    auto produce = [&](int) -> sluice::generator<int> {
      for (int i = 0; i < 6; ++i) co_yield i;
      producer_pauses.wait();
      for (int i = 6; i < 10; ++i) co_yield i;
    };
    auto busy = [&](int x) {
      if (x == 0) first_call_waits.wait();
      return x;
    };
    auto items = (sluice::task(produce, sluice::branch) | sluice::task(busy, {.name = "busy"}))(0);
    std::int64_t pulled = 0;
    std::jthread consumer{[&] { pulled = sluice_test::drain(items); }};

    std::vector<sluice::task_stats> seen;
    const bool observed = sluice_test::eventually([&] {
      seen = items.stats();
      return seen.size() == 2 && seen[1].in_flight == 1 && seen[1].queued == 5;
    });
    first_call_waits.open();
    producer_pauses.open();
    consumer.join();

    CHECK(observed);
    CAPTURE(seen.at(1).queued);
    CHECK(pulled == 10);
    CHECK(items.stats().at(1).queued == 0);
  }

  TEST_CASE("queued counts the items a serial task took in a batch and has not called yet" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // The caller takes one output and stops pulling: the last queue (capacity 1) fills, the last
    // task waits to push its next output, and the rest of what it took waits in its batch.
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::task(twice, {.name = "last", .capacity = 1}))(10);
    REQUIRE(items.next() == 0);

    std::vector<sluice::task_stats> seen;
    const bool observed = sluice_test::eventually([&] {
      seen = items.stats();
      // 10 made: item 0 handed out (its room is given back at the next pull), item 1 called
      // and waiting for that room, items 2..9 not called yet.
      return seen.size() == 2 && seen[1].queued == 8;
    });
    CHECK(observed);
    CAPTURE(seen.at(1).queued);
    CHECK(sluice_test::drain(items) == 9);
  }

}  // TEST_SUITE

TEST_SUITE("stream drain") {
  TEST_CASE("drain() from another thread stops a generator mid-stream: it is not resumed, and "
            "every item it yielded goes through every stage to the stream, which ends normally" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    paused_run state;
    std::atomic<int> seen{0};
    auto count = [&](int x) {
      seen.fetch_add(1);
      return x;
    };
    auto items = (sluice::task(paused_numbers, sluice::branch) |
                  sluice::task(count, {.concurrency = 2}) | sluice::task(twice))(1000, 5, &state);
    std::thread drainer = drain_when_paused(items, state);

    std::vector<int> out;
    CHECK_NOTHROW(out = pull_all(items));
    drainer.join();

    CHECK_FALSE(state.go.timed_out());
    CHECK(state.resumed.load() == 6);  // items 0..5; never resumed for item 6
    CHECK(seen.load() == 6);
    CHECK(sorted(out) == std::vector<int>{0, 2, 4, 6, 8, 10});
    CHECK(items.drained());
    CHECK(items.stats().at(0).items_out == 6);
    CHECK_FALSE(items.next().has_value());
  }

  TEST_CASE("a drained batch hands out its partial batch" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    paused_run state;
    auto items = (sluice::task(paused_numbers, sluice::branch) | sluice::batch(4))(1000, 5, &state);
    std::thread drainer = drain_when_paused(items, state);

    const auto out = pull_all(items);
    drainer.join();

    CHECK(out == std::vector<std::vector<int>>{{0, 1, 2, 3}, {4, 5}});
  }

  TEST_CASE("a drain lets the calls in flight in a slow concurrent task finish and arrive, and "
            "every item queued behind them" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice_test::gate in_flight{3};
    sluice_test::gate release;
    std::atomic<std::int64_t> produced{0};
    auto slow = [&](int x) {
      in_flight.arrive();
      release.wait();
      return x;
    };
    constexpr int kLimit = 100'000;
    auto items = (sluice::task(counted_numbers, sluice::branch, {.capacity = 4}) |
                  sluice::task(slow, {.concurrency = 3}))(kLimit, &produced);
    std::thread drainer([&] {
      in_flight.wait();  // three calls hold three items; the producer is blocked or ahead
      items.drain();
      release.open();
    });

    const auto out = pull_all(items);
    drainer.join();

    CHECK_FALSE(in_flight.timed_out());
    CHECK(out.size() >= 3);
    CHECK(static_cast<std::int64_t>(out.size()) == produced.load());
    CHECK(out.size() < static_cast<std::size_t>(kLimit));
    std::vector<int> expected(out.size());
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(sorted(out) == expected);  // a prefix of the input, each item once
    CHECK(items.drained());
  }

  TEST_CASE("a drain keeps an ordered task's order" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    CHECK(drained_outputs(sluice::task(twice, {.concurrency = 3, .ordered = true})) ==
          std::vector<int>{0, 2, 4, 6, 8, 10});
  }

  TEST_CASE("a drain reaches fan_out, route, zip and join tasks as a normal end does" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    CHECK(sorted(drained_outputs(sluice::fan_out(sluice::task(twice),
                                                 sluice::task(sluice_test::plus_hundred)))) ==
          std::vector<int>{0, 2, 4, 6, 8, 10, 100, 101, 102, 103, 104, 105});
    CHECK(sorted(drained_outputs(sluice::route(
              parity, sluice::task(twice), sluice::task(sluice_test::plus_hundred)))) ==
          std::vector<int>{0, 4, 8, 101, 103, 105});
#if !(defined(__clang__) && __clang_major__ <= 14)
    // clang 14 crashes instantiating zip's typing here when the test's precompiled header is
    // used; g++ checks this case.
    auto zipped =
        drained_outputs(sluice::zip(sluice::task(twice), sluice::task(sluice_test::as_text)));
    std::sort(zipped.begin(), zipped.end());
    REQUIRE(zipped.size() == 6);
    for (int i = 0; i < 6; ++i) {
      CHECK(zipped[static_cast<std::size_t>(i)] == std::tuple{2 * i, std::to_string(i)});
    }
#endif
    CHECK(drained_outputs(sluice::task(sluice_test::sum, sluice::join)) ==
          std::vector<int>{0 + 1 + 2 + 3 + 4 + 5});
  }

  TEST_CASE("sluice::from stops taking elements of its range at a drain" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::vector<int> input(100'000);
    std::iota(input.begin(), input.end(), 0);
    sluice_test::gate reached;
    sluice_test::gate release;
    auto hold_at_three = [&](int x) {
      if (x == 3) {
        reached.arrive();
        release.wait();
      }
      return x;
    };
    auto items = (sluice::from(input) | sluice::task(hold_at_three, {.capacity = 2}))();
    std::thread drainer([&] {
      reached.wait();
      items.drain();
      release.open();
    });

    const auto out = pull_all(items);
    drainer.join();

    const auto emitted = items.stats().at(0).items_out;
    CHECK(out.size() == emitted);
    CHECK(out.size() < input.size());
    CHECK(out == std::vector<int>(input.begin(), input.begin() + static_cast<long>(out.size())));
    CHECK(items.drained());
  }

  TEST_CASE("drain() before the first pull: the producer is not called and the stream is empty" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    SUBCASE("a plain producer") {
      std::atomic<int> calls{0};
      auto make = [&](int x) {
        calls.fetch_add(1);
        return x;
      };
      auto items = (sluice::task(make) | sluice::task(twice))(7);
      items.drain();
      CHECK_FALSE(items.next().has_value());
      CHECK(calls.load() == 0);
      CHECK(items.drained());
    }
    SUBCASE("a generator") {
      std::atomic<std::int64_t> produced{0};
      auto items = (sluice::task(counted_numbers, sluice::branch) | sluice::task(twice))(7, &produced);
      items.drain();
      CHECK(pull_all(items).empty());
      CHECK(produced.load() == 0);
      CHECK(items.drained());
    }
  }

  TEST_CASE("drain() after the end, and on an empty stream, changes nothing" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(twice))(3);
    CHECK(pull_all(items) == std::vector<int>{0, 2, 4});
    items.drain();
    items.drain();
    CHECK_FALSE(items.next().has_value());
    CHECK_FALSE(items.drained());

    sluice::stream<int> moved_from = std::move(items);
    items.drain();  // a moved-from stream has no run
    CHECK_FALSE(items.drained());
  }

  TEST_CASE("a cancel after a drain still returns a reader blocked in next() at once" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice_test::gate entered;
    sluice_test::gate release;
    auto stuck = [&](int x) {
      entered.arrive();
      release.wait();
      return x;
    };
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(stuck))(100);
    std::optional<int> got{-1};
    std::thread reader([&] { got = items.next(); });
    REQUIRE(entered.wait());
    items.drain();
    items.cancel();
    reader.join();  // returns while the call is still blocked on `release`

    CHECK_FALSE(release.is_open());
    CHECK_FALSE(got.has_value());
    release.open();
  }

  TEST_CASE("a drain does not reach a pipeline run inside a task's call" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    paused_run state;
    auto inner = sluice::task(numbers, sluice::branch) | sluice::task(twice);
    auto inner_sum = [&](int n) {
      int total = 0;
      auto parts = inner(n);
      if (n == 5) {
        state.paused.arrive();  // the outer run is drained while this inner run is going
        state.go.wait();
      }
      while (auto x = parts.next()) total += *x;
      return total;
    };
    auto items = (sluice::task(numbers, sluice::branch, {.capacity = 8}) |
                  sluice::task(inner_sum))(1000);
    std::thread drainer = drain_when_paused(items, state);

    const auto out = pull_all(items);
    drainer.join();

    REQUIRE(out.size() >= 6);
    CHECK(out[5] == 2 * (0 + 1 + 2 + 3 + 4));  // the inner run of item 5 ran to its end
    CHECK(out.size() < 1000);
    CHECK(items.drained());
  }
}  // TEST_SUITE
