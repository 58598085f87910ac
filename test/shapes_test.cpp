// Tests of <sluice/shapes.hpp>: fan_out, route, zip and batch, their output types, and branches
// that are pipelines of several tasks. Errors and cancellation inside every shape are tested in
// errors_test.cpp and cancellation_test.cpp.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::as_text;
using sluice_test::labelled;
using sluice_test::numbers;
using sluice_test::plus_hundred;
using sluice_test::twice;

namespace {

// The items one branch saw, recorded from any thread.
class seen_items {
 public:
  void add(int x) {
    std::lock_guard lock(mutex_);
    items_.push_back(x);
  }
  std::vector<int> sorted() const {
    std::lock_guard lock(mutex_);
    std::vector<int> out = items_;
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<int> items_;
};

std::vector<int> range_of(int first, int last, int step = 1) {  // [first, last)
  std::vector<int> out;
  for (int x = first; x < last; x += step) out.push_back(x);
  return out;
}

std::vector<int> sorted(std::vector<int> values) {
  std::sort(values.begin(), values.end());
  return values;
}

sluice::generator<labelled> labels(int limit) {
  for (int i = 0; i < limit; ++i) co_yield labelled{i};
}

sluice::generator<std::unique_ptr<int>> boxes(int limit) {
  for (int i = 0; i < limit; ++i) co_yield std::make_unique<int>(i);
}

// Yields 0, 1, 2, then waits for `hold` to open, then yields 3, 4.
sluice::generator<int> held_open(sluice_test::gate* hold) {
  for (int i = 0; i < 3; ++i) co_yield i;
  hold->wait();
  for (int i = 3; i < 5; ++i) co_yield i;
}

// The names of stats() rows, in their order.
std::vector<std::string> names_of(const std::vector<sluice::task_stats>& stats) {
  std::vector<std::string> names;
  for (const auto& s : stats) names.push_back(s.name);
  return names;
}

}  // namespace

TEST_SUITE("shapes") {
  TEST_CASE("fan_out sends every item to every branch and merges their outputs into one stream" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    seen_items left;
    seen_items right;
    auto to_left = [&](int x) {
      left.add(x);
      return twice(x);
    };
    auto to_right = [&](int x) {
      right.add(x);
      return plus_hundred(x);
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::fan_out(sluice::task(to_left, {.concurrency = 3}),
                                sluice::task(to_right))) > sluice::to_vector();

    auto out = run(50);

    static_assert(std::is_same_v<decltype(out), std::vector<int>>);
    CHECK(left.sorted() == range_of(0, 50));
    CHECK(right.sorted() == range_of(0, 50));
    std::vector<int> expected = range_of(0, 100, 2);
    for (int x : range_of(100, 150)) expected.push_back(x);
    CHECK(sorted(out) == sorted(expected));
  }

  TEST_CASE(
      "fan_out over branches of different types gives a std::variant of the distinct types in "
      "branch order" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto numbers_task = sluice::task(numbers, sluice::branch);
    using int_then_text =
        decltype((numbers_task | sluice::fan_out(sluice::task(twice), sluice::task(as_text)))(1));
    using text_then_int =
        decltype((numbers_task | sluice::fan_out(sluice::task(as_text), sluice::task(twice)))(1));
    using repeated =
        decltype((numbers_task | sluice::fan_out(sluice::task(twice), sluice::task(as_text),
                                                 sluice::task(plus_hundred)))(1));
    static_assert(std::is_same_v<int_then_text, sluice::stream<std::variant<int, std::string>>>);
    static_assert(std::is_same_v<text_then_int, sluice::stream<std::variant<std::string, int>>>);
    static_assert(std::is_same_v<repeated, sluice::stream<std::variant<int, std::string>>>);

    auto out = ((numbers_task | sluice::fan_out(sluice::task(twice), sluice::task(as_text))) >
                sluice::to_vector())(20);

    std::vector<int> ints;
    std::vector<int> texts;
    for (const auto& item : out) {
      if (const int* x = std::get_if<int>(&item)) ints.push_back(*x);
      if (const std::string* s = std::get_if<std::string>(&item)) texts.push_back(std::stoi(*s));
    }
    CHECK(sorted(ints) == range_of(0, 40, 2));
    CHECK(sorted(texts) == range_of(0, 20));
  }

  TEST_CASE("route sends each item to exactly the one branch whose index the selector returns" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    seen_items first;
    seen_items second;
    auto to_first = [&](int x) {
      first.add(x);
      return twice(x);
    };
    auto to_second = [&](int x) {
      second.add(x);
      return -x;
    };

    SUBCASE("with an int selector") {
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::route([](int x) { return x % 3 == 0 ? 0 : 1; },
                                sluice::task(to_first, {.concurrency = 2}),
                                sluice::task(to_second))) > sluice::to_vector();
      auto out = run(30);
      static_assert(std::is_same_v<decltype(out), std::vector<int>>);
      std::vector<int> expected;
      for (int x = 0; x < 30; ++x) expected.push_back(x % 3 == 0 ? 2 * x : -x);
      CHECK(sorted(out) == sorted(expected));
    }
    SUBCASE("with a std::size_t selector") {
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::route([](int x) { return x % 3 == 0 ? std::size_t{0} : std::size_t{1}; },
                                sluice::task(to_first), sluice::task(to_second))) > sluice::count();
      CHECK(run(30) == 30);
    }

    CHECK(first.sorted() == range_of(0, 30, 3));
    std::vector<int> rest;
    for (int x = 0; x < 30; ++x)
      if (x % 3 != 0) rest.push_back(x);
    CHECK(second.sorted() == rest);
  }

  TEST_CASE("route over branches of different types gives a std::variant in branch order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::route([](int x) { return x % 2; }, sluice::task(twice),
                              sluice::task(as_text))) > sluice::to_vector();

    auto out = run(10);

    static_assert(std::is_same_v<decltype(out), std::vector<std::variant<int, std::string>>>);
    std::vector<int> evens_doubled;
    std::vector<int> odds;
    for (const auto& item : out) {
      if (const int* x = std::get_if<int>(&item)) evens_doubled.push_back(*x);
      if (const std::string* s = std::get_if<std::string>(&item)) odds.push_back(std::stoi(*s));
    }
    CHECK(sorted(evens_doubled) == std::vector<int>{0, 4, 8, 12, 16});
    CHECK(sorted(odds) == std::vector<int>{1, 3, 5, 7, 9});
  }

  TEST_CASE("a route selector that returns an index out of range is an error naming the route" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::route([](int x) { return x == 4 ? 2 : 0; }, sluice::task(twice),
                              sluice::task(twice))) > sluice::count();

    CHECK_THROWS_WITH(static_cast<void>(run(10)), doctest::Contains("route"));
  }

  TEST_CASE("zip gives one tuple per input item whose components all come from that item" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // Uneven delays at concurrency 4 make each branch finish its items in a different order.
    auto slow_double = [](int x) {
      if (x % 3 == 0) std::this_thread::sleep_for(1ms);
      return twice(x);
    };
    auto slow_text = [](int x) {
      if (x % 5 == 0) std::this_thread::sleep_for(1ms);
      return as_text(x);
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::zip(sluice::task(slow_double, {.concurrency = 4}),
                            sluice::task(slow_text, {.concurrency = 4}))) > sluice::to_vector();

    auto out = run(200);

    static_assert(std::is_same_v<decltype(out), std::vector<std::tuple<int, std::string>>>);
    REQUIRE(out.size() == 200);
    std::vector<int> inputs;
    for (const auto& [doubled, text] : out) {
      CHECK(doubled == 2 * std::stoi(text));
      inputs.push_back(std::stoi(text));
    }
    CHECK(sorted(inputs) == range_of(0, 200));
  }

  TEST_CASE("zip of three branches gives a std::tuple of three" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::zip(sluice::task(twice), sluice::task(as_text),
                            sluice::task(plus_hundred))) > sluice::to_vector();

    auto out = run(3);

    static_assert(std::is_same_v<decltype(out), std::vector<std::tuple<int, std::string, int>>>);
    std::sort(out.begin(), out.end());
    CHECK(out == std::vector<std::tuple<int, std::string, int>>{
                     {0, "0", 100}, {2, "1", 101}, {4, "2", 102}});
  }

  TEST_CASE(
      "batch(n) emits vectors of at most n that hold every item once and flushes the last partial "
      "batch" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::batch(5)) > sluice::to_vector();

    auto out = run(23);

    static_assert(std::is_same_v<decltype(out), std::vector<std::vector<int>>>);
    CHECK(out == std::vector<std::vector<int>>{{0, 1, 2, 3, 4},
                                               {5, 6, 7, 8, 9},
                                               {10, 11, 12, 13, 14},
                                               {15, 16, 17, 18, 19},
                                               {20, 21, 22}});
  }

  TEST_CASE("batch(n) never emits an empty batch" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::batch(5)) > sluice::to_vector();

    CHECK(run(0).empty());
    auto exact = run(20);
    REQUIRE(exact.size() == 4);
    for (const auto& batch : exact) CHECK(batch.size() == 5);
  }

  TEST_CASE("batch(n) after a concurrent task still holds every item exactly once" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 4}) |
                sluice::batch(7)) > sluice::to_vector();

    auto out = run(1000);

    std::vector<int> items;
    for (const auto& batch : out) {
      CHECK(!batch.empty());
      CHECK(batch.size() <= 7);
      items.insert(items.end(), batch.begin(), batch.end());
    }
    CHECK(sorted(items) == range_of(0, 2000, 2));
  }

  TEST_CASE("batch(SIZE_MAX) and batch(2^40) emit every item in one batch at the end" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    for (const std::size_t n : {std::numeric_limits<std::size_t>::max(), std::size_t{1} << 40}) {
      CAPTURE(n);
      auto run = (sluice::task(numbers, sluice::branch) | sluice::batch(n)) > sluice::to_vector();
      CHECK(run(10) == std::vector<std::vector<int>>{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
      CHECK(run(0).empty());
    }
  }

  TEST_CASE("a huge batch with max_wait still leaves after max_wait" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate hold;  // the producer waits here after 0, 1, 2 until the test has seen them
    auto run = sluice::task(held_open, sluice::branch) |
               sluice::batch(std::numeric_limits<std::size_t>::max(), 20ms);
    auto batches = run(&hold);
    std::vector<int> before_open;
    while (before_open.size() < 3) {
      std::optional<std::vector<int>> batch = batches.next();
      REQUIRE(batch.has_value());
      before_open.insert(before_open.end(), batch->begin(), batch->end());
    }
    hold.open();
    std::vector<int> after_open;
    for (const auto& batch : batches)
      after_open.insert(after_open.end(), batch.begin(), batch.end());
    CHECK(before_open == std::vector<int>{0, 1, 2});
    CHECK(after_open == std::vector<int>{3, 4});
  }

  TEST_CASE("batch(n, max_wait) with max_wait too long for the clock waits for a full batch" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // A deadline that overflowed into the past would flush 0, 1, 2 alone at once.
    for (const std::chrono::milliseconds max_wait :
         {std::chrono::milliseconds::max(), std::chrono::milliseconds{24h * 365 * 1000}}) {
      CAPTURE(max_wait.count());
      sluice_test::gate hold;  // the producer waits here after 0, 1, 2
      auto run = sluice::task(held_open, sluice::branch) | sluice::batch(5, max_wait);
      auto batches = run(&hold);
      std::thread opener([&] {
        // Once the batch holds 0, 1 and 2, let the producer go on: the batch is not due.
        CHECK(sluice_test::eventually([&] { return batches.stats().at(1).items_in == 3; }));
        hold.open();
      });
      std::vector<std::vector<int>> all;
      for (auto& batch : batches) all.push_back(std::move(batch));
      opener.join();
      CHECK(all == std::vector<std::vector<int>>{{0, 1, 2, 3, 4}});
    }
  }

  TEST_CASE("batch(0) is rejected with std::invalid_argument naming the batch and its size" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const std::string what = sluice_test::invalid_argument_message([] {
      auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice) | sluice::batch(0)) >
                 sluice::count();
      return run(3);
    });
    CHECK(what.find("batch#3") != std::string::npos);
    CHECK(what.find("size 0") != std::string::npos);
  }

  TEST_CASE(
      "batch(n, max_wait) flushes a partial batch after max_wait while the upstream is still open" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate hold;  // the producer waits here after 0, 1, 2 until the test has seen them
    auto run = sluice::task(held_open, sluice::branch) | sluice::batch(10, 20ms);
    auto batches = run(&hold);

    std::vector<int> before_open;
    while (before_open.size() < 3) {
      std::optional<std::vector<int>> batch = batches.next();
      REQUIRE(batch.has_value());
      CHECK(!batch->empty());
      before_open.insert(before_open.end(), batch->begin(), batch->end());
    }
    const bool producer_was_still_waiting = !hold.timed_out();
    hold.open();
    std::vector<int> after_open;
    for (const auto& batch : batches)
      after_open.insert(after_open.end(), batch.begin(), batch.end());

    CHECK(producer_was_still_waiting);
    CHECK(before_open == std::vector<int>{0, 1, 2});
    CHECK(after_open == std::vector<int>{3, 4});
  }

  TEST_CASE("the branches of fan_out, route and zip may be pipelines of several tasks" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto doubled_plus_one = sluice::task(twice) | sluice::task([](int x) { return x + 1; });
    auto shouted = sluice::task(as_text) |
                   sluice::task([](std::string s) { return s + "!"; }, {.concurrency = 2});

    SUBCASE("fan_out") {
      auto out = ((sluice::task(numbers, sluice::branch) |
                   sluice::fan_out(doubled_plus_one, shouted)) > sluice::to_vector())(3);
      static_assert(std::is_same_v<decltype(out), std::vector<std::variant<int, std::string>>>);
      std::vector<int> ints;
      std::vector<std::string> texts;
      for (const auto& item : out) {
        if (item.index() == 0) ints.push_back(std::get<0>(item));
        if (item.index() == 1) texts.push_back(std::get<1>(item));
      }
      std::sort(texts.begin(), texts.end());
      CHECK(sorted(ints) == std::vector<int>{1, 3, 5});
      CHECK(texts == std::vector<std::string>{"0!", "1!", "2!"});
    }
    SUBCASE("route") {
      auto out =
          ((sluice::task(numbers, sluice::branch) |
            sluice::route([](int x) { return x < 2 ? 0 : 1; }, doubled_plus_one,
                          sluice::task(twice) | sluice::task(twice))) > sluice::to_vector())(4);
      CHECK(sorted(out) == std::vector<int>{1, 3, 8, 12});
    }
    SUBCASE("zip") {
      auto out = ((sluice::task(numbers, sluice::branch) | sluice::zip(doubled_plus_one, shouted)) >
                  sluice::to_vector())(3);
      std::sort(out.begin(), out.end());
      CHECK(out == std::vector<std::tuple<int, std::string>>{{1, "0!"}, {3, "1!"}, {5, "2!"}});
    }
  }

  TEST_CASE("shapes chain into one graph, as in the contract's example" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::mutex mutex;
    std::vector<int> inserted;
    std::size_t largest_batch = 0;
    auto bulk_insert = [&](std::vector<int> rows) {
      std::lock_guard lock(mutex);
      largest_batch = std::max(largest_batch, rows.size());
      inserted.insert(inserted.end(), rows.begin(), rows.end());
    };
    auto run =
        (sluice::task(numbers, sluice::branch) |
         sluice::fan_out(sluice::task(twice), sluice::task([](int x) { return 2 * x + 1; })) |
         sluice::route([](int x) { return x % 2; }, sluice::task([](int x) { return x; }),
                       sluice::task([](int x) { return -x; })) |
         sluice::batch(8, 20ms)) > sluice::for_each(bulk_insert);

    run(100);

    std::vector<int> expected = range_of(0, 200, 2);
    for (int x = 1; x < 200; x += 2) expected.push_back(-x);
    CHECK(sorted(inserted) == sorted(expected));
    CHECK(largest_batch <= 8);
  }

  TEST_CASE("a | shape > sink means (a | shape) > sink" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wparentheses"  // the contract's spelling, see pipeline_test.cpp
    auto unparenthesized =
        sluice::task(numbers, sluice::branch) | sluice::batch(3) > sluice::to_vector();
#pragma GCC diagnostic pop
    auto parenthesized =
        (sluice::task(numbers, sluice::branch) | sluice::batch(3)) > sluice::to_vector();

    const std::vector<std::vector<int>> expected{{0, 1, 2}, {3, 4}};
    CHECK(unparenthesized(5) == expected);
    CHECK(parenthesized(5) == expected);
  }

  TEST_CASE("items without a default constructor pass through every shape" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto same = [](labelled l) { return l; };
    auto value = [](const labelled& l) { return l.value(); };
    auto source = sluice::task(labels, sluice::branch);

    auto fanned = ((source | sluice::fan_out(sluice::task(same), sluice::task(value))) >
                   sluice::to_vector())(4);
    static_assert(std::is_same_v<decltype(fanned), std::vector<std::variant<labelled, int>>>);
    CHECK(fanned.size() == 8);

    auto routed =
        ((source | sluice::route([](const labelled& l) { return l.value() % 2; },
                                 sluice::task(same), sluice::task(same))) > sluice::count())(4);
    CHECK(routed == 4);

    auto zipped =
        ((source | sluice::zip(sluice::task(same), sluice::task(value))) > sluice::to_vector())(4);
    static_assert(std::is_same_v<decltype(zipped), std::vector<std::tuple<labelled, int>>>);
    REQUIRE(zipped.size() == 4);
    for (const auto& [l, v] : zipped) CHECK(l.value() == v);

    auto batched = ((source | sluice::batch(3)) > sluice::to_vector())(4);
    REQUIRE(batched.size() == 2);
    CHECK(batched[0] == std::vector<labelled>{labelled{0}, labelled{1}, labelled{2}});
    CHECK(batched[1] == std::vector<labelled>{labelled{3}});
  }

  TEST_CASE("move-only items pass through route and batch" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto same = [](std::unique_ptr<int> box) { return box; };
    auto run = (sluice::task(boxes, sluice::branch) |
                sluice::route([](const std::unique_ptr<int>& box) { return *box % 2; },
                              sluice::task(same), sluice::task(same, {.concurrency = 2})) |
                sluice::batch(4)) > sluice::to_vector();

    auto out = run(10);

    std::vector<int> values;
    for (const auto& batch : out) {
      CHECK(batch.size() <= 4);
      for (const auto& box : batch) {
        REQUIRE(box != nullptr);
        values.push_back(*box);
      }
    }
    CHECK(sorted(values) == range_of(0, 10));
  }

}  // TEST_SUITE

TEST_SUITE("shapes in stats()") {
  TEST_CASE(
      "each shape has a row named after the position it stands at, and no task is renumbered" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = sluice::task(numbers, sluice::branch)                               // task#1
               | sluice::fan_out(sluice::task(twice), sluice::task(plus_hundred))  // #2, #3
               | sluice::in_order()                                                // in_order#4
               | sluice::route([](int x) { return x % 2; }, sluice::task(twice),   // #4
                               sluice::task(plus_hundred, {.name = "odd"}))        // #5
               | sluice::batch(4);                                                 // batch#6
    auto batches = run(10);
    static_cast<void>(sluice_test::drain(batches));

    const std::vector<sluice::task_stats> stats = batches.stats();

    CHECK(names_of(stats) == std::vector<std::string>{"task#1", "fan_out#2", "task#2", "task#3",
                                                      "in_order#4", "route#4", "task#4", "odd",
                                                      "batch#6"});
    REQUIRE(stats.size() == 9);
    CHECK(stats[0].kind == sluice::stage_kind::task);
    CHECK(stats[1].kind == sluice::stage_kind::fan_out);
    CHECK(stats[4].kind == sluice::stage_kind::in_order);
    CHECK(stats[5].kind == sluice::stage_kind::route);
    CHECK(stats[8].kind == sluice::stage_kind::batch);
  }

  TEST_CASE("a fan_out counts each input once in and each branch's output out" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run =
        sluice::task(numbers, sluice::branch) |
        sluice::fan_out(sluice::task(twice), sluice::task(plus_hundred), sluice::task(twice));
    auto items = run(10);
    CHECK(sluice_test::drain(items) == 30);

    const sluice::task_stats fan_out = items.stats().at(1);
    CHECK(fan_out.name == "fan_out#2");
    CHECK(fan_out.items_in == 10);
    CHECK(fan_out.items_out == 30);
    CHECK(fan_out.queued == 0);
    CHECK(fan_out.branches.empty());
  }

  TEST_CASE("a route counts the items its selector sent to each branch" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // 0..9: even ones to branch 0, odd ones to branch 1, none to branch 2.
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::route([](int x) { return x % 2; }, sluice::task(twice),
                             sluice::task(plus_hundred), sluice::task(twice));
    auto items = run(10);
    CHECK(sluice_test::drain(items) == 10);

    const sluice::task_stats route = items.stats().at(1);
    CHECK(route.name == "route#2");
    CHECK(route.items_in == 10);
    CHECK(route.items_out == 10);
    CHECK(route.branches == std::vector<std::uint64_t>{5, 5, 0});
  }

  TEST_CASE("a zip counts inputs in, tuples out and the tuples a branch dropped a part of" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // Every third input fails in the second branch and is skipped: its tuple is dropped.
    auto fussy = [](int x) {
      if (x % 3 == 0) throw std::runtime_error("a multiple of 3");
      return x;
    };
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::zip(sluice::task(twice), sluice::task(fussy, {.on_error = sluice::skip}));
    auto items = run(9);
    CHECK(sluice_test::drain(items) == 6);

    const sluice::task_stats zip = items.stats().at(1);
    CHECK(zip.name == "zip#2");
    CHECK(zip.kind == sluice::stage_kind::zip);
    CHECK(zip.items_in == 9);
    CHECK(zip.items_out == 6);
    CHECK(zip.dropped == 3);
    CHECK(zip.queued == 0);  // no input waits for the rest of its tuple once the run is over
  }

  TEST_CASE("an in_order counts the outputs that pass through it" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::route([](int x) { return x % 2; }, sluice::task(twice),
                             sluice::task(plus_hundred, {.concurrency = 3})) |
               sluice::in_order();
    auto items = run(20);
    CHECK(sluice_test::drain(items) == 20);

    const sluice::task_stats in_order = items.stats().back();
    CHECK(in_order.name == "in_order#4");
    CHECK(in_order.items_in == 20);
    CHECK(in_order.items_out == 20);
    CHECK(in_order.queued == 0);
  }

  TEST_CASE("while the first input waits in a branch, in_order shows the later outputs it holds" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice_test::gate first_done;
    auto held_first = [&first_done](int x) {
      if (x == 0) first_done.wait();
      return x;
    };
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::route([](int x) { return x == 0 ? 0 : 1; }, sluice::task(held_first),
                             sluice::task(twice)) |
               sluice::in_order();
    auto items = run(5);
    std::thread opener([&] {
      // Outputs 1..4 have arrived and wait for output 0.
      CHECK(sluice_test::eventually([&] {
        const sluice::task_stats in_order = items.stats().back();
        return in_order.items_in == 4 && in_order.queued == 4 && in_order.items_out == 0;
      }));
      first_done.open();
    });
    CHECK(sluice_test::drain(items) == 5);
    opener.join();

    CHECK(items.stats().back().queued == 0);
    CHECK(items.stats().back().items_out == 5);
  }

  TEST_CASE("while one branch holds every input, zip shows them waiting for their tuples" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice_test::gate open;
    auto held = [&open](int x) {
      open.wait();
      return x;
    };
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::zip(sluice::task(twice), sluice::task(held));
    auto items = run(3);
    std::thread opener([&] {
      // The first branch has passed all three on; the second holds the first of them.
      CHECK(sluice_test::eventually([&] {
        const sluice::task_stats zip = items.stats().at(1);
        return zip.items_in == 3 && zip.queued == 3 && zip.items_out == 0;
      }));
      open.open();
    });
    CHECK(sluice_test::drain(items) == 3);
    opener.join();

    CHECK(items.stats().at(1).queued == 0);
    CHECK(items.stats().at(1).items_out == 3);
  }

  TEST_CASE("shapes of one kind standing at one position are told apart by a suffix" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // The inner fan_out is the first stage of the outer one's first branch: both stand at 2.
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::fan_out(sluice::fan_out(sluice::task(twice), sluice::task(plus_hundred)),
                               sluice::task(twice));
    auto items = run(5);
    CHECK(sluice_test::drain(items) == 15);

    const std::vector<sluice::task_stats> stats = items.stats();

    CHECK(names_of(stats) == std::vector<std::string>{"task#1", "fan_out#2", "fan_out#2.2",
                                                      "task#2", "task#3", "task#4"});
    REQUIRE(stats.size() == 6);
    CHECK(stats[1].items_out == 15);
    CHECK(stats[2].items_out == 10);
  }

  TEST_CASE("an in_order that closes a nested shape comes before the outer shape's in_order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::route([](int) { return 0; },
                             sluice::zip(sluice::task(twice), sluice::task(plus_hundred)) |
                                 sluice::in_order()) |
               sluice::in_order();
    auto items = run(5);
    CHECK(sluice_test::drain(items) == 5);

    CHECK(names_of(items.stats()) == std::vector<std::string>{"task#1", "route#2", "zip#2",
                                                              "task#2", "task#3", "in_order#4",
                                                              "in_order#4.2"});
  }

  TEST_CASE(
      "a selector's out-of-range index stops the run with an error naming the route by its row" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice) |
                sluice::route([](int) { return 7; }, sluice::task(twice), sluice::task(twice))) >
               sluice::count();
    std::string message;
    try {
      static_cast<void>(run(3));
    } catch (const std::out_of_range& e) {
      message = e.what();
    }
    CHECK(message.find("the selector of route#3 returned 7") != std::string::npos);
  }
}
