// Tests of sluice::thread_pool (<sluice/pool.hpp>): its size; map, imap and amap results in input
// order, empty inputs; at most size() calls of f in flight however many threads use the pool;
// the first failure as sluice::worker_error (original, position, input text, where); no new item
// after it; cleanup when the caller throws while an amap runs; imap's laziness, its bound on how
// far it runs ahead of the reader, and a stream destroyed early.
//
// A failing amap's future is read through a shared_future held until the error has been looked
// at: the exception is released by whichever thread lets go of it last, and its reference count
// lives in libstdc++, which ThreadSanitizer does not see, so a future whose get() lets go before
// the handler reads what() draws a false data race report.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/pool.hpp>

#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/map_inputs.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::collect;
using sluice_test::counted_numbers;
using sluice_test::first;
using sluice_test::item_of;
using sluice_test::labelled;
using sluice_test::numbers;
using sluice_test::square;
using sluice_test::squares;
using sluice_test::test_error;
using sluice_test::wait_for_stop;

namespace {

// labelled 100, labelled 101, ...: inputs whose text differs from their position.
template <class Container>
Container labels(int n) {
  Container items;
  for (int i = 0; i < n; ++i) items.insert(items.end(), labelled{100 + i});
  return items;
}

int fails_at_107(const labelled& l) {
  if (l.value() == 107) throw test_error{l.value()};
  return l.value();
}

// Checks that `error` is the worker_error of item 7 (labelled 107) of a call named `where`.
void check_item_7(const sluice::worker_error& error, const std::string& where) {
  CHECK(error.index() == 7);
  CHECK(error.input_text() == "labelled 107");
  CHECK(item_of(error.original()) == 107);
  CHECK(std::string(error.what()) ==
        "sluice: " + where + ": item 7 (input: labelled 107) failed: test_error at item 107");
}

// Proves that all of `pool`'s slots are free: size() calls of f get in flight at once.
bool every_slot_is_free(sluice::thread_pool& pool) {
  sluice_test::gate all_in{pool.size()};
  auto f = [&](int x) {
    if (!all_in.is_open()) all_in.arrive_and_wait();
    return x;
  };
  const auto out = pool.map(f, first<std::vector<int>>(static_cast<int>(4 * pool.size())));
  return !all_in.timed_out() && out.size() == 4 * pool.size();
}

// Opens `to_open` when destroyed: marks the point where the caller's scope unwinds.
struct opens_when_destroyed {
  sluice_test::gate* to_open;
  ~opens_when_destroyed() { to_open->open(); }
};

}  // namespace

TEST_SUITE("thread_pool") {
  TEST_CASE("a thread_pool made with no argument or with 0 has one worker per hardware thread") {
    const std::size_t hardware = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    CHECK(sluice::thread_pool{}.size() == hardware);
    CHECK(sluice::thread_pool{0}.size() == hardware);
    CHECK(sluice::thread_pool{}.size() >= 1);
  }

  TEST_CASE("a thread_pool of n workers has size n") {
    CHECK(sluice::thread_pool{1}.size() == 1);
    CHECK(sluice::thread_pool{3}.size() == 3);
    CHECK(sluice::thread_pool{64}.size() == 64);
  }

  TEST_CASE("thread_pool map returns f of every element in input order" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{3};
    const auto vector = first<std::vector<int>>(1000);
    const auto list = first<std::list<int>>(1000);
    CHECK(pool.map(square, vector) == squares(1000));
    CHECK(pool.map(square, list) == squares(1000));
    CHECK(pool.map(square, numbers(1000)) == squares(1000));
    static_assert(std::is_same_v<decltype(pool.map(square, vector)), std::vector<int>>);
  }

  TEST_CASE("thread_pool imap yields f of every element in input order" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{3};
    const auto vector = first<std::vector<int>>(1000);
    auto from_vector = pool.imap(square, vector);
    static_assert(std::is_same_v<decltype(from_vector), sluice::stream<int>>);
    CHECK(collect(from_vector) == squares(1000));
    auto from_list = pool.imap(square, first<std::list<int>>(1000));
    CHECK(collect(from_list) == squares(1000));
    auto from_generator = pool.imap(square, numbers(1000));
    CHECK(collect(from_generator) == squares(1000));
  }

  TEST_CASE("thread_pool amap's future holds f of every element in input order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{3};
    auto from_vector = pool.amap(square, first<std::vector<int>>(1000));
    static_assert(std::is_same_v<decltype(from_vector), std::future<std::vector<int>>>);
    auto from_list = pool.amap(square, first<std::list<int>>(1000));
    auto from_generator = pool.amap(square, numbers(1000));
    CHECK(from_vector.get() == squares(1000));
    CHECK(from_list.get() == squares(1000));
    CHECK(from_generator.get() == squares(1000));
  }

  TEST_CASE("thread_pool map and imap move the elements of an rvalue range into f" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{3};
    auto unwrap = [](std::unique_ptr<int> p) { return *p * 2; };
    auto boxes = [](auto container) {
      for (int i = 0; i < 200; ++i) container.push_back(std::make_unique<int>(i));
      return container;
    };
    std::vector<int> expected;
    for (int i = 0; i < 200; ++i) expected.push_back(2 * i);
    CHECK(pool.map(unwrap, boxes(std::vector<std::unique_ptr<int>>{})) == expected);
    CHECK(pool.map(unwrap, boxes(std::list<std::unique_ptr<int>>{})) == expected);
    auto lazy = pool.imap(unwrap, boxes(std::vector<std::unique_ptr<int>>{}));
    CHECK(collect(lazy) == expected);
    CHECK(pool.amap(unwrap, boxes(std::vector<std::unique_ptr<int>>{})).get() == expected);
    CHECK(pool.amap(unwrap, boxes(std::list<std::unique_ptr<int>>{})).get() == expected);
  }

  TEST_CASE("thread_pool map imap and amap of an empty range give nothing and never call f" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{2};
    std::atomic<int> calls{0};
    auto counted = [&](int x) {
      calls.fetch_add(1);
      return x;
    };
    CHECK(pool.map(counted, std::vector<int>{}).empty());
    CHECK(pool.map(counted, std::list<int>{}).empty());
    auto none = pool.imap(counted, std::vector<int>{});
    CHECK_FALSE(none.next().has_value());
    auto none_either = pool.imap(counted, numbers(0));
    CHECK_FALSE(none_either.next().has_value());
    CHECK(pool.amap(counted, std::vector<int>{}).get().empty());
    CHECK(pool.amap(counted, std::list<int>{}).get().empty());
    CHECK(calls.load() == 0);
  }

  TEST_CASE("thread_pool map and amap of a void f call f once per element" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{3};
    std::atomic<int> calls{0};
    auto touch = [&](int) { calls.fetch_add(1); };
    static_assert(std::is_void_v<decltype(pool.map(touch, std::vector<int>{}))>);
    pool.map(touch, first<std::vector<int>>(500));
    pool.map(touch, first<std::list<int>>(500));
    static_assert(std::is_same_v<decltype(pool.amap(touch, std::vector<int>{})), std::future<void>>);
    pool.amap(touch, first<std::vector<int>>(500)).get();
    CHECK(calls.load() == 1500);
  }

  TEST_CASE(
      "a thread_pool used from two threads at once never has more than size calls in "
      "flight" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice::thread_pool pool{3};
    sluice_test::gate all_in{3};
    sluice_test::concurrency_tracker tracker;
    auto f = [&](int x) {
      auto in_call = tracker.track();
      if (!all_in.is_open()) all_in.arrive_and_wait();  // opens once 3 calls are inside
      sluice_test::spin(200);
      return square(x);
    };
    std::vector<std::vector<int>> got(4);
    sluice_test::run_on_threads(2, [&](std::size_t thread) {
      if (thread == 0) {
        got[0] = pool.map(f, first<std::vector<int>>(2000));
        got[1] = pool.map(f, first<std::list<int>>(2000));
      } else {
        got[2] = pool.amap(f, first<std::list<int>>(2000)).get();
        auto lazy = pool.imap(f, first<std::vector<int>>(2000));
        got[3] = collect(lazy);
      }
    });
    for (const auto& out : got) CHECK(out == squares(2000));
    CHECK_FALSE(all_in.timed_out());
    CHECK(tracker.peak() == 3);
  }

  TEST_CASE(
      "thread_pool map throws worker_error with the original exception and the item's "
      "position and input" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    static_assert(std::is_base_of_v<std::runtime_error, sluice::worker_error>);
    sluice::thread_pool pool{4};
    auto check = [&](const auto& items) {
      try {
        static_cast<void>(pool.map(fails_at_107, items));
        FAIL("map should have thrown");
      } catch (const sluice::worker_error& e) {
        check_item_7(e, "thread_pool::map");
      }
    };
    SUBCASE("on the chunked path") { check(labels<std::vector<labelled>>(50)); }
    SUBCASE("on the per-item path") { check(labels<std::list<labelled>>(50)); }
  }

  TEST_CASE("thread_pool imap throws worker_error from the pull that meets the failure" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{2};
    auto items = pool.imap(fails_at_107, labels<std::vector<labelled>>(50));
    std::vector<int> before;
    try {
      while (auto x = items.next()) before.push_back(*x);
      FAIL("imap should have thrown");
    } catch (const sluice::worker_error& e) {
      check_item_7(e, "thread_pool::imap");
    }
    // Whatever came out before the error is a prefix of the outputs, in order.
    REQUIRE(before.size() <= 7);
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(before[i] == 100 + static_cast<int>(i));
  }

  TEST_CASE("thread_pool amap's future throws worker_error from get()" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{4};
    auto check = [&](auto items) {
      const auto later = pool.amap(fails_at_107, std::move(items)).share();  // see the top
      try {
        static_cast<void>(later.get());
        FAIL("get() should have thrown");
      } catch (const sluice::worker_error& e) {
        check_item_7(e, "thread_pool::amap");
      }
    };
    SUBCASE("on the chunked path") { check(labels<std::vector<labelled>>(50)); }
    SUBCASE("on the per-item path") { check(labels<std::list<labelled>>(50)); }
  }

  TEST_CASE("a thread_pool of one worker makes no call after the failing one" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{1};
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
    SUBCASE("map on the chunked path") {
      CHECK_THROWS_AS(pool.map(fails_at_10, first<std::vector<int>>(10'000)), sluice::worker_error);
    }
    SUBCASE("map on the per-item path") {
      CHECK_THROWS_AS(pool.map(fails_at_10, first<std::list<int>>(10'000)), sluice::worker_error);
    }
    SUBCASE("amap") {
      const auto later = pool.amap(fails_at_10, first<std::vector<int>>(10'000)).share();
      CHECK_THROWS_AS(later.get(), sluice::worker_error);
    }
    SUBCASE("imap") {
      auto items = pool.imap(fails_at_10, first<std::vector<int>>(10'000));
      CHECK_THROWS_AS(sluice_test::drain(items), sluice::worker_error);
    }
    CHECK(after_failure.load() == 0);
    CHECK(calls.load() == 11);
  }

  TEST_CASE("a thread_pool still has every slot free after a failed map" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice::thread_pool pool{3};
    auto fails_at_5 = [](int x) {
      if (x == 5) throw test_error{x};
      return x;
    };
    CHECK_THROWS_AS(pool.map(fails_at_5, first<std::vector<int>>(1000)), sluice::worker_error);
    CHECK_THROWS_AS(pool.map(fails_at_5, first<std::list<int>>(1000)), sluice::worker_error);
    const auto later = pool.amap(fails_at_5, first<std::vector<int>>(1000)).share();
    CHECK_THROWS_AS(later.get(), sluice::worker_error);
    CHECK(every_slot_is_free(pool));
    CHECK(pool.map(square, first<std::vector<int>>(100)) == squares(100));
  }

  TEST_CASE(
      "a thread_pool whose caller throws while an amap runs waits for the amap and leaves "
      "no call in flight" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::concurrency_tracker tracker;
    sluice_test::gate started{1};
    sluice_test::gate unwinding{1};
    std::atomic<int> finished{0};
    auto slow = [&](int x) {
      auto in_call = tracker.track();
      started.arrive();
      unwinding.wait();  // no call returns before the caller's scope unwinds
      finished.fetch_add(1);
      return x;
    };
    try {
      sluice::thread_pool pool{2};
      const opens_when_destroyed mark{&unwinding};  // destroyed before the pool
      auto later = pool.amap(slow, first<std::vector<int>>(100));
      REQUIRE(started.wait());
      throw std::runtime_error("the caller failed");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "the caller failed");
    }
    // The pool's destructor has returned: the amap ran to its end, and nothing is in flight.
    CHECK(tracker.current() == 0);
    CHECK(finished.load() == 100);
    CHECK(tracker.calls() == 100);
  }

  TEST_CASE("a thread_pool's destructor waits for an amap whose future was dropped" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::concurrency_tracker tracker;
    sluice_test::gate unwinding{1};
    auto slow = [&](int x) {
      auto in_call = tracker.track();
      unwinding.wait();
      return x;
    };
    {
      sluice::thread_pool pool{2};
      const opens_when_destroyed mark{&unwinding};
      static_cast<void>(pool.amap(slow, first<std::list<int>>(50)));
    }
    CHECK(tracker.current() == 0);
    CHECK(tracker.calls() == 50);
  }

  TEST_CASE("thread_pool imap and amap keep their own copy of an lvalue range" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{2};
    auto items = first<std::vector<int>>(500);
    auto lazy = pool.imap(square, items);  // the run starts on the first pull
    std::fill(items.begin(), items.end(), -1);
    CHECK(collect(lazy) == squares(500));

    std::future<std::vector<int>> later;
    {
      const auto scoped = first<std::vector<int>>(500);
      later = pool.amap(square, scoped);
    }
    CHECK(later.get() == squares(500));
  }

  TEST_CASE("thread_pool imap calls nothing before the first pull" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{2};
    std::atomic<std::int64_t> produced{0};
    std::atomic<int> calls{0};
    auto counted = [&](int x) {
      calls.fetch_add(1);
      return x;
    };
    {
      auto lazy = pool.imap(counted, counted_numbers(1000, &produced));
      CHECK(produced.load() == 0);
      CHECK(calls.load() == 0);
    }
    CHECK(produced.load() == 0);
    CHECK(calls.load() == 0);
  }

  TEST_CASE("thread_pool imap runs at most a few queues ahead of a reader that stops reading" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    // The producer's queue, the task's output queue, its ordered window and the calls in flight.
    constexpr auto bound = static_cast<std::int64_t>(4 * sluice::default_capacity);
    constexpr int total = 1'000'000;
    sluice::thread_pool pool{2};
    std::atomic<std::int64_t> produced{0};
    auto lazy = pool.imap(sluice_test::twice, counted_numbers(total, &produced));

    std::int64_t read = 0;
    std::int64_t most_ahead = 0;
    for (int i = 0; i < 5000; ++i) {
      REQUIRE(lazy.next().has_value());
      ++read;
      most_ahead = std::max(most_ahead, produced.load() - read);
    }
    CHECK(most_ahead <= bound);

    // The reader holds still. The run fills its queues (at least two of them) and then blocks.
    CHECK(sluice_test::eventually([&] {
      return produced.load() >= read + static_cast<std::int64_t>(sluice::default_capacity);
    }));
    // Not a synchronisation: time for a run that is not bounded to overrun the bound.
    std::this_thread::sleep_for(50ms);
    CHECK(produced.load() - read <= bound);
  }

  TEST_CASE("a thread_pool imap stream destroyed early stops the run and frees the pool" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr auto bound = static_cast<std::int64_t>(4 * sluice::default_capacity);
    sluice::thread_pool pool{2};
    sluice_test::concurrency_tracker tracker;
    std::atomic<std::int64_t> produced{0};
    auto tracked = [&](int x) {
      auto in_call = tracker.track();
      return x;
    };
    {
      auto lazy = pool.imap(tracked, counted_numbers(1'000'000, &produced));
      REQUIRE(lazy.next().has_value());
    }  // destroyed: the destructor returns once every call has returned
    CHECK(tracker.current() == 0);
    const auto calls = tracker.calls();
    CHECK(static_cast<std::int64_t>(calls) <= 1 + bound);
    CHECK(produced.load() <= 1 + bound);
    CHECK(every_slot_is_free(pool));
    CHECK(tracker.calls() == calls);  // the run made no call after the stream was gone
  }

  TEST_CASE("a thread_pool imap stream may outlive its pool" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::optional<sluice::stream<int>> lazy;
    {
      sluice::thread_pool pool{2};
      lazy.emplace(pool.imap(square, first<std::list<int>>(500)));
    }
    CHECK(collect(*lazy) == squares(500));
  }

  TEST_CASE(
      "thread_pool map gives a stop_token-taking f a stopped token after another item "
      "fails" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{2};
    sluice_test::gate inside{1};
    std::atomic<int> started{0};
    std::atomic<bool> saw_stop{false};
    auto f = [&](int x, std::stop_token stop) {
      const int k = started.fetch_add(1);
      if (k == 0) {
        inside.arrive();
        saw_stop.store(wait_for_stop(stop));
      } else if (k == 1) {
        inside.wait();
        throw test_error{x};
      }
      return x;
    };
    SUBCASE("on the chunked path") {
      CHECK_THROWS_AS(pool.map(f, first<std::vector<int>>(1000)), sluice::worker_error);
    }
    SUBCASE("on the per-item path") {
      CHECK_THROWS_AS(pool.map(f, first<std::list<int>>(1000)), sluice::worker_error);
    }
    CHECK(saw_stop.load());
    CHECK(started.load() == 2);
  }
  TEST_CASE(
      "thread_pool map, imap and amap called from inside f of the same pool run within the "
      "caller's slot and finish" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    for (const std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
      CAPTURE(workers);
      sluice::thread_pool pool{workers};
      sluice_test::concurrency_tracker inner_calls;
      auto inner = [&](int x) {
        auto in_call = inner_calls.track();
        return x * x;
      };
      // Each nested call squares x, x + 1 and x + 2 through the pool, on a random-access input
      // (the chunked path) and on a list (the per-item path), and adds them up.
      auto nested_sum = [](std::vector<int> values) {
        int total = 0;
        for (int v : values) total += v;
        return total;
      };
      auto via_map = [&](int x) {
        return nested_sum(pool.map(inner, std::vector<int>{x, x + 1, x + 2})) +
               nested_sum(pool.map(inner, std::list<int>{x, x + 1, x + 2}));
      };
      auto via_imap = [&](int x) {
        auto chunked = pool.imap(inner, std::vector<int>{x, x + 1, x + 2});
        auto per_item = pool.imap(inner, std::list<int>{x, x + 1, x + 2});
        return nested_sum(collect(chunked)) + nested_sum(collect(per_item));
      };
      auto via_amap = [&](int x) {
        auto chunked = pool.amap(inner, std::vector<int>{x, x + 1, x + 2});
        auto per_item = pool.amap(inner, std::list<int>{x, x + 1, x + 2});
        return nested_sum(chunked.get()) + nested_sum(per_item.get());
      };
      // Two levels: f maps g through the pool, g maps inner through it.
      auto via_two_levels = [&](int x) {
        auto g = [&](int y) { return nested_sum(pool.map(inner, std::vector<int>{y})); };
        return nested_sum(pool.map(g, std::list<int>{x, x + 1, x + 2})) * 2;
      };
      std::vector<int> expected;
      for (int x = 0; x < 8; ++x) expected.push_back(2 * (x * x + (x + 1) * (x + 1) + (x + 2) * (x + 2)));
      const auto items = first<std::vector<int>>(8);
      CHECK(pool.map(via_map, items) == expected);
      CHECK(pool.map(via_imap, first<std::list<int>>(8)) == expected);
      CHECK(pool.amap(via_amap, items).get() == expected);
      auto lazily = pool.imap(via_two_levels, items);
      CHECK(collect(lazily) == expected);
      // Nested calls borrow their caller's slot: never more calls at once than the pool's size.
      CHECK(inner_calls.peak() <= workers);
      CHECK(every_slot_is_free(pool));
    }
  }

  TEST_CASE("a nested thread_pool map that fails throws worker_error to its caller in f" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::thread_pool pool{1};
    auto outer = [&](int x) {
      try {
        pool.map(fails_at_107, labels<std::vector<labelled>>(10));
      } catch (const sluice::worker_error& e) {
        check_item_7(e, "thread_pool::map");
        return x;
      }
      return -1;
    };
    CHECK(pool.map(outer, first<std::vector<int>>(3)) == std::vector<int>{0, 1, 2});
  }

}  // TEST_SUITE
