// Tests of pipelines nested in a task: the outer run's stop reaches every nested run, whether it
// comes from cancel(), from destroying the stream, from the first error or from a task's timeout.
// A nested call that waits for its stop token tells whether the stop reached it; each waits a
// bounded time, so a stop that never comes fails a check instead of hanging.
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;

namespace {

// A nested call: the first input waits for its stop token (recording whether it came); the
// others pass through.
struct waits_for_stop {
  sluice_test::gate* entered;
  std::atomic<int>* saw_stop;
  int operator()(int x, std::stop_token stop) const {
    if (x != 0) return x;
    entered->open();
    if (sluice_test::eventually([&] { return stop.stop_requested(); })) saw_stop->fetch_add(1);
    return x;
  }
};

auto inner_pipeline(waits_for_stop call) {
  return sluice::task([](int x) { return x; }) | sluice::task(call, {.concurrency = 2});
}

}  // namespace

TEST_SUITE("nested") {
  TEST_CASE("cancel() reaches a pipeline nested in a task" * doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    sluice_test::gate entered;
    std::atomic<int> saw_stop{0};
    auto inner = inner_pipeline({&entered, &saw_stop});

    auto check = [&](auto outer) {
      auto items = outer(3);
      std::jthread canceller{[&] {
        if (entered.wait()) items.cancel();
      }};
      CHECK(items.next() == std::nullopt);
    };
    SUBCASE("without branch") {
      check(sluice::task(numbers, sluice::branch) | sluice::task(inner));
    }
    SUBCASE("with branch") {
      check(sluice::task(numbers, sluice::branch) | sluice::task(inner, sluice::branch));
    }
    CHECK(saw_stop.load() == 1);
  }

  TEST_CASE("destroying the stream stops a nested run and returns" * doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    sluice_test::gate entered;
    std::atomic<int> saw_stop{0};
    auto outer = sluice::task(numbers, sluice::branch) |
                 sluice::task(inner_pipeline({&entered, &saw_stop}), {.concurrency = 2});
    {
      auto items = outer(3);
      REQUIRE(items.next().has_value());  // item 1 or 2: their nested runs do not wait
      REQUIRE(entered.wait());
    }  // destroyed while item 0's nested run waits
    CHECK(saw_stop.load() == 1);
  }

  TEST_CASE("the outer run's first error stops a nested run and reaches the caller" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    sluice_test::gate entered;
    std::atomic<int> saw_stop{0};
    auto fails_once_entered = [&](int x) {
      if (x == 1 && entered.wait()) throw sluice_test::test_error(x);
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(inner_pipeline({&entered, &saw_stop}), sluice::branch,
                             {.concurrency = 2}) |
                sluice::task(fails_once_entered, {.concurrency = 2})) > sluice::count();

    CHECK_THROWS_AS(run(3), sluice_test::test_error);
    CHECK(saw_stop.load() == 1);
  }

  TEST_CASE("a timeout on a nested pipeline's task stops the nested run at the deadline" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    sluice_test::gate entered;
    std::atomic<int> saw_stop{0};
    std::atomic<int> timed_out{0};
    auto record = [&](const sluice::failure& f) {
      try {
        std::rethrow_exception(f.error);
      } catch (const sluice::timeout_error&) {
        timed_out.fetch_add(1);
      } catch (...) {
      }
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(inner_pipeline({&entered, &saw_stop}),
                             {.timeout = 20ms, .on_error = record})) > sluice::count();

    CHECK(run(3) == 2);  // the item whose nested run was stopped is dropped
    CHECK(timed_out.load() == 1);
    CHECK(saw_stop.load() == 1);
  }

  TEST_CASE("nested runs that finish normally are not disturbed by the outer run's end" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    auto inner = sluice::task([](int x) { return std::vector<int>{x, x + 1}; }, sluice::branch) |
                 sluice::task(sluice_test::twice, {.concurrency = 2});
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(inner, {.concurrency = 3})) >
               sluice::to_vector();
    const auto results = run(50);
    REQUIRE(results.size() == 50);
    for (int i = 0; i < 50; ++i) CHECK(results[static_cast<std::size_t>(i)].size() == 2);
  }
}  // TEST_SUITE
