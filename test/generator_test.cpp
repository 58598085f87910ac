// Tests of <sluice/generator.hpp>: generator<T> on its own and as a producer or branch result.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;
using sluice_test::test_error;

static_assert(std::ranges::input_range<sluice::generator<int>>);
static_assert(!std::is_copy_constructible_v<sluice::generator<int>>);
static_assert(std::is_move_constructible_v<sluice::generator<int>>);

namespace {

// Sets `*destroyed` when the generator's frame goes away.
struct on_destroy {
  std::atomic<bool>* destroyed;
  ~on_destroy() { destroyed->store(true); }
};

sluice::generator<int> guarded_numbers(int limit, std::atomic<bool>* destroyed) {
  on_destroy guard{destroyed};
  for (int i = 0; i < limit; ++i) co_yield i;
}

sluice::generator<int> fails_after(int good) {
  for (int i = 0; i < good; ++i) co_yield i;
  throw test_error{good};
}

sluice::generator<std::string> words() {
  std::string word = "a";
  for (int i = 0; i < 3; ++i) {
    co_yield word;  // an lvalue: the consumer gets a copy of its value at this point
    word += "a";
  }
}

sluice::generator<std::unique_ptr<int>> boxes(int limit) {
  for (int i = 0; i < limit; ++i) co_yield std::make_unique<int>(i);
}

}  // namespace

TEST_SUITE("generator") {
  TEST_CASE("a generator is a lazy range on its own") {
    std::vector<int> out;
    for (int x : numbers(4)) out.push_back(x);
    CHECK(out == std::vector<int>{0, 1, 2, 3});
  }

  TEST_CASE("a generator that yields nothing is an empty range") {
    auto empty = numbers(0);
    CHECK(empty.begin() == empty.end());
  }

  TEST_CASE("an exception in a generator's body propagates to whoever iterates it") {
    std::vector<int> out;
    try {
      for (int x : fails_after(2)) out.push_back(x);
      FAIL("the generator did not throw");
    } catch (const test_error& e) {
      CHECK(e.item == 2);
    }
    CHECK(out == std::vector<int>{0, 1});
  }

  TEST_CASE(
      "an exception in a producer generator's body reaches the caller of the run with its type" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(fails_after, sluice::branch) |
                sluice::task(sluice_test::twice, {.concurrency = 2})) > sluice::count();

    try {
      static_cast<void>(run(50));
      FAIL("the run did not throw");
    } catch (const test_error& e) {
      CHECK(e.item == 50);
    }
  }

  TEST_CASE("an exception in a branch task's generator reaches the caller with its type" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto explode = [](int x) { return fails_after(x); };
    auto items =
        (sluice::task(numbers, sluice::branch) | sluice::task(explode, sluice::branch))(10);

    CHECK_THROWS_AS(static_cast<void>(sluice_test::drain(items)), test_error);
  }

  TEST_CASE("lvalues yielded from a generator arrive with the value they had when yielded" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto run = (sluice::task(words, sluice::branch) |
                sluice::task([](std::string w) { return w + "!"; })) > sluice::to_vector();

    CHECK(run() == std::vector<std::string>{"a!", "aa!", "aaa!"});
  }

  TEST_CASE("a generator yields move-only values") {
    int expected = 0;
    for (auto&& box : boxes(3)) {
      std::unique_ptr<int> mine = std::move(box);
      REQUIRE(mine != nullptr);
      CHECK(*mine == expected++);
    }
    CHECK(expected == 3);
  }

  TEST_CASE(
      "a producer generator left unfinished is destroyed before the stream's destructor returns" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<bool> destroyed{false};
    auto run = sluice::task(guarded_numbers, sluice::branch) | sluice::task(sluice_test::twice);
    {
      auto items = run(1'000'000, &destroyed);
      CHECK(items.next() == std::optional<int>{0});
      CHECK_FALSE(destroyed.load());
    }
    CHECK(destroyed.load());  // the frame went away before the stream's destructor returned
  }

  TEST_CASE("a generator that runs to the end is destroyed by the end of the run" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<bool> destroyed{false};
    auto run = (sluice::task(guarded_numbers, sluice::branch) | sluice::task(sluice_test::twice)) >
               sluice::count();

    CHECK(run(10, &destroyed) == 10);
    CHECK(destroyed.load());
  }

}  // TEST_SUITE
