// Tests of how runs share the machine: several runs at once, runs started from inside another
// run's calls, and runs whose oneTBB arenas get no worker thread. Progress is proved by counting
// calls in flight and by runs that finish while others still hold their threads, never by time.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <numeric>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;

namespace {

// A 64-bit mix (splitmix64's), to pick items pseudo-randomly but the same in every run.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Waits for `done` up to sluice_test::patience; true when it came.
bool finishes(std::future<void>& done) {
  return done.wait_for(sluice_test::patience) == std::future_status::ready;
}

// A producer, a task of concurrency 2, a serial task and a sink: the smallest run that needs
// threads of both of the engine's tiers.
auto small_line() {
  return (sluice::task(numbers, sluice::branch) |
          sluice::task([](int x) { return x + 1; }, {.concurrency = 2}) |
          sluice::task([](int x) { return x * 2; })) > sluice::count();
}

}  // namespace

TEST_SUITE("runs") {
  TEST_CASE("a run finishes while another run has 100 calls blocked" * doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    sluice_test::gate all_in{100};
    sluice_test::gate release;
    auto blocked = [&](int x) {  // polls, as a call waiting on I/O would keep waking up
      all_in.arrive();
      sluice_test::eventually([&] { return release.is_open(); }, 2 * sluice_test::patience);
      return x;
    };
    auto holder = (sluice::task(numbers, sluice::branch) |
                   sluice::task(blocked, {.concurrency = 100})) > sluice::count();
    auto held = std::async(std::launch::async, [&] { return holder(100); });
    REQUIRE(all_in.wait());

    // Several rounds: a second run was seen to finish a few times and then wait for the blocked
    // calls to return.
    auto line = small_line();
    int finished = 0;
    for (int round = 0; round < 20; ++round) {
      CAPTURE(round);
      std::future<void> done = std::async(std::launch::async, [&] {
        CHECK(line(1000) == 1000);
      });
      const bool in_time = finishes(done);
      CHECK(in_time);
      if (!in_time) break;
      CHECK_FALSE(release.is_open());  // the 100 calls were blocked all along
      ++finished;
    }
    release.open();
    CHECK(held.get() == 100);
    CHECK(finished == 20);
  }

  TEST_CASE("a run whose oneTBB arenas get no worker thread still has its calls in flight" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    // An application may cap oneTBB below what a run asks for: then oneTBB serves no arena of
    // sluice's, and the run must not depend on it.
    const tbb::global_control one_thread{tbb::global_control::max_allowed_parallelism, 1};
    sluice_test::gate all_in{8};
    auto together = [&](int x) {
      all_in.arrive_and_wait();  // opens only once 8 calls are in flight together
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(together, {.concurrency = 8}) |
                sluice::task([](int x) { return x + 1; })) > sluice::count();

    CHECK(run(64) == 64);
    CHECK_FALSE(all_in.timed_out());

    SUBCASE("and so does a pipeline nested in it") {
      auto inner = sluice::task([](int x) -> sluice::generator<int> {
                     for (int i = 0; i < 3; ++i) co_yield x + i;
                   }, sluice::branch) |
                   sluice::task([](int x) { return x * 2; }, {.concurrency = 2});
      auto outer = (sluice::task(numbers, sluice::branch) |
                    sluice::task(inner, sluice::branch, {.concurrency = 4})) > sluice::count();
      CHECK(outer(50) == 150);
    }
  }

  TEST_CASE("nested runs started from many workers of several runs at once all finish" *
            doctest::timeout(300)) {
    sluice_test::watchdog guard{300s};
    // Nested ordered runs whose calls sometimes wait for their stop token until a timeout: a
    // nested run's first activation was seen to wait for a oneTBB thread for ever here.
    std::vector<int> input(150);
    std::iota(input.begin(), input.end(), 0);
    std::atomic<std::size_t> skipped{0};  // inner calls that timed out, over every run
    auto inner =
        sluice::task([](const int& x) { return x; }, {.capacity = 116, .on_error = sluice::skip}) |
        sluice::task(
            [](const int& x, std::stop_token stop) {
              if (mix(static_cast<std::uint64_t>(x) + 3) % 1000 < 9) {
                while (!stop.stop_requested()) std::this_thread::sleep_for(200us);
              }
              return x;
            },
            {.concurrency = 4,
             .timeout = 59ms,
             .on_error = [&](const sluice::failure&) { skipped.fetch_add(1); }});
    auto run =
        sluice::from(input) |
        sluice::task(
            [](int x) -> sluice::generator<int> {
              for (int j = 0; j < static_cast<int>(mix(static_cast<std::uint64_t>(x)) % 3); ++j) {
                co_yield x * 4 + j;
              }
            },
            sluice::branch, {.concurrency = 32, .capacity = 88, .on_error = sluice::skip}) |
        sluice::task(inner, sluice::branch,
                     {.concurrency = 8, .capacity = 76, .ordered = true, .on_error = sluice::skip}) |
        sluice::task([](int x) { return x; }, {.concurrency = 54, .on_error = sluice::skip}) >
        sluice::count();
    // Each run sends `sent` items into the nested runs. Each comes out once or times out once;
    // those whose call waits for its stop token always time out, and a loaded machine may time
    // out a few more (a 59 ms deadline), so a run yields at most `at_most`.
    std::size_t sent = 0;
    std::size_t at_most = 0;
    for (int x : input) {
      for (int j = 0; j < static_cast<int>(mix(static_cast<std::uint64_t>(x)) % 3); ++j) {
        ++sent;
        if (mix(static_cast<std::uint64_t>(x * 4 + j) + 3) % 1000 >= 9) ++at_most;
      }
    }
    const int rounds = sluice_test::scaled(6, 2);
    std::atomic<std::size_t> outputs{0};
    sluice_test::run_on_threads(3, [&](std::size_t) {
      for (int round = 0; round < rounds; ++round) {
        const std::size_t got = run();
        CHECK(got <= at_most);
        outputs.fetch_add(got);
      }
    });
    CHECK(outputs.load() + skipped.load() == 3 * static_cast<std::size_t>(rounds) * sent);
  }

  TEST_CASE("a task of concurrency 4096 over 10 items starts threads only for the items" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task([](int x) { return x; }, {.concurrency = 4096})) > sluice::count();
    CHECK(run(10) == 10);
    // What oneTBB keeps for later runs stays well below one thread per allowed call.
    CHECK(sluice_test::thread_count() < 400);
  }

  TEST_CASE("concurrency and workers above sluice::max_concurrency are rejected by name" *
            doctest::timeout(30)) {
    const std::size_t too_many = sluice::max_concurrency + 1;
    const std::string task_message = sluice_test::invalid_argument_message([&] {
      auto s = (sluice::task(numbers, sluice::branch) |
                sluice::task(sluice_test::twice, {.name = "wide", .concurrency = too_many}))(3);
    });
    CHECK(task_message.find("task 'wide' (task#2) has concurrency 10001") != std::string::npos);
    CHECK(task_message.find("sluice::max_concurrency (10000)") != std::string::npos);

    for (std::size_t huge : {too_many, std::numeric_limits<std::size_t>::max()}) {
      CAPTURE(huge);
      const std::vector<int> items{1, 2, 3};
      CHECK(sluice_test::invalid_argument_message([&] {
              (void)sluice::pmap(sluice_test::twice, items, {.workers = huge});
            }).find("sluice::pmap has " + std::to_string(huge) + " workers") != std::string::npos);
      CHECK(sluice_test::invalid_argument_message([&] {
              (void)sluice::opmap(sluice_test::twice, items, {.workers = huge});
            }).find("sluice::opmap has") != std::string::npos);
      CHECK(sluice_test::invalid_argument_message([&] { sluice::thread_pool pool{huge}; })
                .find("sluice::thread_pool has") != std::string::npos);
      CHECK(sluice_test::invalid_argument_message([&] {
              auto s = (sluice::task(numbers, sluice::branch) |
                        sluice::task(sluice_test::twice, {.concurrency = huge}))(3);
            }).find("has concurrency") != std::string::npos);
    }
  }
}  // TEST_SUITE
