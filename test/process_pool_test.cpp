// Tests of sluice::process_pool (sluice/process_pool.hpp) and of pmap and opmap with
// `.mode = sluice::execution::process` (sluice/pmap.hpp): the same answers as in threads, a
// worker's crash or exception as the pool's usual errors, and no process left behind.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <csignal>
#include <cstdlib>
#include <future>
#include <list>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/processes.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

std::vector<int> first_numbers(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_SUITE("process_pool") {
  TEST_CASE("map, imap and amap give thread_pool's answers, in input order") {
    sluice_test::watchdog guard{60s};
    auto square = [](int x) { return static_cast<long>(x) * x; };
    const std::vector<int> items = first_numbers(300);
    sluice::thread_pool threads{2};
    sluice::process_pool procs{2};
    CHECK(procs.size() == 2);
    const std::vector<long> expected = threads.map(square, items);
    CHECK(procs.map(square, items) == expected);

    std::vector<long> lazily;
    for (long x : procs.imap(square, std::list<int>(items.begin(), items.end()))) {
      lazily.push_back(x);
    }
    CHECK(lazily == expected);
    CHECK(procs.amap(square, items).get() == expected);
  }

  TEST_CASE("a crash in f is a worker_error holding worker_crashed, with the element") {
    sluice_test::watchdog guard{60s};
    sluice::process_pool procs{2};
    auto fragile = [](int x) {
      if (x == 4) std::abort();
      return x;
    };
    try {
      procs.map(fragile, first_numbers(10));
      FAIL("map did not throw");
    } catch (const sluice::worker_error& e) {
      CHECK(e.index() == 4);
      CHECK(e.input_text() == "4");
      try {
        std::rethrow_exception(e.original());
      } catch (const sluice::worker_crashed& crashed) {
        CHECK(crashed.signal() == SIGABRT);
      }
    }
    // The pool goes on: each call has its own workers.
    CHECK(procs.map(sluice_test::twice, first_numbers(3)) == std::vector<int>{0, 2, 4});
  }

  TEST_CASE("an exception in f is a worker_error holding remote_error") {
    sluice_test::watchdog guard{60s};
    sluice::process_pool procs{2};
    auto picky = [](int x) {
      if (x == 2) throw std::invalid_argument("two is not allowed");
      return x;
    };
    auto result = procs.amap(picky, first_numbers(5));
    try {
      result.get();
      FAIL("amap's future held no error");
    } catch (const sluice::worker_error& e) {
      CHECK(e.index() == 2);
      try {
        std::rethrow_exception(e.original());
      } catch (const sluice::remote_error& remote) {
        CHECK(remote.type_name() == "std::invalid_argument");
        CHECK(std::string(remote.what()) == "two is not allowed");
      }
    }
  }

  TEST_CASE("no worker process outlives its call, also when the caller throws") {
    sluice_test::watchdog guard{60s};
    const std::size_t children_before = sluice_test::children_of_this_process();
    sluice::process_pool procs{3};
    for (int round = 0; round < 5; ++round) {
      auto stream = procs.imap(sluice_test::twice, first_numbers(100));
      CHECK(stream.next() == std::optional<int>(0));
      // The stream is dropped with its workers mid-way.
    }
    CHECK_THROWS_AS(procs.map(
                        [](int x) {
                          if (x == 1) std::exit(2);
                          return x;
                        },
                        first_numbers(4)),
                    sluice::worker_error);
    CHECK(sluice_test::children_of_this_process() == children_before);
  }
}  // TEST_SUITE

TEST_SUITE("pmap and opmap in worker processes") {
  TEST_CASE("pmap in processes gives pmap's answer, and rethrows f's failure") {
    sluice_test::watchdog guard{60s};
    const std::vector<int> items = first_numbers(500);
    auto cube = [](int x) { return static_cast<long>(x) * x * x; };
    CHECK(sluice::pmap(cube, items, {.workers = 2, .mode = sluice::execution::process}) ==
          sluice::pmap(cube, items, {.workers = 2}));
    auto fragile = [](int x) {
      if (x == 3) std::raise(SIGSEGV);
      return x;
    };
    CHECK_THROWS_AS(sluice::pmap(fragile, items, {.workers = 2, .mode = sluice::execution::process}),
                    sluice::worker_crashed);
  }

  TEST_CASE("opmap in processes keeps each crash in place and retries it") {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters attempts;
    auto once_fragile = [&attempts](int x) {
      if (x == 1 && attempts[0].fetch_add(1) == 0) std::abort();  // first attempt only
      if (x == 3) std::raise(SIGKILL);                               // every attempt
      return 10 * x;
    };
    const auto results = sluice::opmap(
        once_fragile, first_numbers(5),
        {.workers = 2,
         .retry = sluice::retry_policy{.max_attempts = 2, .min_delay = 1ms},
         .mode = sluice::execution::process});
    REQUIRE(results.size() == 5);
    CHECK(results[1].value() == 10);
    CHECK(attempts[0].load() == 2);
    REQUIRE_FALSE(results[3].ok());
    CHECK(results[3].error().attempts.size() == 2);
    CHECK(results[4].value() == 40);
  }

  TEST_CASE("pmap in processes reads a single-pass input a few batches ahead, not all of it") {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters counts;  // [0]: elements run by the workers
    constexpr std::int64_t kElements = 40'000;
    constexpr std::int64_t kAhead = (2 + 2) * 1024;  // (workers + 2) batches of 1024
    std::int64_t produced = 0;
    std::int64_t most_ahead = 0;
    auto elements = [&]() -> sluice::generator<int> {
      for (int i = 0; i < kElements; ++i) {
        most_ahead = std::max(most_ahead, produced - counts[0].load());
        ++produced;
        co_yield i;
      }
    };
    auto counted = [&counts](int x) {
      counts[0].fetch_add(1);
      return x + 1;
    };
    const std::vector<int> out =
        sluice::pmap(counted, elements(), {.workers = 2, .mode = sluice::execution::process});
    REQUIRE(out.size() == static_cast<std::size_t>(kElements));
    CHECK(out.front() == 1);
    CHECK(out.back() == kElements);
    CHECK(produced == kElements);
    CHECK(most_ahead <= kAhead);
  }

  TEST_CASE("the first failure in input order ends a process map, whichever fails first") {
    sluice_test::watchdog guard{60s};
    auto late_then_early = [](int x) {
      if (x == 7) throw std::runtime_error("seven");
      if (x == 2) {
        std::this_thread::sleep_for(50ms);  // fails after item 7 has failed
        throw std::runtime_error("two");
      }
      return x;
    };
    try {
      sluice::process_pool{4}.map(late_then_early, first_numbers(20));
      FAIL("map did not throw");
    } catch (const sluice::worker_error& e) {
      CHECK(e.index() == 2);
      CHECK(e.input_text() == "2");
    }
    try {
      sluice::pmap(late_then_early, first_numbers(20),
                   {.workers = 4, .mode = sluice::execution::process});
      FAIL("pmap did not throw");
    } catch (const sluice::remote_error& e) {
      CHECK(std::string(e.what()) == "two");
    }
  }

  TEST_CASE("pmap in processes calls a void f, and takes a map's pairs and an rvalue range") {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters counts;
    sluice::pmap([&counts](int x) { counts[0].fetch_add(x); }, first_numbers(101),
                 {.workers = 2, .mode = sluice::execution::process});
    CHECK(counts[0].load() == 5050);

    const std::map<std::string, int> ages{{"ada", 36}, {"alan", 41}, {"grace", 85}};
    auto line = [](const std::pair<std::string, int>& p) {
      return p.first + "=" + std::to_string(p.second);
    };
    CHECK(sluice::pmap(line, ages, {.workers = 2, .mode = sluice::execution::process}) ==
          std::vector<std::string>{"ada=36", "alan=41", "grace=85"});

    auto take = [](std::string s) { return s + "!"; };
    CHECK(sluice::pmap(take, std::vector<std::string>{"a", "b"},
                       {.workers = 2, .mode = sluice::execution::process}) ==
          std::vector<std::string>{"a!", "b!"});
  }

  TEST_CASE("an empty input forks no worker") {
    sluice_test::watchdog guard{60s};
    const std::size_t children_before = sluice_test::children_of_this_process();
    std::vector<int> none;
    CHECK(sluice::process_pool{2}.map(sluice_test::twice, none).empty());
    CHECK(sluice_test::children_of_this_process() == children_before);
  }

  TEST_CASE("a type without a codec is refused when the call is made, naming both types") {
    struct opaque {
      int x = 0;
    };
    const std::vector<opaque> items(3);
    const std::string message = sluice_test::invalid_argument_message([&] {
      sluice::pmap([](const opaque& o) { return o.x; }, items,
                   {.mode = sluice::execution::process});
    });
    CHECK(message.find("sluice::pmap") != std::string::npos);
    CHECK(message.find("opaque") != std::string::npos);
    CHECK(message.find("has no sluice::codec") != std::string::npos);
  }
}  // TEST_SUITE
