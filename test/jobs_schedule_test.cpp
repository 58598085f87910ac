// Tests of sluice/jobs.hpp: scheduling — waves, locks, the `parallel` cap, slots freed by waits,
// timeouts (on a manual clock), retries, fail-fast and keep-going, cancel() and retry_failed().
// Concurrency is proved with gates and by counting events, never by wall time.
#include <sluice/jobs.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <sluice/clock.hpp>
#include <sluice/errors.hpp>

#include <doctest/doctest.h>

#include "common/concurrency_tracker.hpp"
#include "common/gate.hpp"
#include "common/job_graphs.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

using sluice_test::call_counter;
using sluice_test::event_log;
using sluice_test::logged_graph;
using sluice_test::mentions;
using sluice_test::names;
using sluice_test::refusal;

using kind = sluice::job_event_kind;

// Blocks until `stop` is requested (or the patience runs out); returns whether it was.
bool wait_for_stop(std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return cv.wait_for(lock, stop, sluice_test::patience, [] { return false; }) ||
         stop.stop_requested();
}

}  // namespace

// --- waves --------------------------------------------------------------------------------------

TEST_CASE("waves: no job of a higher wave starts while a wanted job of a lower wave is unfinished") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate slow_running, release;
  logged_graph t;
  t.g.add("late", {.wave = 1}, [] {});
  t.g.add("later", {.wave = 2}, [] {});
  t.g.add("quick", [] {});
  t.g.add("slow", [&] {
    slow_running.open();
    release.wait();
  });
  t.g.start(names{"later", "late", "quick", "slow"});  // together, the higher waves first
  REQUIRE(slow_running.wait());
  CHECK(t.g.state("late") == sluice::job_state::wanted);
  CHECK(t.g.state("later") == sluice::job_state::wanted);
  release.open();
  t.g.wait_all();
  CHECK(t.log.at("slow", kind::succeeded) < t.log.at("late", kind::started));
  CHECK(t.log.at("quick", kind::succeeded) < t.log.at("late", kind::started));
  CHECK(t.log.at("late", kind::succeeded) < t.log.at("later", kind::started));
}

TEST_CASE("waves: a lower wave blocked on its dependency still holds back higher waves") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate dep_running, release;
  logged_graph t;
  t.g.add("dep", [&] {
    dep_running.open();
    release.wait();
  });
  t.g.add("low", {.deps = {"dep"}}, [] {});
  t.g.add("high", {.wave = 1}, [] {});
  t.g.start(names{"high", "low"});
  REQUIRE(dep_running.wait());
  CHECK(t.g.state("high") == sluice::job_state::wanted);
  release.open();
  t.g.wait_all();
  CHECK(t.log.at("low", kind::succeeded) < t.log.at("high", kind::started));
}

TEST_CASE("waves: a dependency on a higher wave is refused, naming both jobs") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{{.live = sluice::live_output::off}};
  g.add("early", {.deps = {"late"}}, [] {});
  g.add("late", {.wave = 1}, [] {});
  {
    const std::string why = refusal([&] { g.run("early"); });
    CHECK_MESSAGE(mentions(why, {"'early'", "'late'", "wave"}), why);
  }
  CHECK(g.state("early") == sluice::job_state::idle);
  CHECK(g.state("late") == sluice::job_state::idle);
}

// --- locks --------------------------------------------------------------------------------------

TEST_CASE("jobs sharing a lock never overlap, while an unlocked job runs beside them") {
  sluice_test::watchdog guard{60s};
  sluice_test::concurrency_tracker locked;
  sluice_test::gate both{2};  // one locked job and the unlocked one in flight at once
  std::atomic<bool> first_locked{true};
  logged_graph t;
  auto locked_body = [&] {
    auto in = locked.track();
    if (first_locked.exchange(false)) both.arrive_and_wait();
  };
  t.g.add("l1", {.locks = {"disk"}}, locked_body);
  t.g.add("l2", {.locks = {"disk", "net"}}, locked_body);
  t.g.add("l3", {.locks = {"disk"}}, locked_body);
  t.g.add("free", [&] { both.arrive_and_wait(); });
  t.g.start(names{"l1", "l2", "l3", "free"});
  t.g.wait_all();
  CHECK_FALSE(both.timed_out());  // the unlocked job overlapped with a locked one
  CHECK(locked.peak() == 1);
  CHECK(t.log.peak_running({"l1", "l2", "l3"}) == 1);
  CHECK(t.log.peak_running() == 2);
}

// --- parallel -----------------------------------------------------------------------------------

TEST_CASE("no more than `parallel` jobs run at once, and that many do") {
  sluice_test::watchdog guard{60s};
  sluice_test::concurrency_tracker tracker;
  sluice_test::gate three{3};
  logged_graph t{{.parallel = 3}};
  for (int i = 0; i < 10; ++i) {
    t.g.add("j" + std::to_string(i), [&] {
      auto in = tracker.track();
      three.arrive_and_wait();
    });
  }
  t.g.run("j*");
  t.g.wait_all();
  CHECK_FALSE(three.timed_out());
  CHECK(tracker.peak() == 3);
  CHECK(t.log.peak_running() == 3);
  CHECK(t.log.of(kind::succeeded).size() == 10);
}

TEST_CASE("a job blocked in ctx.wait frees its slot: with parallel 1 it waits for a job it started") {
  sluice_test::watchdog guard{60s};
  logged_graph t{{.parallel = 1}};
  t.g.add("child::[n]", [](sluice::job_context& ctx) { return std::stoi(ctx.arg("n")); });
  t.g.add("parent", [](sluice::job_context& ctx) {
    ctx.run("child::1");
    ctx.run("child::2");
    ctx.wait(names{"child::1", "child::2"});
    return ctx.result<int>("child::1") + ctx.result<int>("child::2");
  });
  t.g.run("parent");
  t.g.wait_all();
  CHECK(t.g.result<int>("parent") == 3);
  // The children ran one at a time while parent waited.
  CHECK(t.log.peak_running({"child::1", "child::2"}) == 1);
}

TEST_CASE("a job waiting in ctx.wait keeps its locks") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("child", {.locks = {"disk"}}, [] {});
  t.g.add("other", [] {});
  t.g.add("parent", {.locks = {"disk"}}, [](sluice::job_context& ctx) {
    ctx.run("other");
    ctx.wait("other");
    ctx.run("child");  // needs the lock parent holds: it runs once parent has ended
  });
  t.g.run("parent");
  t.g.wait_all();
  CHECK(t.log.at("parent", kind::succeeded) < t.log.at("child", kind::started));
}

// --- timeouts -----------------------------------------------------------------------------------

TEST_CASE("a timeout fails the job, requests its stop, and the graph's destructor waits for the call") {
  sluice_test::watchdog guard{60s};
  sluice::manual_clock fake{sluice::manual_clock::sleeping::blocks};
  sluice_test::gate slow_running;
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> call_returned{false};
  std::string caught;
  {
    logged_graph t{{.clock = &fake}};
    t.g.add("slow", {.timeout = 100ms}, [&](sluice::job_context&, std::stop_token stop) {
      slow_running.open();
      saw_stop = wait_for_stop(stop);
      // Still running after the job has failed: the graph must wait for this call.
      std::this_thread::sleep_for(20ms);
      call_returned = true;
      return 1;
    });
    t.g.add("quick", {.timeout = 100ms}, [] { return 2; });
    t.g.add("outer", [&](sluice::job_context& ctx) {
      ctx.run("slow");
      try {
        ctx.wait("slow");
        caught = "nothing";
      } catch (const sluice::job_failed& e) {
        REQUIRE(e.jobs().size() == 1);
        caught = std::string{sluice::to_string(e.jobs()[0].reason)};
      }
      ctx.run("quick");
      ctx.wait("quick");
      return ctx.result<int>("quick");
    });
    t.g.run("outer");
    REQUIRE(slow_running.wait());
    fake.advance(99ms);
    CHECK(t.g.state("slow") == sluice::job_state::running);
    fake.advance(1ms);
    CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
    const auto slow = t.g.info("slow");
    CHECK(slow.state == sluice::job_state::failed);
    CHECK(slow.reason == sluice::job_reason::timeout);
    CHECK_THROWS_AS(std::rethrow_exception(slow.error), sluice::timeout_error);
    CHECK(t.g.result<int>("outer") == 2);
    CHECK(t.g.state("quick") == sluice::job_state::succeeded);
    CHECK_THROWS_AS(t.g.result<int>("slow"), sluice::job_failed);  // its late value is dropped
  }
  CHECK(call_returned);  // the destructor waited for the abandoned call
  CHECK(saw_stop);
  CHECK(caught == "timeout");
}

TEST_CASE("a job that times out while it waits in ctx.wait leaves the wait at once") {
  sluice_test::watchdog guard{60s};
  sluice::manual_clock fake{sluice::manual_clock::sleeping::blocks};
  sluice_test::gate inner_running;
  sluice_test::gate release_inner;
  std::atomic<bool> outer_returned{false};
  std::string left_wait_with;
  logged_graph t{{.clock = &fake}};
  t.g.add("inner", [&] {
    inner_running.open();
    REQUIRE(release_inner.wait());
  });
  t.g.add("outer", {.timeout = 100ms}, [&](sluice::job_context& ctx) {
    ctx.run("inner");
    try {
      ctx.wait("inner");
      left_wait_with = "the end of inner";
    } catch (const std::runtime_error& e) {
      left_wait_with = e.what();
    }
    outer_returned = true;
  });
  t.g.run("outer");
  REQUIRE(inner_running.wait());
  fake.advance(100ms);
  CHECK_THROWS_AS(t.g.wait("outer"), sluice::job_failed);  // at the deadline; inner still runs
  CHECK(t.g.info("outer").reason == sluice::job_reason::timeout);
  CHECK(t.g.state("inner") == sluice::job_state::running);
  // The abandoned call left its wait although inner has not ended.
  while (!outer_returned) std::this_thread::yield();
  CHECK(left_wait_with.find("stopped") != std::string::npos);
  release_inner.open();
  t.g.wait("inner");
  CHECK(t.g.state("inner") == sluice::job_state::succeeded);
}

// --- retries ------------------------------------------------------------------------------------

TEST_CASE("a job with a retry policy is called again after failing, and its events show each attempt") {
  sluice_test::watchdog guard{60s};
  std::atomic<int> calls{0};
  logged_graph t;
  t.g.add("flaky", {.retry = sluice::retry_policy{.max_attempts = 3, .min_delay = 0ms, .jitter = false}},
          [&] {
            if (++calls < 3) throw std::runtime_error("try " + std::to_string(calls.load()));
            return 7;
          });
  t.g.run("flaky");
  t.g.wait_all();
  CHECK(t.g.result<int>("flaky") == 7);
  CHECK(calls == 3);
  CHECK(t.g.info("flaky").attempts == 3);
  std::vector<std::string> seen;
  for (const auto& e : t.log.of_job("flaky")) {
    seen.push_back(std::string{sluice::to_string(e.event)} + " " + std::to_string(e.attempt) +
                   (e.detail.empty() ? "" : " " + e.detail));
  }
  CHECK(seen == names{"wanted 0", "start 1", "retrying 1 try 1", "start 2", "retrying 2 try 2",
                      "start 3", "ok 3"});
}

TEST_CASE("a job's retries wait the policy's backoff on the graph's clock, then give up") {
  sluice_test::watchdog guard{60s};
  sluice::manual_clock fake;  // sleeps move the time at once
  std::atomic<int> calls{0};
  logged_graph t{{.clock = &fake}};
  t.g.add("broken",
          {.retry = sluice::retry_policy{.max_attempts = 3, .backoff = 2.0, .min_delay = 100ms,
                                         .jitter = false}},
          [&]() -> int { throw std::runtime_error("attempt " + std::to_string(++calls)); });
  t.g.run("broken");
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(calls == 3);
  CHECK(fake.sleeps() == std::vector<sluice::clock::duration>{100ms, 200ms});
  const auto info = t.g.info("broken");
  CHECK(info.reason == sluice::job_reason::exception);
  CHECK(info.detail == "attempt 3");
  CHECK(info.attempts == 3);
  CHECK(t.log.of(kind::retrying).size() == 2);
}

TEST_CASE("a retry policy's retry_if decides which failures are retried") {
  sluice_test::watchdog guard{60s};
  std::atomic<int> calls{0};
  logged_graph t;
  t.g.add("picky",
          {.retry = sluice::retry_policy{
               .max_attempts = 5, .min_delay = 0ms, .jitter = false,
               .retry_if = [](std::exception_ptr e) {
                 try {
                   std::rethrow_exception(e);
                 } catch (const std::logic_error&) {
                   return false;
                 } catch (...) {
                   return true;
                 }
               }}},
          [&] {
            if (++calls == 1) throw std::runtime_error("transient");
            throw std::logic_error("permanent");
          });
  t.g.run("picky");
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(calls == 2);
  CHECK(t.g.info("picky").detail == "permanent");
}

// --- failures, keep-going, fail-fast, cancel ---------------------------------------------------

TEST_CASE("by default a failure lets independent branches finish") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate bad_failed;
  logged_graph t;
  t.g.add("bad", [] { throw std::runtime_error("no"); });
  t.g.add("after_bad", {.deps = {"bad"}}, [] {});
  t.g.add("a", [&] { bad_failed.wait(); });  // still running when bad fails
  t.g.add("b", {.deps = {"a"}}, [] { return 2; });
  t.g.start(names{"after_bad", "b"});
  CHECK_THROWS_AS(t.g.wait("bad"), sluice::job_failed);
  bad_failed.open();
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(t.g.state("a") == sluice::job_state::succeeded);
  CHECK(t.g.result<int>("b") == 2);
  CHECK(t.g.info("after_bad").reason == sluice::job_reason::dependency_failed);
}

TEST_CASE("fail_fast skips every job not started after the first failure, and running jobs finish") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate a_running, bad_failed;
  std::atomic<bool> a_stop_requested{false};
  std::atomic<int> b_ran{0};
  logged_graph t{{.fail_fast = true}};
  t.g.add("a", [&](sluice::job_context&, std::stop_token stop) {
    a_running.open();
    bad_failed.wait();
    a_stop_requested = stop.stop_requested();
    return 1;
  });
  t.g.add("b", {.deps = {"a"}}, [&] { ++b_ran; });
  t.g.add("bad", [&] {
    a_running.wait();
    throw std::runtime_error("first failure");
  });
  t.g.add("after_bad", {.deps = {"bad"}}, [] {});
  t.g.start(names{"b", "after_bad"});
  CHECK_THROWS_AS(t.g.wait("bad"), sluice::job_failed);
  CHECK(t.g.state("b") == sluice::job_state::skipped);  // before a has ended
  bad_failed.open();
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(b_ran == 0);
  const auto b = t.g.info("b");
  CHECK(b.state == sluice::job_state::skipped);
  CHECK(b.reason == sluice::job_reason::cancelled);
  CHECK(t.g.state("after_bad") == sluice::job_state::skipped);
  CHECK(t.g.info("after_bad").reason == sluice::job_reason::cancelled);
  CHECK(t.g.info("bad").reason == sluice::job_reason::exception);
  // docs/jobs.md: "running jobs finish" (jobs.hpp's header says they get a stop request).
  CHECK_FALSE(a_stop_requested);
  CHECK(t.g.result<int>("a") == 1);
  CHECK(t.log.of(kind::started) == names{"a", "bad"});
}

TEST_CASE("cancel skips the jobs not started and stops the running ones") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate a_running;  // what the jobs use outlives the graph
  std::atomic<bool> a_stopped{false};
  logged_graph t;
  t.g.add("a", [&](sluice::job_context& ctx) {
    a_running.open();
    a_stopped = wait_for_stop(ctx.stop_token());
  });
  t.g.add("b", {.deps = {"a"}}, [] {});
  t.g.add("untouched", [] {});
  t.g.run("b");
  REQUIRE(a_running.wait());
  t.g.cancel();
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(t.g.info("a").state == sluice::job_state::failed);
  CHECK(t.g.info("a").reason == sluice::job_reason::cancelled);
  CHECK(t.g.info("b").state == sluice::job_state::skipped);
  CHECK(t.g.info("b").reason == sluice::job_reason::cancelled);
  CHECK(t.g.state("untouched") == sluice::job_state::idle);
  REQUIRE(sluice_test::eventually([&] { return a_stopped.load(); }));
}

TEST_CASE("retry_failed reruns only the failed jobs and their dependants that never ran") {
  sluice_test::watchdog guard{60s};
  call_counter calls;
  std::atomic<bool> fixed{false};
  logged_graph t;
  t.g.add("good", [&] { calls.hit("good"); return 1; });
  t.g.add("flaky", [&] {
    calls.hit("flaky");
    if (!fixed) throw std::runtime_error("not yet");
    return 2;
  });
  t.g.add("after", {.deps = {"flaky"}}, [&](sluice::job_context& ctx) {
    calls.hit("after");
    return ctx.result<int>("flaky") + 1;
  });
  t.g.add("top", {.deps = {"good", "after"}}, [&](sluice::job_context& ctx) {
    calls.hit("top");
    return ctx.result<int>("good") + ctx.result<int>("after");
  });
  t.g.run("top");
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(t.g.state("top") == sluice::job_state::failed);
  fixed = true;
  CHECK(t.g.retry_failed() == names{"flaky", "after", "top"});
  CHECK_NOTHROW(t.g.wait_all());
  CHECK(t.g.result<int>("top") == 4);
  CHECK(calls.of("good") == 1);
  CHECK(calls.of("flaky") == 2);
  CHECK(calls.of("after") == 1);
  CHECK(calls.of("top") == 1);
  CHECK(t.g.retry_failed().empty());
}

// --- timers, cancellation and lifetime together ------------------------------------------------

TEST_CASE("an attempt that times out is retried, and the next attempt can succeed") {
  sluice_test::watchdog guard{60s};
  sluice::manual_clock fake{sluice::manual_clock::sleeping::blocks};
  std::atomic<bool> first_stopped{false};
  sluice_test::gate first_running;  // outlive the graph, which waits for the abandoned call
  std::atomic<int> calls{0};
  {
    logged_graph t{{.clock = &fake}};
    t.g.add("sometimes_slow",
            {.timeout = 50ms,
             .retry = sluice::retry_policy{.max_attempts = 2, .min_delay = 0ms, .jitter = false}},
            [&](sluice::job_context&, std::stop_token stop) {
              if (++calls == 1) {
                first_running.open();
                first_stopped = wait_for_stop(stop);
                return 0;  // discarded: this attempt timed out
              }
              return 2;
            });
    t.g.run("sometimes_slow");
    REQUIRE(first_running.wait());
    fake.advance(50ms);
    t.g.wait_all();
    CHECK(t.g.result<int>("sometimes_slow") == 2);
    std::vector<std::string> seen;
    for (const auto& e : t.log.of_job("sometimes_slow")) {
      seen.push_back(std::string{sluice::to_string(e.event)} + " " + std::to_string(e.attempt));
    }
    CHECK(seen == names{"wanted 0", "start 1", "retrying 1", "start 2", "ok 2"});
  }
  CHECK(first_stopped);
}

TEST_CASE("cancel during a retry's delay ends the job without another attempt") {
  sluice_test::watchdog guard{60s};
  sluice::manual_clock fake{sluice::manual_clock::sleeping::blocks};
  std::atomic<int> calls{0};
  logged_graph t{{.clock = &fake}};
  t.g.add("flaky", {.retry = sluice::retry_policy{.max_attempts = 3, .min_delay = 1000ms,
                                                  .max_delay = 1000ms, .jitter = false}},
          [&]() -> int { throw std::runtime_error("attempt " + std::to_string(++calls)); });
  t.g.add("after", {.deps = {"flaky"}}, [] {});
  t.g.run("after");
  REQUIRE(sluice_test::eventually([&] { return t.log.of(kind::retrying).size() == 1; }));
  t.g.cancel();
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  fake.advance(10'000ms);  // the delay's timer finds the job ended
  CHECK(calls == 1);
  CHECK(t.g.info("flaky").reason == sluice::job_reason::cancelled);
  CHECK(t.g.info("after").reason == sluice::job_reason::cancelled);
  CHECK(t.g.info("after").state == sluice::job_state::skipped);
}

TEST_CASE("retry_failed after cancel runs the cancelled jobs again") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate a_running;  // what the jobs use outlives the graph
  call_counter calls;
  logged_graph t;
  t.g.add("a", [&](sluice::job_context& ctx) {
    if (calls.hit("a") == 1) {
      a_running.open();
      wait_for_stop(ctx.stop_token());
    }
    return 1;
  });
  t.g.add("b", {.deps = {"a"}}, [&](sluice::job_context& ctx) {
    calls.hit("b");
    return ctx.result<int>("a") + 1;
  });
  t.g.run("b");
  REQUIRE(a_running.wait());
  t.g.cancel();
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(t.g.retry_failed() == names{"a", "b"});
  t.g.wait_all();
  CHECK(t.g.result<int>("b") == 2);
  CHECK(calls.of("a") == 2);
  CHECK(calls.of("b") == 1);
}

TEST_CASE("the destructor cancels the jobs still wanted and waits for the running calls") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate a_running;
  std::atomic<bool> a_stopped{false};
  std::atomic<bool> a_returned{false};
  std::atomic<int> b_ran{0};
  event_log log;
  {
    sluice::job_graph g{{.live = sluice::live_output::off, .on_event = std::ref(log)}};
    g.add("a", [&](sluice::job_context&, std::stop_token stop) {
      a_running.open();
      a_stopped = wait_for_stop(stop);
      std::this_thread::sleep_for(20ms);  // still running while the destructor waits
      a_returned = true;
    });
    g.add("b", {.deps = {"a"}}, [&] { ++b_ran; });
    g.run("b");
    REQUIRE(a_running.wait());
  }
  CHECK(a_stopped);
  CHECK(a_returned);
  CHECK(b_ran == 0);
  CHECK(log.of(kind::skipped) == names{"b"});
  CHECK(log.of(kind::failed) == names{"a"});
}

TEST_CASE("a wait from inside a job that could never end is refused: a higher wave, a held lock") {
  sluice_test::watchdog guard{60s};
  std::string wave_refusal, lock_refusal, dep_lock_refusal;
  logged_graph t;
  t.g.add("high", {.wave = 1}, [] {});
  t.g.add("needs_disk", {.locks = {"disk"}}, [] {});
  t.g.add("after_needs_disk", {.deps = {"needs_disk"}}, [] {});
  t.g.add("low", {.locks = {"disk"}}, [&](sluice::job_context& ctx) {
    ctx.run("high");
    wave_refusal = refusal([&] { ctx.wait("high"); });
    ctx.run("after_needs_disk");
    lock_refusal = refusal([&] { ctx.wait("needs_disk"); });
    dep_lock_refusal = refusal([&] { ctx.wait("after_needs_disk"); });
  });
  t.g.run("low");
  t.g.wait_all();
  CHECK_MESSAGE(mentions(wave_refusal, {"'low'", "'high'", "wave"}), wave_refusal);
  CHECK_MESSAGE(mentions(lock_refusal, {"'low'", "'needs_disk'", "'disk'"}), lock_refusal);
  CHECK_MESSAGE(mentions(dep_lock_refusal, {"'low'", "'needs_disk'", "'disk'"}), dep_lock_refusal);
  CHECK(t.g.state("high") == sluice::job_state::succeeded);
  CHECK(t.g.state("after_needs_disk") == sluice::job_state::succeeded);
}

TEST_CASE("a job that throws something not derived from std::exception fails with reason exception") {
  sluice_test::watchdog guard{60s};
  std::atomic<int> calls{0};
  logged_graph t;
  t.g.add("odd", {.retry = sluice::retry_policy{.max_attempts = 3, .min_delay = 0ms, .jitter = false}},
          [&] {
            ++calls;
            throw 42;
          });
  t.g.run("odd");
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);
  CHECK(calls == 1);  // the default retry_if retries only std::exception
  CHECK(t.g.info("odd").reason == sluice::job_reason::exception);
  CHECK_THROWS_AS(std::rethrow_exception(t.g.info("odd").error), int);
}

TEST_CASE("many threads starting, waiting for and reading the same jobs run each job once") {
  sluice_test::watchdog guard{60s};
  call_counter calls;
  logged_graph t{{.parallel = 4}};
  t.g.add("base", [&] {
    calls.hit("base");
    return 1;
  });
  t.g.add("p::[n]", {.deps = {"base"}}, [&](sluice::job_context& ctx) {
    calls.hit(ctx.name());
    return std::stoi(ctx.arg("n")) + ctx.result<int>("base");
  });
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int k = 0; k < 6; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 20; ++i) {
        const std::string name = "p::" + std::to_string((i + k * 3) % 20);
        t.g.run(name);
        t.g.wait(name);
        if (t.g.result<int>(name) != std::stoi(name.substr(3)) + 1) ++wrong;
        (void)t.g.info(name);
        (void)t.g.to_json();
      }
    });
  }
  for (auto& th : threads) th.join();
  t.g.wait_all();
  CHECK(wrong == 0);
  CHECK(calls.of("base") == 1);
  for (int i = 0; i < 20; ++i) CHECK(calls.of("p::" + std::to_string(i)) == 1);
  CHECK(t.g.jobs().size() == 21);
}
