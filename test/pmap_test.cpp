// Tests of sluice::pmap (<sluice/pmap.hpp>): outputs in input order for every kind of input
// range, on both paths (sized random-access inputs in chunks, any other input item by item);
// move-only inputs and outputs, outputs without a default constructor, bool and void; empty
// inputs; `.ordered = false`; `workers` calls really in flight at once; the first exception
// rethrown unchanged, with no new item started after it and a stopped token for the calls in
// flight. sluice::opmap has its own file, opmap_test.cpp.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <numeric>
#include <memory>
#include <span>
#include <string>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/pmap.hpp>

#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/map_inputs.hpp"
#include "common/drains.hpp"
#include "common/watchdog.hpp"

namespace drain_cases = sluice_test::drains;

// clang 14 cannot compile libstdc++ 12's views (style.md); the iota cases are g++-only there.
#if defined(__clang__) && defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE <= 12
#define SLUICE_TEST_NO_VIEWS 1
#else
#include <ranges>
#endif

using namespace std::chrono_literals;
using sluice_test::first;
using sluice_test::labelled;
using sluice_test::numbers;
using sluice_test::square;
using sluice_test::squares;
using sluice_test::test_error;
using sluice_test::wait_for_stop;

namespace {

// The behaviour of a map whose fourth call fails while three others are in flight, for `workers`
// = 4: calls 0..2 arrive at `inside` and wait for their token to be stopped; call 3 waits until
// they are all inside, then throws test_error with its element. Nothing else should ever start.
struct fourth_call_fails {
  sluice_test::gate inside{3};
  std::atomic<int> started{0};
  std::atomic<int> saw_stop{0};

  auto fn() {
    return [this](int x, std::stop_token stop) {
      const int k = started.fetch_add(1);
      if (k < 3) {
        inside.arrive();
        if (wait_for_stop(stop)) saw_stop.fetch_add(1);
        return x;
      }
      if (k == 3) {
        inside.wait();
        throw test_error{x};
      }
      return x;  // a call after the failure: counted in `started`
    };
  }
};

}  // namespace

TEST_SUITE("pmap") {
  TEST_CASE("pmap returns f of every element in input order for every kind of input range" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr int n = 1000;
    const sluice::pmap_options four{.workers = 4};

    SUBCASE("a vector") {
      const auto items = first<std::vector<int>>(n);
      CHECK(sluice::pmap(square, items, four) == squares(n));
    }
    SUBCASE("a std::array") {
      std::array<int, 300> items{};
      for (int i = 0; i < 300; ++i) items[static_cast<std::size_t>(i)] = i;
      CHECK(sluice::pmap(square, items, four) == squares(300));
    }
    SUBCASE("a std::span") {
      const auto items = first<std::vector<int>>(n);
      CHECK(sluice::pmap(square, std::span<const int>(items), four) == squares(n));
    }
    SUBCASE("a std::list, which is not random-access") {
      const auto items = first<std::list<int>>(n);
      CHECK(sluice::pmap(square, items, four) == squares(n));
    }
    SUBCASE("a generator, whose size is unknown") {
      CHECK(sluice::pmap(square, numbers(n), four) == squares(n));
    }
    SUBCASE("a generator held by the caller, which pmap consumes") {
      auto items = numbers(n);
      CHECK(sluice::pmap(square, items, four) == squares(n));
    }
#ifndef SLUICE_TEST_NO_VIEWS
    SUBCASE("a std::views::iota") {
      CHECK(sluice::pmap(square, std::views::iota(0, n), four) == squares(n));
    }
#endif
    SUBCASE("one worker") {
      CHECK(sluice::pmap(square, first<std::vector<int>>(n), {.workers = 1}) == squares(n));
      CHECK(sluice::pmap(square, first<std::list<int>>(n), {.workers = 1}) == squares(n));
    }
    SUBCASE("more workers than elements") {
      CHECK(sluice::pmap(square, first<std::vector<int>>(3), {.workers = 16}) == squares(3));
      CHECK(sluice::pmap(square, first<std::list<int>>(3), {.workers = 16}) == squares(3));
    }
  }

  TEST_CASE("pmap with default options uses every hardware thread and returns the same outputs" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    const std::size_t hardware = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    sluice_test::gate all_in{hardware};
    sluice_test::concurrency_tracker tracker;
    auto f = [&](int x) {
      auto in_call = tracker.track();
      if (!all_in.is_open()) all_in.arrive_and_wait();
      return square(x);
    };
    const int n = static_cast<int>(8 * hardware);
    CHECK(sluice::pmap(f, first<std::vector<int>>(n)) == squares(n));
    CHECK_FALSE(all_in.timed_out());
    CHECK(tracker.peak() == hardware);
  }

  TEST_CASE("pmap moves the elements of an rvalue range into f so move-only inputs work" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto unwrap = [](std::unique_ptr<int> p) { return *p * 2; };
    auto boxes = [](auto container) {
      for (int i = 0; i < 200; ++i) container.push_back(std::make_unique<int>(i));
      return container;
    };
    std::vector<int> expected;
    for (int i = 0; i < 200; ++i) expected.push_back(2 * i);

    SUBCASE("a vector") {
      CHECK(sluice::pmap(unwrap, boxes(std::vector<std::unique_ptr<int>>{}), {.workers = 4}) ==
            expected);
    }
    SUBCASE("a list") {
      CHECK(sluice::pmap(unwrap, boxes(std::list<std::unique_ptr<int>>{}), {.workers = 4}) ==
            expected);
    }
    SUBCASE("opmap too") {
      const auto out =
          sluice::opmap(unwrap, boxes(std::vector<std::unique_ptr<int>>{}), {.workers = 4});
      REQUIRE(out.size() == expected.size());
      for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i].value() == expected[i]);
    }
  }

  TEST_CASE("pmap and opmap take a std::map's key-value pairs" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::map<int, std::string> names{{1, "one"}, {2, "two"}, {3, "three"}};
    auto describe = [](const std::pair<const int, std::string>& kv) {
      return std::to_string(kv.first) + "=" + kv.second;
    };
    const std::vector<std::string> expected{"1=one", "2=two", "3=three"};
    CHECK(sluice::pmap(describe, names, {.workers = 2}) == expected);
    CHECK(sluice::pmap(describe, std::map<int, std::string>(names), {.workers = 2}) == expected);
    const auto out = sluice::opmap(describe, names, {.workers = 2});
    REQUIRE(out.size() == 3);
    CHECK(out[2].value() == "3=three");
    CHECK(names.size() == 3);  // an lvalue map is read, not consumed
    CHECK(names.at(2) == "two");
  }

  TEST_CASE("pmap gives an lvalue range's elements to f as lvalues and leaves them in place" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::vector<std::unique_ptr<int>> items;
    for (int i = 0; i < 100; ++i) items.push_back(std::make_unique<int>(i));
    auto peek = [](const std::unique_ptr<int>& p) { return *p; };
    CHECK(sluice::pmap(peek, items, {.workers = 4}) == first<std::vector<int>>(100));
    CHECK(std::all_of(items.begin(), items.end(), [](const auto& p) { return p != nullptr; }));
  }

  TEST_CASE("pmap collects move-only outputs in input order" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto box = [](int x) { return std::make_unique<int>(x); };
    auto check = [](const std::vector<std::unique_ptr<int>>& out, int n) {
      REQUIRE(out.size() == static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        REQUIRE(out[static_cast<std::size_t>(i)] != nullptr);
        CHECK(*out[static_cast<std::size_t>(i)] == i);
      }
    };
    SUBCASE("on the chunked path") {
      check(sluice::pmap(box, first<std::vector<int>>(500), {.workers = 4}), 500);
    }
    SUBCASE("on the per-item path") {
      check(sluice::pmap(box, first<std::list<int>>(500), {.workers = 4}), 500);
    }
  }

  TEST_CASE("pmap collects outputs of a type without a default constructor" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    static_assert(!std::is_default_constructible_v<labelled>);
    auto label = [](int x) { return labelled{x}; };
    std::vector<labelled> expected;
    for (int i = 0; i < 500; ++i) expected.emplace_back(i);
    CHECK(sluice::pmap(label, first<std::vector<int>>(500), {.workers = 4}) == expected);
    CHECK(sluice::pmap(label, first<std::list<int>>(500), {.workers = 4}) == expected);
  }

  TEST_CASE("pmap collects bool outputs written from many threads" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto third = [](int x) { return x % 3 == 0; };
    std::vector<bool> expected;
    for (int i = 0; i < 5000; ++i) expected.push_back(i % 3 == 0);
    const auto out = sluice::pmap(third, first<std::vector<int>>(5000), {.workers = 4});
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(out)>, std::vector<bool>>);
    CHECK(out == expected);
    CHECK(sluice::pmap(third, first<std::list<int>>(5000), {.workers = 4}) == expected);
  }

  TEST_CASE("pmap of a void f returns nothing and calls f once per element" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    constexpr int n = 2000;
    std::vector<std::atomic<int>> calls(n);
    auto touch = [&](int x) { calls[static_cast<std::size_t>(x)].fetch_add(1); };
    auto once_each = [&] {
      return std::all_of(calls.begin(), calls.end(), [](const auto& c) { return c.load() == 1; });
    };
    static_assert(std::is_void_v<decltype(sluice::pmap(touch, std::vector<int>{}))>);
    SUBCASE("on the chunked path") {
      sluice::pmap(touch, first<std::vector<int>>(n), {.workers = 4});
      CHECK(once_each());
    }
    SUBCASE("on the per-item path") {
      sluice::pmap(touch, first<std::list<int>>(n), {.workers = 4});
      CHECK(once_each());
    }
  }

  TEST_CASE("pmap of an empty range returns an empty vector and never calls f" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> calls{0};
    auto counted = [&](int x) {
      calls.fetch_add(1);
      return x;
    };
    auto counted_void = [&](int) { calls.fetch_add(1); };
    CHECK(sluice::pmap(counted, std::vector<int>{}).empty());
    CHECK(sluice::pmap(counted, std::array<int, 0>{}).empty());
    CHECK(sluice::pmap(counted, std::list<int>{}).empty());
    CHECK(sluice::pmap(counted, numbers(0)).empty());
    sluice::pmap(counted_void, std::vector<int>{});
    sluice::pmap(counted_void, std::list<int>{});
    CHECK(calls.load() == 0);
  }

  TEST_CASE("pmap with ordered = false returns the same multiset of outputs" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const sluice::pmap_options any_order{.workers = 4, .ordered = false};
    auto sorted = [](std::vector<int> v) {
      std::sort(v.begin(), v.end());
      return v;
    };
    CHECK(sorted(sluice::pmap(square, first<std::list<int>>(2000), any_order)) == squares(2000));
    CHECK(sorted(sluice::pmap(square, numbers(2000), any_order)) == squares(2000));
    CHECK(sorted(sluice::pmap(square, first<std::vector<int>>(2000), any_order)) == squares(2000));
  }

  TEST_CASE("pmap has workers calls in flight at once and never more" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    auto check = [](auto make_items) {
      for (std::size_t workers : {std::size_t{1}, std::size_t{4}}) {
        CAPTURE(workers);
        sluice_test::gate all_in{workers};
        sluice_test::concurrency_tracker tracker;
        auto f = [&](int x) {
          auto in_call = tracker.track();
          if (!all_in.is_open()) all_in.arrive_and_wait();  // opens once `workers` are inside
          sluice_test::spin(200);
          return square(x);
        };
        CHECK(sluice::pmap(f, make_items(), {.workers = workers}) == squares(2000));
        CHECK_FALSE(all_in.timed_out());
        CHECK(tracker.peak() == workers);
      }
    };
    SUBCASE("on the chunked path") {
      check([] { return first<std::vector<int>>(2000); });
    }
    SUBCASE("on the per-item path") {
      check([] { return first<std::list<int>>(2000); });
    }
  }

  TEST_CASE("pmap rethrows the original exception object of the failing item" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto fails_at_7 = [](int x) {
      if (x == 7) throw test_error{x};
      return x;
    };
    auto check = [&](auto&& items) {
      try {
        static_cast<void>(sluice::pmap(fails_at_7, items, {.workers = 4}));
        FAIL("pmap should have thrown");
      } catch (const test_error& e) {
        CHECK(e.item == 7);
        CHECK(std::string(e.what()) == "test_error at item 7");
      }
    };
    SUBCASE("on the chunked path") { check(first<std::vector<int>>(100)); }
    SUBCASE("on the per-item path") { check(first<std::list<int>>(100)); }
    SUBCASE("from an exception not derived from std::exception") {
      auto plain = [](int x) {
        if (x == 3) throw sluice_test::plain_error{x};
        return x;
      };
      try {
        static_cast<void>(sluice::pmap(plain, first<std::vector<int>>(10), {.workers = 2}));
        FAIL("pmap should have thrown");
      } catch (const sluice_test::plain_error& e) {
        CHECK(e.item == 3);
      }
    }
  }

  TEST_CASE("pmap with one worker makes no call after the failing one" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<bool> failed{false};
    std::atomic<int> calls{0};
    std::atomic<int> after_failure{0};
    auto fails_at_10 = [&](int x) {
      calls.fetch_add(1);
      if (failed.load()) after_failure.fetch_add(1);
      if (x == 10) {
        failed.store(true);
        throw test_error{x};
      }
      return x;
    };
    SUBCASE("on the chunked path") {
      CHECK_THROWS_AS(sluice::pmap(fails_at_10, first<std::vector<int>>(10'000), {.workers = 1}),
                      test_error);
    }
    SUBCASE("on the per-item path") {
      CHECK_THROWS_AS(sluice::pmap(fails_at_10, first<std::list<int>>(10'000), {.workers = 1}),
                      test_error);
    }
    CHECK(after_failure.load() == 0);
    CHECK(calls.load() == 11);
  }

  TEST_CASE(
      "pmap starts no new item after a failure while other calls are in flight and stops "
      "their tokens" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    fourth_call_fails run;
    SUBCASE("on the chunked path") {
      CHECK_THROWS_AS(sluice::pmap(run.fn(), first<std::vector<int>>(10'000), {.workers = 4}),
                      test_error);
    }
    SUBCASE("on the per-item path") {
      CHECK_THROWS_AS(sluice::pmap(run.fn(), first<std::list<int>>(10'000), {.workers = 4}),
                      test_error);
    }
    CHECK_FALSE(run.inside.timed_out());
    CHECK(run.saw_stop.load() == 3);  // the calls in flight were asked to stop
    CHECK(run.started.load() == 4);   // and no call started after the failure
  }

  TEST_CASE("pmap with progress on returns the same outputs" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const sluice::pmap_options shown{.workers = 2, .progress = true};
    CHECK(sluice::pmap(square, first<std::vector<int>>(300), shown) == squares(300));
    CHECK(sluice::pmap(square, numbers(300), shown) == squares(300));
  }
}  // TEST_SUITE

TEST_SUITE("pmap drain") {
  TEST_CASE("a drain during pmap returns the outputs of the elements started: a prefix of the "
            "input, in input order" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    using namespace drain_cases;
    std::stop_source source;
    std::atomic<std::size_t> calls{0};
    auto f = [&](int x) {
      calls.fetch_add(1);
      if (x == 100) source.request_stop();
      return 2 * x;
    };
    const sluice::pmap_options options{.workers = 3, .drain = source.get_token()};
    std::vector<int> out;

    SUBCASE("a vector (chunks)") { out = sluice::pmap(f, iota_vector(kInput), options); }
    SUBCASE("a list (item by item)") {
      const auto v = iota_vector(kInput);
      out = sluice::pmap(f, std::list<int>(v.begin(), v.end()), options);
    }
    SUBCASE("a generator") { out = sluice::pmap(f, numbers(kInput), options); }

    CHECK(out.size() > 100);
    CHECK(out.size() < static_cast<std::size_t>(kInput));
    CHECK(out.size() == calls.load());  // no element started is left out
    std::vector<int> expected(out.size());
    for (std::size_t i = 0; i < out.size(); ++i) expected[i] = 2 * static_cast<int>(i);
    CHECK(out == expected);
  }

  TEST_CASE("an unordered pmap drained returns the outputs of a prefix, in any order" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    using namespace drain_cases;
    std::stop_source source;
    auto f = [&](int x) {
      if (x == 100) source.request_stop();
      return x;
    };
    auto out = sluice::pmap(f, numbers(kInput),
                            {.workers = 3, .ordered = false, .drain = source.get_token()});
    std::sort(out.begin(), out.end());
    CHECK(out.size() > 100);
    CHECK(out == iota_vector(static_cast<int>(out.size())));
  }

  TEST_CASE("a drain requested before pmap starts: no call, an empty result" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    using namespace drain_cases;
    std::stop_source source;
    source.request_stop();
    std::atomic<int> calls{0};
    auto f = [&](int x) {
      calls.fetch_add(1);
      return x;
    };
    CHECK(sluice::pmap(f, iota_vector(1000), {.drain = source.get_token()}).empty());
    CHECK(sluice::pmap(f, numbers(1000), {.drain = source.get_token()}).empty());
    CHECK(calls.load() == 0);
    CHECK(sluice::pmap(sluice_test::twice, numbers(1000),
                       {.workers = 2, .mode = sluice::execution::process,
                        .drain = source.get_token()})
              .empty());
  }

  TEST_CASE("in worker processes a drained pmap returns the outputs of the batches it sent" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    using namespace drain_cases;
    std::stop_source source;
    const auto out = sluice::pmap(
        sluice_test::twice, stopping_at(kInput, 3000, &source),
        {.workers = 2, .mode = sluice::execution::process, .drain = source.get_token()});
    CHECK(out.size() > 3000);
    CHECK(out.size() < static_cast<std::size_t>(kInput));
    std::vector<int> expected(out.size());
    for (std::size_t i = 0; i < out.size(); ++i) expected[i] = 2 * static_cast<int>(i);
    CHECK(out == expected);
  }
}  // TEST_SUITE
