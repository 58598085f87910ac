// Tests of bounded memory: a fast producer in front of a slow consumer blocks. Items ahead are
// counted, not timed, against the bound docs/architecture.md gives for a line of tasks without
// branch:
//   produced - consumed <= 1 + sum(capacity_i, the producer's included)
//                            + sum(concurrency_i, after the producer)
//                            + sum(max(capacity_i, concurrency_i), over ordered tasks)
// where capacity 0 means sluice::default_capacity.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/sanitizers.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::counted_numbers;

namespace {

int identity(int x) { return x; }

struct line_report {
  std::int64_t consumed = 0;
  std::int64_t most_ahead = 0;     // the largest produced - consumed seen at any sink step
  std::int64_t produced_held = 0;  // produced after the sink had taken one item and held still
};

// Runs producer(capacity) | identity(3 calls, capacity, ordered?) | identity(2 calls, capacity)
// over `limit` items, sampling produced - consumed at every sink step. Now and then the sink
// holds still so that the producer runs as far ahead as it is allowed to.
line_report run_line(std::size_t capacity, bool ordered, int limit) {
  std::atomic<std::int64_t> produced{0};
  auto run = sluice::task(counted_numbers, sluice::branch, {.capacity = capacity}) |
             sluice::task(identity, {.concurrency = 3, .capacity = capacity, .ordered = ordered}) |
             sluice::task(identity, {.concurrency = 2, .capacity = capacity});
  auto items = run(limit, &produced);
  line_report report;
  const std::int64_t hold_every = std::max(limit / 8, 1);
  for (int x : items) {
    static_cast<void>(x);
    ++report.consumed;
    if (report.consumed == 1 || report.consumed % hold_every == 0) {
      std::this_thread::sleep_for(20ms);
      if (report.consumed == 1) report.produced_held = produced.load();
    }
    report.most_ahead = std::max(report.most_ahead, produced.load() - report.consumed);
  }
  return report;
}

}  // namespace

TEST_SUITE("backpressure") {
  TEST_CASE("the producer never runs further ahead of the sink than the documented bound" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    for (std::size_t capacity : {std::size_t{1}, std::size_t{4}, std::size_t{0}}) {
      for (bool ordered : {false, true}) {
        const auto per_queue =
            static_cast<std::int64_t>(capacity == 0 ? sluice::default_capacity : capacity);
        const std::int64_t window = ordered ? std::max<std::int64_t>(per_queue, 3) : 0;
        const std::int64_t bound = 1 + 3 * per_queue + (3 + 2) + window;
        const int limit = static_cast<int>(
            std::max<std::int64_t>(sluice_test::scaled(20'000, 5'000), 10 * bound));
        CAPTURE(capacity);
        CAPTURE(ordered);
        CAPTURE(bound);

        line_report report = run_line(capacity, ordered, limit);

        CHECK(report.consumed == limit);
        CHECK(report.most_ahead <= bound);
        CHECK(report.produced_held <= 1 + bound);  // blocked while the sink held its first item
      }
    }
  }

  TEST_CASE("a batch stage adds its open batch and its output queue of batches to the bound" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::int64_t size = 10;
    const int limit = sluice_test::scaled(20'000, 5'000);
    std::atomic<std::int64_t> produced{0};
    auto run = sluice::task(counted_numbers, sluice::branch, {.capacity = 4}) |
               sluice::task(identity, {.concurrency = 2, .capacity = 4}) | sluice::batch(size);
    // docs/architecture.md: the batch stage holds its open batch (n) and its output queue holds
    // max(2, 1024 / n) batches.
    const std::int64_t bound = 1 + 4 + 4 + 2 + size + std::max<std::int64_t>(2, 1024 / size) * size;

    auto batches = run(limit, &produced);
    std::int64_t consumed = 0;
    std::int64_t most_ahead = 0;
    for (const std::vector<int>& batch : batches) {
      if (consumed == 0) std::this_thread::sleep_for(20ms);  // let the producer run ahead
      consumed += static_cast<std::int64_t>(batch.size());
      most_ahead = std::max(most_ahead, produced.load() - consumed);
    }

    CHECK(consumed == limit);
    CHECK(most_ahead <= bound);
  }

  TEST_CASE(
      "capacity 4 throttles the producer: while the sink holds still it stays far below the total" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto run = sluice::task(counted_numbers, sluice::branch, {.capacity = 4}) |
               sluice::task(identity, {.concurrency = 2, .capacity = 4});
    auto items = run(100'000, &produced);

    REQUIRE(items.next().has_value());
    std::this_thread::sleep_for(50ms);
    const std::int64_t while_held = produced.load();
    std::this_thread::sleep_for(20ms);

    CHECK(while_held <= 1 + (1 + 4 + 4 + 2));
    CHECK(produced.load() == while_held);  // still blocked, not merely slow
  }

  TEST_CASE("a slow task in the middle blocks a fast producer" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    std::atomic<std::int64_t> processed{0};
    std::int64_t most_ahead = 0;
    auto slow = [&](int x) {
      std::this_thread::sleep_for(100us);
      processed.fetch_add(1);
      return x;
    };
    auto run = sluice::task(counted_numbers, sluice::branch, {.capacity = 8}) |
               sluice::task(slow, {.concurrency = 2, .capacity = 8});
    auto items = run(2000, &produced);
    for (int x : items) {
      static_cast<void>(x);
      most_ahead = std::max(most_ahead, produced.load() - processed.load());
    }

    CHECK(most_ahead <= 1 + 8 + 2);  // in the producer's hand, its queue, and the two calls
  }

}  // TEST_SUITE
