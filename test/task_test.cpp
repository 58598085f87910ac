// Tests of <sluice/task.hpp>: the callables a task accepts, its flags and options, and the
// configurations that are rejected with std::invalid_argument.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/heap.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::collect;
using sluice_test::numbers;
using sluice_test::sum;
using sluice_test::twice;

namespace {

int negate(int x) { return -x; }

struct scale {
  int factor;
  int operator()(int x) const { return x * factor; }
};

// Runs `build_and_run` and returns the what() of the std::invalid_argument it throws; fails the
// test if it throws nothing or something else.
template <class Fn>
std::string invalid_argument_from(Fn build_and_run) {
  try {
    build_and_run();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (...) {
    FAIL("threw something other than std::invalid_argument");
    return {};
  }
  FAIL("threw nothing");
  return {};
}

// Runs 10 items through three tasks whose queues have `capacity`, the middle one concurrent,
// unordered and ordered; checks the outputs, and that building the run (its queues and the
// ordered window) allocated nothing near what `capacity` items would take.
void check_short_run(std::size_t capacity) {
  constexpr std::size_t kBigAllocation = std::size_t{64} << 20;  // far above 10 items' worth
  for (const bool ordered : {false, true}) {
    CAPTURE(ordered);
    auto p = sluice::task(numbers, sluice::branch, {.capacity = capacity}) |
             sluice::task(twice, {.concurrency = 4, .capacity = capacity, .ordered = ordered}) |
             sluice::task(negate, {.capacity = capacity});
    const auto before = sluice_test::heap_in_use();
    auto outputs = p(10);  // builds every queue and the ordered window
    const auto after = sluice_test::heap_in_use();
    if (before && after) CHECK(*after < *before + kBigAllocation);
    std::vector<int> all = collect(outputs);
    if (!ordered) std::sort(all.begin(), all.end(), std::greater<>{});
    CHECK(all == std::vector<int>{0, -2, -4, -6, -8, -10, -12, -14, -16, -18});
  }
}

}  // namespace

TEST_SUITE("task") {
  TEST_CASE(
      "a producer with concurrency above 1 is rejected with std::invalid_argument naming the task" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};

    SUBCASE("by its position when it has no name") {
      std::string what = invalid_argument_from([] {
        auto run = (sluice::task(numbers, sluice::branch, {.concurrency = 2}) |
                    sluice::task(twice)) > sluice::count();
        return run(3);
      });
      CHECK(what.find("task#1") != std::string::npos);
    }
    SUBCASE("by its name when it has one") {
      std::string what = invalid_argument_from([] {
        auto run = sluice::task(numbers, sluice::branch, {.name = "reader", .concurrency = 4}) |
                   sluice::task(twice);
        auto items = run(3);
        return items.next();
      });
      CHECK(what.find("reader") != std::string::npos);
    }
  }

  TEST_CASE("a producer with sluice::join is rejected with std::invalid_argument naming the task" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::string what = invalid_argument_from([] {
      auto run = (sluice::task(sum, sluice::join) | sluice::task(twice)) > sluice::to_vector();
      return run();
    });
    CHECK(what.find("task#1") != std::string::npos);
  }

  TEST_CASE("concurrency 0 is rejected with std::invalid_argument naming the task" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};

    SUBCASE("on a task after the producer") {
      std::string what = invalid_argument_from([] {
        auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice) |
                    sluice::task(negate, {.concurrency = 0})) > sluice::count();
        return run(3);
      });
      CHECK(what.find("task#3") != std::string::npos);
    }
    SUBCASE("on a named task") {
      std::string what = invalid_argument_from([] {
        auto run = sluice::task(numbers, sluice::branch) |
                   sluice::task(twice, {.name = "doubler", .concurrency = 0});
        auto items = run(3);
        return items.next();
      });
      CHECK(what.find("doubler") != std::string::npos);
    }
    SUBCASE("on the producer") {
      std::string what = invalid_argument_from([] {
        auto run = (sluice::task(numbers, sluice::branch, {.concurrency = 0}) |
                    sluice::task(twice)) > sluice::count();
        return run(3);
      });
      CHECK(what.find("task#1") != std::string::npos);
    }
  }

  TEST_CASE(
      "task_options is an aggregate whose defaults are: no name, concurrency 1, library capacity, "
      "unordered") {
    sluice::task_options defaults{};
    CHECK(defaults.name.empty());
    CHECK(defaults.concurrency == 1);
    CHECK(defaults.capacity == 0);
    CHECK_FALSE(defaults.ordered);
    CHECK_FALSE(static_cast<bool>(defaults.on_error));

    sluice::task_options options{
        .name = "parse", .concurrency = 8, .capacity = 16, .ordered = true};
    CHECK(options.name == "parse");
    CHECK(options.concurrency == 8);
    CHECK(options.capacity == 16);
    CHECK(options.ordered);
  }

  TEST_CASE("the library's default capacity is a positive bound") {
    CHECK(sluice::default_capacity > 0);
  }

  TEST_CASE("a capacity above sluice::max_capacity is clamped to it, and max_capacity is 2^40") {
    CHECK(sluice::max_capacity == std::size_t{1} << 40);
    CHECK(sluice::default_capacity <= sluice::max_capacity);
  }

  TEST_CASE(
      "a capacity of SIZE_MAX, 2^24 or 2^40 runs a short pipeline to the right result without "
      "allocating its queues up front" *
      doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    SUBCASE("SIZE_MAX") { check_short_run(std::numeric_limits<std::size_t>::max()); }
    SUBCASE("2^24") { check_short_run(std::size_t{1} << 24); }
    SUBCASE("2^40") { check_short_run(std::size_t{1} << 40); }
    SUBCASE("just above max_capacity") { check_short_run(sluice::max_capacity + 1); }
  }

  TEST_CASE("an ordered task's window fills up to max(capacity, concurrency) while an early call "
            "is slow" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // Item 0's call waits until 300 later items are done: their results wait in the window,
    // which must hold them all (its storage grows as it fills) and still emit in order.
    std::atomic<int> done{0};
    auto slow_first = [&done](int x) {
      if (x == 0) {
        CHECK(sluice_test::eventually([&] { return done.load() >= 300; }));
      } else {
        done.fetch_add(1);
      }
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(slow_first, {.concurrency = 4, .capacity = 1000, .ordered = true})) >
               sluice::to_vector();
    std::vector<int> expected(2000);
    for (int i = 0; i < 2000; ++i) expected[static_cast<std::size_t>(i)] = i;
    CHECK(run(2000) == expected);
  }

  TEST_CASE(
      "a task takes a function, a function pointer, a lambda, a function object or a "
      "std::function" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    int (*pointer)(int) = negate;
    std::function<int(int)> wrapped = [](int x) { return x + 1; };
    int offset = 100;

    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice) |
                sluice::task(pointer) | sluice::task([offset](int x) { return x + offset; }) |
                sluice::task(scale{3}) | sluice::task(wrapped)) > sluice::to_vector();

    CHECK(run(3) == std::vector<int>{301, 295, 289});  // ((-2x) + 100) * 3 + 1
  }

  TEST_CASE("options and flags combine: task(f, flags, options)" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto pairs = [](int x) { return std::vector<int>{x, x}; };
    auto run = (sluice::task(numbers, sluice::branch, {.name = "numbers", .capacity = 2}) |
                sluice::task(pairs, sluice::branch,
                             {.name = "pairs", .concurrency = 3, .capacity = 2, .ordered = true})) >
               sluice::to_vector();

    CHECK(run(3) == std::vector<int>{0, 0, 1, 1, 2, 2});
  }

  TEST_CASE("the flags combine with | in either order" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto running_max = [](sluice::stream<int>& in) {
      std::vector<int> out;
      int best = -1;
      for (int x : in) {
        best = std::max(best, x % 5);
        out.push_back(best);
      }
      return out;
    };
    auto join_branch =
        (sluice::task(numbers, sluice::branch) |
         sluice::task(running_max, sluice::join | sluice::branch)) > sluice::to_vector();
    auto branch_join =
        (sluice::task(numbers, sluice::branch) |
         sluice::task(running_max, sluice::branch | sluice::join)) > sluice::to_vector();

    const std::vector<int> expected{0, 1, 2, 3, 4, 4, 4};
    CHECK(join_branch(7) == expected);
    CHECK(branch_join(7) == expected);
  }

  TEST_CASE(
      "an invalid option inside a nested pipeline is rejected when the outer run is built, "
      "naming the outer task and the inner one" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const auto inner = sluice::task(twice) | sluice::task(negate, {.concurrency = 0});
    const std::string inner_part = "its task#2 has concurrency 0";

    SUBCASE("a nested pipeline without sluice::branch") {
      std::string what = invalid_argument_from([&] {
        auto p = sluice::task(numbers, sluice::branch) | sluice::task(twice) | sluice::task(inner);
        static_cast<void>(p(3));  // no pull: the error comes from building the run
      });
      CHECK(what.find("sluice: task#3 (a nested pipeline): " + inner_part) != std::string::npos);
    }
    SUBCASE("a nested pipeline with sluice::branch, named") {
      std::string what = invalid_argument_from([&] {
        auto p = sluice::task(numbers, sluice::branch) |
                 sluice::task(inner, sluice::branch, {.name = "expand"});
        static_cast<void>(p(3));
      });
      CHECK(what.find("sluice: task 'expand' (task#2, a nested pipeline): " + inner_part) !=
            std::string::npos);
    }
    SUBCASE("a nested pipeline in a branch of fan_out") {
      std::string what = invalid_argument_from([&] {
        auto p = sluice::task(numbers, sluice::branch) |
                 sluice::fan_out(sluice::task(twice), sluice::task(inner));
        static_cast<void>(p(3));
      });
      CHECK(what.find("sluice: task#3 (a nested pipeline): " + inner_part) != std::string::npos);
    }
    SUBCASE("a nested pipeline inside a nested pipeline") {
      std::string what = invalid_argument_from([&] {
        auto p = sluice::task(numbers, sluice::branch) |
                 sluice::task(sluice::task(twice) | sluice::task(inner, sluice::branch));
        static_cast<void>(p(3));
      });
      CHECK(what.find("sluice: task#2 (a nested pipeline): its task#2 (a nested pipeline): " +
                      inner_part) != std::string::npos);
    }
    SUBCASE("a nested pipeline whose producer has concurrency above 1") {
      std::string what = invalid_argument_from([&] {
        auto p = sluice::task(numbers, sluice::branch) |
                 sluice::task(sluice::task(twice, {.concurrency = 2}) | sluice::task(negate));
        static_cast<void>(p(3));
      });
      CHECK(what.find("sluice: task#2 (a nested pipeline): its task#1 is the producer and has "
                      "concurrency 2") != std::string::npos);
    }
    SUBCASE("a nested pipeline with a sink") {
      std::string what = invalid_argument_from([&] {
        auto p = sluice::task(numbers, sluice::branch) | sluice::task(inner > sluice::count());
        static_cast<void>(p(3));
      });
      CHECK(what.find("sluice: task#2 (a nested pipeline): " + inner_part) != std::string::npos);
    }
  }

  TEST_CASE("the producer is called once with the run's arguments" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    int calls = 0;
    auto repeat = [&calls](const std::string& word, int times) {
      ++calls;
      return std::vector<std::string>(static_cast<std::size_t>(times), word);
    };
    auto run = (sluice::task(repeat, sluice::branch) |
                sluice::task([](std::string s) { return s + "!"; })) > sluice::to_vector();

    CHECK(run(std::string{"hey"}, 2) == std::vector<std::string>{"hey!", "hey!"});
    CHECK(calls == 1);
  }

}  // TEST_SUITE
