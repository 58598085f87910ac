// Tests of <sluice/fallback.hpp>: with_fallback and first_of try their alternatives in order,
// stop at the first success, and throw sluice::all_failed holding every error in order when all
// of them fail; and a fallback sequence inside a retry.
#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <list>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/clock.hpp>
#include <sluice/errors.hpp>
#include <sluice/fallback.hpp>
#include <sluice/retry.hpp>

#include "common/fixtures.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::item_of;
using sluice_test::plain_error;
using sluice_test::test_error;

namespace {

// The errors of the all_failed that calling `fn` throws; fails the test otherwise.
template <class Fn>
std::vector<std::exception_ptr> all_failed_errors(Fn&& fn, const std::string& expected_what) {
  try {
    static_cast<void>(fn());
    FAIL("the call did not throw");
  } catch (const sluice::all_failed& e) {
    CHECK(std::string(e.what()).find(expected_what) != std::string::npos);
    return e.errors();
  } catch (...) {
    FAIL("the call threw something other than sluice::all_failed");
  }
  return {};
}

}  // namespace

TEST_SUITE("fallback") {
  TEST_CASE("with_fallback tries the values in order and returns the first success") {
    std::vector<std::string> tried;
    auto call_with_key = [&](const std::string& url, const std::string& key) {
      tried.push_back(key);
      if (key != "k3") throw test_error{static_cast<int>(tried.size())};
      return url + "?key=" + key;
    };
    auto get =
        sluice::with_fallback(call_with_key, std::vector<std::string>{"k1", "k2", "k3", "k4"});
    CHECK(get("https://example.com") == "https://example.com?key=k3");
    CHECK(tried == std::vector<std::string>{"k1", "k2", "k3"});  // k4 is never used

    tried.clear();
    auto first_works = sluice::with_fallback(call_with_key, std::vector<std::string>{"k3", "k1"});
    CHECK(first_works("u") == "u?key=k3");
    CHECK(tried == std::vector<std::string>{"k3"});
  }

  TEST_CASE("with_fallback passes the call's arguments before the value") {
    auto f = [](int a, const std::string& b, int value) { return b + std::to_string(a * value); };
    auto wrapped = sluice::with_fallback(f, std::vector<int>{7});
    CHECK(wrapped(3, std::string("x")) == "x21");
  }

  TEST_CASE("with_fallback that runs out throws all_failed with each error as thrown, in order") {
    auto broken = [](int x, int value) -> int {
      if (value == 2) throw plain_error{x};  // not a std::exception: kept as thrown all the same
      throw test_error{value};
    };
    auto wrapped = sluice::with_fallback(broken, std::vector<int>{1, 2, 3});
    const std::vector<std::exception_ptr> errors =
        all_failed_errors([&] { return wrapped(9); }, "with_fallback: all 3 attempts failed");
    REQUIRE(errors.size() == 3);
    CHECK(item_of(errors[0]) == 1);
    try {
      std::rethrow_exception(errors[1]);
    } catch (const plain_error& e) {
      CHECK(e.item == 9);
    } catch (...) {
      FAIL("the second error is not the plain_error thrown");
    }
    CHECK(item_of(errors[2]) == 3);
  }

  TEST_CASE("with_fallback with a single value that fails still throws all_failed") {
    auto wrapped = sluice::with_fallback([](int value) -> int { throw test_error{value}; },
                                         std::vector<int>{4});
    const auto errors = all_failed_errors([&] { return wrapped(); }, "with_fallback");
    REQUIRE(errors.size() == 1);
    CHECK(item_of(errors[0]) == 4);
  }

  TEST_CASE("with_fallback rejects an empty range of values at once") {
    auto f = [](int value) { return value; };
    CHECK_THROWS_WITH_AS(sluice::with_fallback(f, std::vector<int>{}),
                         doctest::Contains("sluice: with_fallback was given no values"),
                         std::invalid_argument);
    CHECK_THROWS_AS(sluice::with_fallback(f, std::array<int, 0>{}), std::invalid_argument);
  }

  TEST_CASE("with_fallback accepts any range and copies its elements") {
    auto key_length = [](const std::string& key) -> std::size_t {
      if (key.size() < 3) throw test_error{static_cast<int>(key.size())};
      return key.size();
    };
    SUBCASE("a std::list, changed after wrapping") {
      std::list<std::string> keys{"a", "bbb"};
      auto wrapped = sluice::with_fallback(key_length, keys);
      keys.clear();
      CHECK(wrapped() == 3);
    }
    SUBCASE("a std::array") {
      auto wrapped = sluice::with_fallback(key_length, std::array<std::string, 2>{"cc", "dddd"});
      CHECK(wrapped() == 4);
    }
    SUBCASE("a std::set, in its order") {
      auto wrapped = sluice::with_fallback(key_length, std::set<std::string>{"zzzzz", "a", "yyy"});
      CHECK(wrapped() == 3);  // "a" fails, then "yyy"
    }
  }

  TEST_CASE("with_fallback works with callables returning void") {
    std::vector<int> tried;
    auto store = [&](int value) {
      tried.push_back(value);
      if (value < 2) throw test_error{value};
    };
    sluice::with_fallback(store, std::vector<int>{0, 1, 2, 3})();
    CHECK(tried == std::vector<int>{0, 1, 2});
  }

  TEST_CASE("first_of calls its callables in order and returns the first success") {
    std::vector<std::string> called;
    auto primary = [&](int id) -> std::string {
      called.push_back("primary");
      throw test_error{id};
    };
    auto secondary = [&](int id) -> std::string {
      called.push_back("secondary");
      return "row " + std::to_string(id);
    };
    auto tertiary = [&](int) -> std::string {
      called.push_back("tertiary");
      return "unused";
    };
    auto get = sluice::first_of(primary, secondary, tertiary);
    CHECK(get(5) == "row 5");
    CHECK(called == std::vector<std::string>{"primary", "secondary"});
  }

  TEST_CASE("first_of that runs out throws all_failed with each callable's error, in order") {
    auto one = [](int x) -> int { throw test_error{x + 1}; };
    auto two = [](int x) -> int { throw test_error{x + 2}; };
    auto three = [](int x) -> int { throw test_error{x + 3}; };
    auto get = sluice::first_of(one, two, three);
    const auto errors = all_failed_errors([&] { return get(10); }, "first_of: all 3 attempts");
    REQUIRE(errors.size() == 3);
    CHECK(item_of(errors[0]) == 11);
    CHECK(item_of(errors[1]) == 12);
    CHECK(item_of(errors[2]) == 13);
  }

  TEST_CASE("first_of with one callable and the wrapper's accepted arguments") {
    auto only = sluice::first_of([](int x) { return x * 2; });
    CHECK(only(4) == 8);
    static_assert(std::is_invocable_v<decltype(only), int>);
    static_assert(!std::is_invocable_v<decltype(only), std::string>);
    auto keyed = sluice::with_fallback([](int x, int key) { return x + key; }, std::vector<int>{1});
    static_assert(std::is_invocable_v<decltype(keyed), int>);
    static_assert(!std::is_invocable_v<decltype(keyed), int, int>);
  }

  TEST_CASE("with_fallback inside retry gives all_failed of all_failed") {
    sluice::manual_clock clock;
    int calls = 0;
    auto broken = [&](int value) -> int { throw test_error{++calls * 10 + value}; };
    auto keyed = sluice::with_fallback(broken, std::vector<int>{1, 2});
    auto wrapped = sluice::retry(keyed, {.max_attempts = 3, .clock = &clock});
    const auto attempts = all_failed_errors([&] { return wrapped(); }, "retry: all 3 attempts");
    CHECK(calls == 6);
    REQUIRE(attempts.size() == 3);
    int expected_call = 0;
    for (const std::exception_ptr& attempt : attempts) {
      // Each retry attempt was a fallback sequence: its own all_failed, with one error per value.
      const auto inner = all_failed_errors([&]() -> int { std::rethrow_exception(attempt); },
                                           "with_fallback: all 2 attempts");
      REQUIRE(inner.size() == 2);
      for (int value : {1, 2}) {
        ++expected_call;
        CHECK(item_of(inner[static_cast<std::size_t>(value - 1)]) == expected_call * 10 + value);
      }
    }
  }

  TEST_CASE("a fallback wrapper called from 8 threads at once tries every value of each call" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr int calls_per_thread = 500;
    std::atomic<int> tries{0};
    // Call x succeeds with the value x % 3 and fails with the ones before it.
    auto picky = [&](int x, int value) {
      tries.fetch_add(1);
      if (value != x % 3) throw test_error{value};
      return x * 10 + value;
    };
    auto wrapped = sluice::with_fallback(picky, std::vector<int>{0, 1, 2});
    auto firsts =
        sluice::first_of([](int x) -> int { throw test_error{x}; }, [](int x) { return x; });
    std::atomic<int> wrong{0};
    sluice_test::run_on_threads(8, [&](std::size_t) {
      for (int x = 0; x < calls_per_thread; ++x) {
        if (wrapped(x) != x * 10 + x % 3) wrong.fetch_add(1);
        if (firsts(x) != x) wrong.fetch_add(1);
      }
    });
    CHECK(wrong.load() == 0);
    int expected_tries = 0;
    for (int x = 0; x < calls_per_thread; ++x) expected_tries += x % 3 + 1;
    CHECK(tries.load() == 8 * expected_tries);
  }
}
