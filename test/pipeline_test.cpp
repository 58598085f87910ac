// Tests of <sluice/pipeline.hpp>: composing tasks with | and >, a sink after | or >, branch,
// join, nested pipelines, ordered output, reuse of one pipeline object, and the item types that
// must flow through.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/sanitizers.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;
using sluice_test::sum;
using sluice_test::twice;

namespace {

// Pyper's running total: a join task that is also a branch yields one output per input.
sluice::generator<int> running_total(sluice::stream<int>& in) {
  int total = 0;
  for (int x : in) {
    total += x;
    co_yield total;
  }
}

int multiply(int x, int factor) { return x * factor; }

struct add_offset {  // a function object with state
  int offset;
  int operator()(int x) const { return x + offset; }
};

sluice::generator<std::unique_ptr<int>> boxes(int limit) {
  for (int i = 0; i < limit; ++i) co_yield std::make_unique<int>(i);
}

sluice::generator<sluice_test::labelled> labels(int limit) {
  for (int i = 0; i < limit; ++i) co_yield sluice_test::labelled{i};
}

std::vector<int> iota_vector(int first, int count) {
  std::vector<int> out(static_cast<std::size_t>(count));
  std::iota(out.begin(), out.end(), first);
  return out;
}

}  // namespace

TEST_SUITE("pipeline") {
  TEST_CASE(
      "the two-stage example sums the doubles of 0..19 to 380 with all 20 calls in flight at once" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate all_started{20};
    sluice_test::concurrency_tracker tracker;
    auto slow_double = [&](int x) {
      auto in_call = tracker.track();
      all_started.arrive_and_wait();  // opens only if 20 calls run at once
      std::this_thread::sleep_for(20ms);
      return 2 * x;
    };

    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(slow_double, {.concurrency = 20})) > sum;
    int total = run(20);

    CHECK(total == 380);
    CHECK_FALSE(all_started.timed_out());
    CHECK(tracker.peak() == 20);
  }

  TEST_CASE("a | b > s means the same as (a | b) > s and as a.pipe(b).consume(s)" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto a = sluice::task(numbers, sluice::branch);
    auto b = sluice::task(twice);

    // The contract's spelling; g++ -Wall suggests parentheses here (-Wparentheses), which is why
    // the other tests write (a | b) > s.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wparentheses"
    auto unparenthesized = a | b > sluice::to_vector();
#pragma GCC diagnostic pop
    auto parenthesized = (a | b) > sluice::to_vector();
    auto spelled_out = a.pipe(b).consume(sluice::to_vector());

    const std::vector<int> expected{0, 2, 4, 6, 8};
    CHECK(unparenthesized(5) == expected);
    CHECK(parenthesized(5) == expected);
    CHECK(spelled_out(5) == expected);
  }

  TEST_CASE("a sink after | ends the pipeline as it does after >" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto a = sluice::task(numbers, sluice::branch);
    auto b = sluice::task(twice);
    const std::vector<int> expected{0, 2, 4, 6, 8};

    SUBCASE("a ready-made sink") {
      auto piped = a | b | sluice::to_vector();
      auto consumed = (a | b) > sluice::to_vector();
      static_assert(std::is_same_v<decltype(piped), decltype(consumed)>);
      CHECK(piped(5) == expected);
      CHECK(consumed(5) == expected);
      CHECK((a | b | sluice::count())(5) == 5);
      CHECK((a | b | sluice::reduce(0, std::plus<>{}))(5) == 20);
    }
    SUBCASE("a function, a function pointer and a lambda that take the stream") {
      CHECK((a | b | sum)(5) == 20);
      CHECK((a | b | &sum)(5) == 20);
      CHECK((a | b | [](sluice::stream<int>& in) { return sum(in) + 1; })(5) == 21);
    }
    SUBCASE("a stateful sink starts fresh every run") {
      auto run = a | b | sluice::for_each([seen = std::vector<int>{}](int x) mutable {
                   seen.push_back(x);
                   REQUIRE(seen.size() <= 5);
                 });
      run(5);
      run(5);
    }
    SUBCASE("| groups either way: a | (b | s) is (a | b) | s") {
      auto right = a | (b | sluice::to_vector());
      CHECK(right(5) == expected);
    }
    SUBCASE("with a progress bar") {
      int frames = 0;
      auto shown = (a | b | sluice::to_vector())
                       .with_progress({.draw = [&](std::string_view) { ++frames; }});
      CHECK(shown(5) == expected);
      CHECK(frames > 0);
    }
  }

  TEST_CASE("only a pipeline or a runnable after | is a stage; any other callable is a sink") {
    using numbers_task = decltype(sluice::task(numbers, sluice::branch));
    using to_vector_sink = decltype(sluice::to_vector());
    // A sink: a pipeline joined with it is a runnable that returns what the sink returns.
    using piped = decltype(std::declval<numbers_task>() | std::declval<to_vector_sink>());
    CHECK(std::is_same_v<std::invoke_result_t<const piped&, int>, std::vector<int>>);
    // Not callable: neither a stage nor a sink.
    CHECK_FALSE(std::is_invocable_v<std::bit_or<>, const numbers_task&, int>);
  }

  TEST_CASE("a producer without branch emits its one result as one item" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task([](int a, int b) { return a + b; }) | sluice::task(twice)) >
               sluice::to_vector();

    CHECK(run(2, 3) == std::vector<int>{10});
  }

  TEST_CASE("a branch producer emits each element of any range it returns as its own item" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const std::vector<int> expected{0, 2, 4};

    SUBCASE("a sluice::generator") {
      CHECK(((sluice::task(numbers, sluice::branch) | sluice::task(twice)) >
             sluice::to_vector())(3) == expected);
    }
    SUBCASE("a std::vector") {
      auto make = [](int n) { return iota_vector(0, n); };
      CHECK(((sluice::task(make, sluice::branch) | sluice::task(twice)) > sluice::to_vector())(3) ==
            expected);
    }
    SUBCASE("a std::list") {
      auto make = [](int n) {
        std::list<int> out;
        for (int i = 0; i < n; ++i) out.push_back(i);
        return out;
      };
      CHECK(((sluice::task(make, sluice::branch) | sluice::task(twice)) > sluice::to_vector())(3) ==
            expected);
    }
    SUBCASE("a std::array") {
      auto make = [] { return std::array<int, 3>{0, 1, 2}; };
      CHECK(((sluice::task(make, sluice::branch) | sluice::task(twice)) > sluice::to_vector())() ==
            expected);
    }
  }

  TEST_CASE("a branch task in the middle flows every element of each result on one by one" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto repeat = [](int x) {
      return std::vector<int>(static_cast<std::size_t>(x), x);
    };  // x copies of x
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(repeat, sluice::branch) |
                sluice::task(twice)) > sluice::to_vector();

    CHECK(run(4) == std::vector<int>{2, 4, 4, 6, 6, 6});
  }

  TEST_CASE(
      "a join and branch task sees the whole upstream and yields a running total, as in Pyper's "
      "docs" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(running_total, sluice::join | sluice::branch)) > sluice::to_vector();

    CHECK(run(5) == std::vector<int>{0, 1, 3, 6, 10});
  }

  TEST_CASE("a join task without branch emits what it returns as one item" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(sum, sluice::join) |
                sluice::task(twice)) > sluice::to_vector();

    CHECK(run(10) == std::vector<int>{90});
  }

  TEST_CASE(
      "join workers at concurrency 3 share the upstream: every item is pulled by exactly one of "
      "them" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    constexpr int limit = 3000;
    std::vector<std::atomic<int>> pulls(limit);
    std::atomic<int> calls{0};
    auto partial_sum = [&](sluice::stream<int>& in) {
      calls.fetch_add(1);
      std::int64_t total = 0;
      for (int x : in) {
        pulls[static_cast<std::size_t>(x)].fetch_add(1);
        total += x;
      }
      return total;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(partial_sum, sluice::join, {.concurrency = 3})) > sluice::to_vector();

    std::vector<std::int64_t> totals = run(limit);

    CHECK(std::accumulate(totals.begin(), totals.end(), std::int64_t{0}) ==
          std::int64_t{limit} * (limit - 1) / 2);
    CHECK(totals.size() == static_cast<std::size_t>(calls.load()));
    CHECK(calls.load() >= 1);
    CHECK(calls.load() <= 3);
    CHECK(std::all_of(pulls.begin(), pulls.end(),
                      [](const std::atomic<int>& n) { return n.load() == 1; }));
  }

  TEST_CASE(
      "lambdas, bind_front, function objects and std::function stand in for Pyper's "
      "functools.partial" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    int factor = 3;
    auto times_three = [factor](int x) { return multiply(x, factor); };
    std::function<int(int)> minus_one = [](int x) { return x - 1; };

    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(times_three) |
                sluice::task(std::bind_front(multiply, 2)) | sluice::task(add_offset{10}) |
                sluice::task(minus_one)) > sluice::to_vector();

    CHECK(run(3) == std::vector<int>{9, 15, 21});  // (x * 3 * 2) + 10 - 1
  }

  TEST_CASE("generic lambdas take the type of the previous task's output" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto doubled = [](auto x) { return x + x; };

    auto ints =
        (sluice::task(numbers, sluice::branch) | sluice::task(doubled)) > sluice::to_vector();
    auto texts = (sluice::task(numbers, sluice::branch) | sluice::task(sluice_test::as_text) |
                  sluice::task(doubled)) > sluice::to_vector();
    auto from_generic_producer =
        (sluice::task([](auto n) { return n * 2; }) | sluice::task(doubled)) > sluice::to_vector();

    CHECK(ints(3) == std::vector<int>{0, 2, 4});
    CHECK(texts(3) == std::vector<std::string>{"00", "11", "22"});
    CHECK(from_generic_producer(21) == std::vector<int>{84});
  }

  TEST_CASE(
      "a nested pipeline without branch passes on a vector of the inner run's outputs for each "
      "item" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> inner_runs{0};
    auto inner = sluice::task(
                     [&](int x) {
                       inner_runs.fetch_add(1);
                       return std::vector<int>{x, x + 1};
                     },
                     sluice::branch) |
                 sluice::task(twice);
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(inner)) > sluice::to_vector();

    auto out = run(3);

    static_assert(std::is_same_v<decltype(out), std::vector<std::vector<int>>>);
    CHECK(out == std::vector<std::vector<int>>{{0, 2}, {2, 4}, {4, 6}});
    CHECK(inner_runs.load() == 3);  // once per item
  }

  TEST_CASE("a nested pipeline with branch flows the inner run's outputs on one by one" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto inner = sluice::task(
                     [](int x) {
                       return std::vector<int>{x, x + 1};
                     },
                     sluice::branch) |
                 sluice::task(twice);
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(inner, sluice::branch)) >
               sluice::to_vector();

    auto out = run(3);

    static_assert(std::is_same_v<decltype(out), std::vector<int>>);
    CHECK(out == std::vector<int>{0, 2, 2, 4, 4, 6});
  }

  TEST_CASE(
      "a nested pipeline at concurrency 4 runs once per item and keeps each item's outputs "
      "together" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto inner = sluice::task(
                     [](int x) {
                       return std::vector<int>{x, x, x};
                     },
                     sluice::branch) |
                 sluice::task(twice);
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(inner, {.concurrency = 4})) >
               sluice::to_vector();

    auto out = run(200);

    std::sort(out.begin(), out.end());
    REQUIRE(out.size() == 200);
    for (int x = 0; x < 200; ++x)
      CHECK(out[static_cast<std::size_t>(x)] == std::vector<int>(3, 2 * x));
  }

  TEST_CASE(
      "ordered at concurrency 8 emits 100000 items in input order although the calls finish out of "
      "order" *
      doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    const int limit = sluice_test::scaled(100'000, 10'000);
    // Item 0 waits until items 1..16 have finished, so the calls finish out of order for certain
    // (if they really overlap); after that, uneven amounts of work keep shuffling the order.
    constexpr int overtaking = 16;
    std::atomic<int> overtaken{0};
    std::atomic<bool> gave_up{false};
    std::atomic<std::int64_t> finish_order{0};
    std::vector<std::int64_t> finished_as(static_cast<std::size_t>(limit));
    auto shuffled = [&](int x) {
      if (x == 0) {
        gave_up = !sluice_test::eventually([&] { return overtaken.load() == overtaking; });
      } else {
        sluice_test::spin(static_cast<int>((static_cast<unsigned>(x) * 2654435761u) >> 27) * 20);
      }
      if (x >= 1 && x <= overtaking) overtaken.fetch_add(1);
      finished_as[static_cast<std::size_t>(x)] = finish_order.fetch_add(1);
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(shuffled, {.concurrency = 8, .ordered = true})) > sluice::to_vector();

    std::vector<int> out = run(limit);

    CHECK_FALSE(gave_up.load());
    CHECK(out == iota_vector(0, limit));
    CHECK(finished_as[0] > finished_as[overtaking]);  // the calls did finish out of order
  }

  TEST_CASE("one pipeline object runs many times, one after another, with the same result" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 4})) >
               sluice::reduce(std::int64_t{0}, std::plus<>{});

    for (int round = 0; round < 5; ++round) CHECK(run(1000) == sluice_test::sum_of_doubles(1000));
  }

  TEST_CASE("four threads running one pipeline object at once each get their own correct result" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 3})) >
               sluice::reduce(std::int64_t{0}, std::plus<>{});
    auto streamed = sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 3});
    std::array<std::int64_t, 4> totals{};
    std::array<std::int64_t, 4> streamed_totals{};

    sluice_test::run_on_threads(4, [&](std::size_t index) {
      const int limit = 1000 * static_cast<int>(index + 1);
      totals[index] = run(limit);
      auto items = streamed(limit);
      for (int x : items) streamed_totals[index] += x;
    });

    for (std::size_t index = 0; index < 4; ++index) {
      CAPTURE(index);
      CHECK(totals[index] ==
            sluice_test::sum_of_doubles(1000 * static_cast<std::int64_t>(index + 1)));
      CHECK(streamed_totals[index] == totals[index]);
    }
  }

  TEST_CASE("move-only items travel through several stages" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto double_box = [](std::unique_ptr<int> box) {
      *box *= 2;
      return box;
    };
    auto plus_one_box = [](std::unique_ptr<int> box) {
      *box += 1;
      return box;
    };
    auto run =
        (sluice::task(boxes, sluice::branch) | sluice::task(double_box, {.concurrency = 3}) |
         sluice::task(plus_one_box, {.concurrency = 2, .ordered = true})) > sluice::to_vector();

    std::vector<std::unique_ptr<int>> out = run(50);

    REQUIRE(out.size() == 50);
    std::vector<int> values;
    for (const auto& box : out) {
      REQUIRE(box != nullptr);
      values.push_back(*box);
    }
    std::sort(values.begin(), values.end());
    for (int i = 0; i < 50; ++i) CHECK(values[static_cast<std::size_t>(i)] == 2 * i + 1);
  }

  TEST_CASE("move-only items come out of a stream through next() and range-for" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = sluice::task(boxes, sluice::branch) |
               sluice::task([](std::unique_ptr<int> box) { return box; });
    auto items = run(3);

    std::optional<std::unique_ptr<int>> first = items.next();
    REQUIRE(first.has_value());
    REQUIRE(*first != nullptr);
    CHECK(**first == 0);
    std::vector<int> rest;
    for (auto&& box : items) {
      std::unique_ptr<int> mine = std::move(box);
      rest.push_back(*mine);
    }
    CHECK(rest == std::vector<int>{1, 2});
  }

  TEST_CASE("items without a default constructor travel through tasks, sinks and the stream" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    using sluice_test::labelled;
    static_assert(!std::is_default_constructible_v<labelled>);
    auto bump = [](labelled l) { return labelled{l.value() + 1}; };
    auto run = sluice::task(labels, sluice::branch) |
               sluice::task(bump, {.concurrency = 3, .ordered = true});

    auto all = (run > sluice::to_vector())(3);
    CHECK(all == std::vector<labelled>{labelled{1}, labelled{2}, labelled{3}});

    auto items = run(2);
    std::optional<labelled> first = items.next();
    REQUIRE(first.has_value());
    CHECK(first->value() == 1);
    std::optional<labelled> second = items.next();
    REQUIRE(second.has_value());
    CHECK(second->value() == 2);
    CHECK_FALSE(items.next().has_value());
  }

  TEST_CASE("a pipeline with zero items gives empty results from every sink and an empty stream" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto empty_generator =
        sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 4});
    auto empty_range = sluice::from(std::vector<int>{}) | sluice::task(twice);
    int calls = 0;

    CHECK((empty_generator > sluice::to_vector())(0).empty());
    CHECK((empty_generator > sluice::count())(0) == 0);
    CHECK((empty_generator > sluice::reduce(7, std::plus<>{}))(0) == 7);
    (empty_generator > sluice::for_each([&](int) { ++calls; }))(0);
    CHECK(calls == 0);
    CHECK((empty_range > sluice::to_vector())().empty());

    auto items = empty_generator(0);
    CHECK(items.begin() == items.end());
    auto more = empty_range();
    CHECK_FALSE(more.next().has_value());
  }

  TEST_CASE("capacity 1 on every task still delivers every item, in order at concurrency 1" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch, {.capacity = 1}) |
                sluice::task(twice, {.capacity = 1}) |
                sluice::task([](int x) { return x + 1; }, {.capacity = 1})) > sluice::to_vector();

    std::vector<int> expected;
    for (int i = 0; i < 500; ++i) expected.push_back(2 * i + 1);
    CHECK(run(500) == expected);
  }

}  // TEST_SUITE
