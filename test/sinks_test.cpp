// Tests of <sluice/sinks.hpp>: the ready-made sinks to_vector, for_each, reduce and count, user
// sinks, and the ready-made source from(range).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::counted_numbers;
using sluice_test::numbers;
using sluice_test::twice;

TEST_SUITE("sinks") {
  TEST_CASE("to_vector collects every output in a std::vector" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(sluice_test::as_text)) >
               sluice::to_vector();

    auto out = run(3);

    static_assert(std::is_same_v<decltype(out), std::vector<std::string>>);
    CHECK(out == std::vector<std::string>{"0", "1", "2"});
  }

  TEST_CASE("for_each calls its function once for every output" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::vector<int> seen;
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(twice)) >
               sluice::for_each([&seen](int x) { seen.push_back(x); });

    run(4);

    CHECK(seen == std::vector<int>{0, 2, 4, 6});
  }

  TEST_CASE("for_each hands move-only outputs to its function" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    int total = 0;
    auto box = [](int x) { return std::make_unique<int>(x); };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(box)) >
               sluice::for_each([&total](std::unique_ptr<int> b) { total += *b; });

    run(5);

    CHECK(total == 10);
  }

  TEST_CASE(
      "reduce folds the outputs into its initial value with its operation, in order at concurrency "
      "1" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto total = (sluice::task(numbers, sluice::branch) | sluice::task(twice)) >
                 sluice::reduce(std::int64_t{5}, std::plus<>{});
    auto text = sluice::task(numbers, sluice::branch) >
                sluice::reduce(std::string{">"},
                               [](std::string acc, int x) { return acc + std::to_string(x); });

    auto sum = total(10);
    auto joined = text(4);

    static_assert(std::is_same_v<decltype(sum), std::int64_t>);
    static_assert(std::is_same_v<decltype(joined), std::string>);
    CHECK(sum == 95);
    CHECK(joined == ">0123");
  }

  TEST_CASE("count counts the outputs" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto pairs = [](int x) { return std::vector<int>{x, x}; };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(pairs, sluice::branch, {.concurrency = 3})) > sluice::count();

    CHECK(run(1234) == 2468);
  }

  TEST_CASE(
      "a user function or lambda that takes the stream is a sink, and its result is the run's" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto largest = [](sluice::stream<int>& in) {
      int best = -1;
      while (std::optional<int> x = in.next()) best = std::max(best, *x);
      return best;
    };
    auto nothing = [](sluice::stream<int>& in) { static_cast<void>(sluice_test::drain(in)); };

    CHECK(((sluice::task(numbers, sluice::branch) | sluice::task(twice, {.concurrency = 4})) >
           largest)(100) == 198);
    (sluice::task(numbers, sluice::branch) > nothing)(100);
    static_assert(std::is_void_v<decltype((sluice::task(numbers, sluice::branch) > nothing)(1))>);
  }

  TEST_CASE("a sink that stops reading early ends the run, and the producer stops" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto first_three = [](sluice::stream<int>& in) {
      std::vector<int> out;
      for (int x : in) {
        out.push_back(x);
        if (out.size() == 3) break;
      }
      return out;
    };
    auto run = (sluice::task(counted_numbers, sluice::branch) | sluice::task(twice)) > first_three;

    CHECK(run(1'000'000, &produced) == std::vector<int>{0, 2, 4});
    const std::int64_t after_run = produced.load();
    std::this_thread::sleep_for(20ms);

    CHECK(after_run < 100'000);
    CHECK(produced.load() == after_run);  // nothing is left running
  }

  TEST_CASE("from(range) is a producer that emits the range's elements" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};

    SUBCASE("a std::vector, piped into a task") {
      auto run =
          (sluice::from(std::vector<int>{3, 1, 2}) | sluice::task(twice)) > sluice::to_vector();
      CHECK(run() == std::vector<int>{6, 2, 4});
    }
    SUBCASE("a std::list of strings, straight into a sink") {
      auto run = sluice::from(std::list<std::string>{"x", "y"}) > sluice::to_vector();
      CHECK(run() == std::vector<std::string>{"x", "y"});
    }
    SUBCASE("a std::array") {
      auto run = (sluice::from(std::array<int, 4>{1, 2, 3, 4}) |
                  sluice::task(twice, {.concurrency = 2})) > sluice::count();
      CHECK(run() == 4);
    }
    SUBCASE("a const lvalue vector") {
      const std::vector<int> values{5, 6, 7};
      auto run = (sluice::from(values) | sluice::task(twice)) > sluice::to_vector();
      CHECK(run() == std::vector<int>{10, 12, 14});
    }
    SUBCASE("streamed with next()") {
      auto items = (sluice::from(std::vector<int>{9, 8}) | sluice::task(twice))();
      CHECK(items.next() == std::optional<int>{18});
      CHECK(items.next() == std::optional<int>{16});
      CHECK(items.next() == std::nullopt);
    }
  }

  TEST_CASE("a pipeline from a range can be run again and emits the whole range each time" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::from(std::vector<int>{1, 2, 3}) | sluice::task(twice)) >
               sluice::reduce(0, std::plus<>{});

    CHECK(run() == 12);
    CHECK(run() == 12);
  }

}  // TEST_SUITE
