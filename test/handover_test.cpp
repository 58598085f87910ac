// Tests that an item is never kept from a consumer that would take it. A serial producer's
// outputs may be held back while their consumer is busy and then leave together (see
// detail/engine/port.hpp), but a consumer that runs out of work takes over what is held, also
// while its producer is blocked in user code. Each test makes the producer block until the consumer has
// seen items it offered while the consumer was busy: if they stayed held, the gate would time
// out.
#include <atomic>
#include <chrono>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/gate.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

// Yields 0, then 1 and 2 once the reader is busy with 0, then opens `offered` and blocks until
// `seen` opens, then yields 3.
sluice::generator<int> blocks_after_two(sluice_test::gate* busy, sluice_test::gate* offered,
                                        sluice_test::gate* seen) {
  co_yield 0;
  busy->wait();
  co_yield 1;
  co_yield 2;
  offered->open();
  seen->wait();
  co_yield 3;
}

}  // namespace

TEST_SUITE("concurrency") {
  TEST_CASE("a reader gets what a producer offered before it blocked, while it is blocked" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate busy;     // the reader has item 0 and is busy with it
    sluice_test::gate offered;  // the producer offered 1 and 2 and blocks
    sluice_test::gate seen;     // the reader got 1 and 2
    auto items = sluice::task(blocks_after_two, sluice::branch)(&busy, &offered, &seen);

    std::vector<int> got;
    for (int x : items) {
      got.push_back(x);
      if (x == 0) {
        busy.open();
        CHECK(offered.wait());  // 1 and 2 are offered while this reader is not in the stream
      }
      if (x == 2) seen.open();
    }

    CHECK(got == std::vector<int>{0, 1, 2, 3});
    CHECK_FALSE(seen.timed_out());
  }

  TEST_CASE("a stage gets what its producer offered before it blocked, while it is blocked" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate busy;     // the stage is in its call for item 0
    sluice_test::gate offered;  // the producer offered 1 and 2 and blocks
    sluice_test::gate seen;     // the stage called on 1 and 2
    std::atomic<int> calls{0};
    auto stage = [&](int x) {
      if (x == 0) {
        busy.open();
        CHECK(offered.wait());  // 1 and 2 are offered while this call runs
      }
      if (calls.fetch_add(1) + 1 == 3) seen.open();
      return x;
    };
    auto run = sluice::task(blocks_after_two, sluice::branch) | sluice::task(stage);

    std::vector<int> got;
    for (int x : run(&busy, &offered, &seen)) got.push_back(x);

    CHECK(got == std::vector<int>{0, 1, 2, 3});
    CHECK_FALSE(seen.timed_out());
  }

  TEST_CASE("a reader gets a stage's earlier outputs while the stage's call blocks" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate yielded;  // the producer yielded 0 to 3: 1 to 3 reach the stage together
    sluice_test::gate reading;  // the reader is busy with output 0
    sluice_test::gate blocked;  // the stage offered 1 and 2 and blocks in its call on 3
    sluice_test::gate seen;     // the reader got 1 and 2
    auto producer = [&](int limit) -> sluice::generator<int> {
      for (int i = 0; i < limit; ++i) co_yield i;
      yielded.open();
    };
    auto stage = [&](int x) {
      if (x == 0) CHECK(yielded.wait());
      if (x == 1) CHECK(reading.wait());
      if (x == 3) {
        blocked.open();
        CHECK(seen.wait());
      }
      return x;
    };
    auto items = (sluice::task(producer, sluice::branch) | sluice::task(stage))(4);

    std::vector<int> got;
    for (int x : items) {
      got.push_back(x);
      if (x == 0) {
        reading.open();
        CHECK(blocked.wait());  // outputs 1 and 2 are offered while this reader is busy
      }
      if (x == 2) seen.open();
    }

    CHECK(got == std::vector<int>{0, 1, 2, 3});
    CHECK_FALSE(seen.timed_out());
  }
}
