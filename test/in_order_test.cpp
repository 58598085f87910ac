// Tests of sluice::in_order (<sluice/shapes.hpp>): after route, fan_out and zip it emits in the
// order the shape took its inputs, whatever order the branches finish in; items a branch drops
// are skipped; its window is bounded and backs up into the shape's upstream; a stop or an error
// while outputs wait in it ends the run.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::as_text;
using sluice_test::counted_numbers;
using sluice_test::numbers;
using sluice_test::plus_hundred;
using sluice_test::twice;

namespace {

std::vector<int> range_of(int first, int last) {  // [first, last)
  std::vector<int> out;
  for (int x = first; x < last; ++x) out.push_back(x);
  return out;
}

// Blocks until `stop` is requested: a call that only a stop of the run ends.
void wait_for_stop(const std::stop_token& stop) {
  std::mutex mutex;
  std::condition_variable_any never;
  std::unique_lock lock(mutex);
  never.wait(lock, stop, [] { return false; });
}

// Whether `counter` stops changing: it keeps its value across one look 20 ms later, within
// 50 looks. What a test checks next (an exact count) is what fails if it is not the bound.
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

}  // namespace

TEST_SUITE("in_order") {
  TEST_CASE("after route, outputs leave in the producer's order though the first is the last done" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    constexpr int kItems = 200;
    std::atomic<int> odd_done{0};
    sluice_test::gate odd_all_done;
    // Item 0 leaves the even branch only after the odd branch has passed on every odd item.
    auto even = [&](int x) {
      if (x == 0) odd_all_done.wait();
      return x;
    };
    auto odd = [&](int x) {
      if (odd_done.fetch_add(1) + 1 == kItems / 2) odd_all_done.open();
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::route([](int x) { return x % 2; }, sluice::task(even),
                              sluice::task(odd, {.concurrency = 2})) |
                sluice::in_order()) > sluice::to_vector();

    const std::vector<int> out = run(kItems);

    CHECK_FALSE(odd_all_done.timed_out());
    CHECK(out == range_of(0, kItems));
  }

  TEST_CASE("after fan_out, each input's outputs leave in branch order, input after input" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    constexpr int kItems = 50;
    std::atomic<int> doubled{0};
    sluice_test::gate all_doubled;
    auto doubling = [&](int x) {
      if (doubled.fetch_add(1) + 1 == kItems) all_doubled.open();
      return twice(x);
    };
    // The second branch's first output comes after every output of the first branch.
    auto shifting = [&](int x) {
      if (x == 0) all_doubled.wait();
      return plus_hundred(x);
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::fan_out(sluice::task(doubling, {.concurrency = 3}),
                                sluice::task(shifting)) |
                sluice::in_order()) > sluice::to_vector();

    const std::vector<int> out = run(kItems);

    std::vector<int> expected;
    for (int x = 0; x < kItems; ++x) {
      expected.push_back(twice(x));
      expected.push_back(plus_hundred(x));
    }
    CHECK_FALSE(all_doubled.timed_out());
    CHECK(out == expected);
  }

  TEST_CASE("after zip, the tuples leave in input order, not in the order they complete" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    constexpr int kItems = 40;
    std::atomic<int> others_done{0};
    sluice_test::gate others_all_done;
    auto first_last = [&](int x) {
      if (x == 0) {
        others_all_done.wait();
      } else if (others_done.fetch_add(1) + 1 == kItems - 1) {
        others_all_done.open();
      }
      return twice(x);
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::zip(sluice::task(first_last, {.concurrency = 2}), sluice::task(as_text)) |
                sluice::in_order()) > sluice::to_vector();

    const std::vector<std::tuple<int, std::string>> out = run(kItems);

    std::vector<std::tuple<int, std::string>> expected;
    for (int x = 0; x < kItems; ++x) expected.emplace_back(twice(x), as_text(x));
    CHECK_FALSE(others_all_done.timed_out());
    CHECK(out == expected);
  }

  TEST_CASE("items an on_error handler drops inside a route branch are skipped, the rest in order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::mutex mutex;
    std::vector<std::uint64_t> dropped;
    auto record = [&](const sluice::failure& f) {
      std::lock_guard lock(mutex);
      dropped.push_back(f.sequence);
    };
    auto picky = [](int x) {
      if (x % 6 == 0) throw std::runtime_error("multiple of six");
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::route([](int x) { return x % 3 == 0 ? 0 : 1; },
                              sluice::task(picky, {.concurrency = 2, .on_error = record}),
                              sluice::task([](int x) { return x; }, {.concurrency = 3})) |
                sluice::in_order({.window = 4})) > sluice::to_vector();

    const std::vector<int> out = run(300);

    std::vector<int> expected;
    std::vector<std::uint64_t> expected_dropped;
    for (int x = 0; x < 300; ++x) {
      if (x % 6 == 0) {
        expected_dropped.push_back(static_cast<std::uint64_t>(x));
      } else {
        expected.push_back(x);
      }
    }
    CHECK(out == expected);
    std::sort(dropped.begin(), dropped.end());
    CHECK(dropped == expected_dropped);
  }

  TEST_CASE("with one input held back, in_order admits at most `window` outputs and the producer "
            "blocks" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr int kItems = 1000;
    constexpr int kWindow = 8;
    std::atomic<std::int64_t> produced{0};
    std::atomic<int> fast_calls{0};
    std::atomic<int> delivered{0};
    sluice_test::gate release;
    auto held = [&](int x) {
      release.wait();
      return x;
    };
    auto fast = [&](int x) {
      fast_calls.fetch_add(1);
      return x;
    };
    auto p = sluice::task(counted_numbers, sluice::branch) |
             sluice::route([](int x) { return x == 0 ? 0 : 1; }, sluice::task(held),
                           sluice::task(fast, {.concurrency = 2})) |
             sluice::in_order({.window = kWindow});
    auto items = p(kItems, &produced);
    std::vector<int> out;
    std::thread consumer([&] {
      for (int x : items) {
        out.push_back(x);
        delivered.fetch_add(1);
      }
    });

    // Inputs 1 .. window-1 pass the fast branch; input `window` waits at the route's entry, so
    // the producer has made window + 1 items and makes no more.
    CHECK(sluice_test::eventually(
        [&] { return fast_calls.load() == kWindow - 1 && produced.load() == kWindow + 1; }));
    CHECK(stays_still([&] { return produced.load() + fast_calls.load(); }));
    CHECK(fast_calls.load() == kWindow - 1);
    CHECK(produced.load() == kWindow + 1);
    CHECK(delivered.load() == 0);

    release.open();
    consumer.join();
    CHECK(out == range_of(0, kItems));
    CHECK(produced.load() == kItems);
  }

  TEST_CASE("cancel() while outputs wait behind a held input ends the run" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> fast_calls{0};
    auto held = [](int x, std::stop_token stop) {
      if (x == 0) wait_for_stop(stop);
      return x;
    };
    auto fast = [&](int x) {
      fast_calls.fetch_add(1);
      return x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::route([](int x) { return x == 0 ? 0 : 1; }, sluice::task(held),
                           sluice::task(fast)) |
             sluice::in_order({.window = 16});
    auto items = p(1'000'000);
    std::optional<int> first;
    std::thread consumer([&] { first = items.next(); });

    CHECK(sluice_test::eventually([&] { return fast_calls.load() == 15; }));
    items.cancel();
    consumer.join();
    CHECK_FALSE(first.has_value());
  }

  TEST_CASE("an error in a branch while outputs wait behind a held input stops the run with it" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto held = [](int x, std::stop_token stop) {
      if (x == 0) wait_for_stop(stop);
      return x;
    };
    auto failing = [](int x) {
      if (x == 9) throw std::runtime_error("item 9 failed");
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::route([](int x) { return x == 0 ? 0 : 1; }, sluice::task(held),
                              sluice::task(failing)) |
                sluice::in_order({.window = 16})) > sluice::to_vector();

    CHECK_THROWS_WITH_AS(run(1'000'000), "item 9 failed", std::runtime_error);
  }

  TEST_CASE("a zip followed by in_order inside a route branch keeps both orders" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto pair_of = [](int x) { return std::tuple<int, std::string>(twice(x), as_text(x)); };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::route([](int x) { return x % 2; },
                              sluice::zip(sluice::task(twice, {.concurrency = 3}),
                                          sluice::task(as_text, {.concurrency = 2})) |
                                  sluice::in_order(),
                              sluice::task(pair_of, {.concurrency = 2})) |
                sluice::in_order()) > sluice::to_vector();

    const std::vector<std::tuple<int, std::string>> out = run(500);

    std::vector<std::tuple<int, std::string>> expected;
    for (int x = 0; x < 500; ++x) expected.push_back(pair_of(x));
    CHECK(out == expected);
  }

  TEST_CASE("in_order after ordered concurrent branches passes every item once, in order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::fan_out(sluice::task(twice, {.concurrency = 4, .ordered = true}),
                                sluice::task(twice, {.concurrency = 4})) |
                sluice::in_order({.window = 2})) > sluice::to_vector();

    const std::vector<int> out = run(2000);

    std::vector<int> expected;
    for (int x = 0; x < 2000; ++x) {
      expected.push_back(twice(x));
      expected.push_back(twice(x));
    }
    CHECK(out == expected);
  }

  TEST_CASE("a window above sluice::max_capacity is rejected naming the in_order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::route([](int x) { return x % 2; }, sluice::task(twice),
                           sluice::task(plus_hundred)) |
             sluice::in_order({.window = sluice::max_capacity + 1});

    const std::string message = sluice_test::invalid_argument_message([&] { auto s = p(3); });

    CHECK(message.find("in_order#4") != std::string::npos);
    CHECK(message.find("window") != std::string::npos);
  }
}
