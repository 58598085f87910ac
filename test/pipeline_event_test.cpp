// Tests of <sluice/pipeline_event.hpp> through stream::on_event() and runnable::with_events():
// one failed event per failed item (its task and sequence, on_error or fatal), one retried
// event per retried attempt, a breaker's change of state reported once, the hook on a
// runnable, a hook that throws, and a hook set too late.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/circuit_breaker.hpp>
#include <sluice/clock.hpp>
#include <sluice/errors.hpp>
#include <sluice/pipeline.hpp>
#include <sluice/pipeline_event.hpp>
#include <sluice/sinks.hpp>
#include <sluice/task.hpp>

#include "common/fixtures.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice::pipeline_event;
using sluice::pipeline_event_kind;
using sluice_test::numbers;

namespace {

// What a hook saw, copied (the event's views live only during the call); safe from many threads.
struct seen_event {
  pipeline_event_kind kind;
  std::string task;
  std::uint64_t sequence;
  std::size_t attempt;
  bool has_error;
  std::optional<sluice::circuit_state> circuit;
};

class recorder {
 public:
  std::function<void(const pipeline_event&)> hook() {
    return [this](const pipeline_event& e) {
      std::lock_guard lock(mu_);
      all_.push_back({e.kind, std::string(e.task), e.sequence, e.attempt, e.error != nullptr,
                      e.circuit});
    };
  }
  std::vector<seen_event> of(pipeline_event_kind kind) const {
    std::lock_guard lock(mu_);
    std::vector<seen_event> out;
    for (const seen_event& e : all_) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return all_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<seen_event> all_;
};

int fails_on_fives(int x) {
  if (x % 5 == 0) throw std::runtime_error("five");
  return x;
}

}  // namespace

TEST_SUITE("pipeline_event") {
  TEST_CASE("the hook hears of each item an on_error handler drops, with its task and sequence" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::task(fails_on_fives,
                               {.name = "check", .concurrency = 3, .on_error = sluice::skip}))(20);
    items.on_event(events.hook());
    CHECK(sluice_test::drain(items) == 16);

    std::vector<seen_event> failed = events.of(pipeline_event_kind::failed);
    REQUIRE(failed.size() == 4);
    std::vector<std::uint64_t> sequences;
    for (const seen_event& e : failed) {
      CHECK(e.task == "check");
      CHECK(e.has_error);
      sequences.push_back(e.sequence);
    }
    std::sort(sequences.begin(), sequences.end());
    CHECK(sequences == std::vector<std::uint64_t>{0, 5, 10, 15});
    CHECK(events.size() == 4);  // nothing else happened
  }

  TEST_CASE("the hook hears of a fatal failure before the run's error reaches the puller" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(fails_on_fives))(20);
    items.on_event(events.hook());
    CHECK_THROWS_AS(sluice_test::drain(items), std::runtime_error);
    std::vector<seen_event> failed = events.of(pipeline_event_kind::failed);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].task == "task#2");
    CHECK(failed[0].sequence == 0);
  }

  TEST_CASE("the hook hears of every retried attempt, numbered, once the call is over" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    std::atomic<int> calls{0};
    // Item 3 fails twice, then succeeds; the others succeed at once.
    auto flaky = [&](int x) {
      if (x == 3 && calls.fetch_add(1) < 2) throw std::runtime_error("flaky");
      return x;
    };
    auto counted =
        (sluice::task(numbers, sluice::branch) |
         sluice::task(flaky, {.name = "fetch",
                              .retry = sluice::retry_policy{.max_attempts = 5,
                                                            .min_delay = 0ms,
                                                            .jitter = false}}) >
         sluice::count())
            .with_events(events.hook());

    CHECK(counted(10) == 10);
    std::vector<seen_event> retried = events.of(pipeline_event_kind::retried);
    REQUIRE(retried.size() == 2);
    CHECK(retried[0].task == "fetch");
    CHECK(retried[0].attempt == 1);
    CHECK(retried[1].attempt == 2);
    CHECK(retried[0].has_error);
    CHECK(events.of(pipeline_event_kind::failed).empty());
  }

  TEST_CASE("the hook hears once that a task's breaker opened" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    sluice::manual_clock fake;
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 3, .open_for = 1h, .clock = &fake}};
    auto down = [](int) -> int { throw std::runtime_error("service down"); };
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::task(down, {.name = "remote", .breaker = breaker,
                                      .on_error = sluice::skip}))(10);
    items.on_event(events.hook());
    CHECK(sluice_test::drain(items) == 0);

    std::vector<seen_event> changes = events.of(pipeline_event_kind::circuit_changed);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].task == "remote");
    CHECK(changes[0].circuit == sluice::circuit_state::open);
    CHECK(events.of(pipeline_event_kind::failed).size() == 10);
  }

  TEST_CASE("the hook hears once that a drain stopped the producer, and not without a drain" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    auto p = sluice::task(numbers, sluice::branch, {.name = "source"}) | sluice::task([](int x) {
               return x;
             });
    {
      auto s = p(1'000'000);  // far more than the queues hold: the drain comes mid-stream
      s.on_event(events.hook());
      REQUIRE(s.next().has_value());
      s.drain();
      while (s.next()) {
      }
      CHECK(s.drained());
    }
    std::vector<seen_event> drained = events.of(pipeline_event_kind::drained);
    REQUIRE(drained.size() == 1);
    CHECK(drained[0].task == "source");
    CHECK_FALSE(drained[0].has_error);

    recorder undrained;
    auto whole = p(10);
    whole.on_event(undrained.hook());
    while (whole.next()) {
    }
    CHECK(undrained.of(pipeline_event_kind::drained).empty());
  }

  TEST_CASE("a runnable piped after a pipeline keeps its hook, with a sink that cannot be assigned" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    std::atomic<int> taken{0};
    auto tail = (sluice::task(fails_on_fives, {.name = "check", .on_error = sluice::skip}) |
                 sluice::for_each([&taken](int) { taken.fetch_add(1); }))
                    .with_events(events.hook());
    auto whole = sluice::task(numbers, sluice::branch) | tail;
    whole(10);
    CHECK(taken.load() == 8);
    CHECK(events.of(pipeline_event_kind::failed).size() == 2);
  }

  TEST_CASE("a hook that throws stops the run with its exception" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    struct hook_error : std::runtime_error {
      hook_error() : std::runtime_error("hook") {}
    };
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::task(fails_on_fives, {.on_error = sluice::skip}))(100);
    items.on_event([](const pipeline_event&) { throw hook_error(); });
    CHECK_THROWS_AS(sluice_test::drain(items), hook_error);
  }

  TEST_CASE("on_event after the first pull is rejected with std::logic_error" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    recorder events;
    auto items = sluice::task(numbers, sluice::branch)(5);
    CHECK(items.next() == 0);
    CHECK_THROWS_AS(items.on_event(events.hook()), std::logic_error);
    CHECK(sluice_test::drain(items) == 4);
  }
}
