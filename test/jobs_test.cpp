// Tests of sluice/jobs.hpp: the job graph's contract, in thread mode — results, what runs when,
// failures and their reasons, jobs made from inside jobs, waits. (jobs_names_test.cpp: names,
// prototypes, globs and rdeps; jobs_schedule_test.cpp: waves, locks, the cap, timeouts,
// retries, cancellation; jobs_export_test.cpp: plan, DOT, JSON and the event stream.)
#include <sluice/jobs.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "common/gate.hpp"
#include "common/job_graphs.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

using sluice_test::call_counter;
using sluice_test::event_log;
using sluice_test::names;
using sluice_test::quiet;

}  // namespace

TEST_CASE("a dependency's result reaches its dependant, also when declared after it") {
  sluice_test::watchdog guard{60s};
  for (std::size_t parallel : {1u, 10u}) {
    sluice::job_graph g{quiet(parallel)};
    g.add("f2", {.deps = {"f1"}}, [](sluice::job_context& ctx) {
      return ctx.result<int>("f1") + 1;
    });
    g.add("f1", [] { return 41; });
    g.run("f2");
    g.wait_all();
    CHECK(g.result<int>("f2") == 42);
    CHECK(g.state("f1") == sluice::job_state::succeeded);
  }
}

TEST_CASE("a prototype's glob expands over its choices") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet(4)};
  g.add("setup", [](sluice::job_context&) { return std::string{"ok"}; });
  g.add("build::[env]",
        {.deps = {"setup"}, .locks = {"disk"}, .wave = 0, .choices = {{"env", {"dev", "prod"}}}},
        [](sluice::job_context& ctx) { return "built_" + ctx.arg("env"); });
  auto names = g.create("build::*");
  CHECK(names == std::vector<std::string>{"build::dev", "build::prod"});
  g.start(names);
  g.wait(names);
  CHECK(g.result<std::string>("build::dev") == "built_dev");
  CHECK(g.result<std::string>("build::prod") == "built_prod");
}

TEST_CASE("a failed dependency fails its dependants, which never run") {
  sluice_test::watchdog guard{60s};
  event_log log;
  std::atomic<int> ran{0};
  sluice::job_graph g{{.live = sluice::live_output::off, .on_event = std::ref(log)}};
  g.add("bad", []() -> int { throw std::runtime_error("boom"); });
  g.add("after", {.deps = {"bad"}}, [&] { ++ran; });
  g.run("after");
  CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
  CHECK(ran == 0);
  CHECK(g.info("after").reason == sluice::job_reason::dependency_failed);
  CHECK(g.info("after").detail == "bad");
  CHECK(log.of(sluice::job_event_kind::started) == std::vector<std::string>{"bad"});
}

TEST_CASE("a dependency cycle is refused, listed in order") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("a", {.deps = {"b"}}, [] {});
  g.add("b", {.deps = {"c"}}, [] {});
  g.add("c", {.deps = {"a"}}, [] {});
  CHECK_THROWS_WITH_AS(g.run("a"), doctest::Contains("a -> b -> c -> a"), std::invalid_argument);
}

// The job graph's introductory example as users were promised it, unchanged but for the one line
// marked: it runs "deploy::prod", which it never adds, so the test adds a prototype for it.
TEST_CASE("the job graph's introductory example compiles and does what its comments say") {
  sluice_test::watchdog guard{60s};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"  // the example's setup ignores its ctx
  sluice::job_graph g{{.parallel = 4}};
  g.add("deploy::[env]", [](sluice::job_context& ctx) { return ctx.arg("env"); });  // added
  g.add("setup", [](sluice::job_context& ctx) { return std::string{"ok"}; });
  g.add("build::[env]", {.deps = {"setup"}, .locks = {"disk"}, .wave = 0,
                         .choices = {{"env", {"dev", "prod"}}}},
        [](sluice::job_context& ctx) { return "built_" + ctx.arg("env"); });
  auto names = g.create("build::*");          // glob over choices -> {"build::dev", "build::prod"}
  g.start(names);
  g.run("deploy::prod");                      // create + start
  g.wait(names); g.wait_all();
  g.state("build::dev");                      // sluice::job_state::{idle, wanted, running,
                                              //   succeeded, failed, skipped}
  std::string r = g.result<std::string>("build::dev");
#pragma GCC diagnostic pop
  CHECK(names == std::vector<std::string>{"build::dev", "build::prod"});
  CHECK(g.state("build::dev") == sluice::job_state::succeeded);
  CHECK(g.state("deploy::prod") == sluice::job_state::succeeded);
  CHECK(r == "built_dev");
  CHECK(g.result<std::string>("build::prod") == "built_prod");
  CHECK(g.result<std::string>("setup") == "ok");
}

TEST_CASE("only started jobs and their dependencies run, and a later start runs the rest once") {
  sluice_test::watchdog guard{60s};
  call_counter calls;
  sluice::job_graph g{quiet()};
  auto body = [&](sluice::job_context& ctx) { calls.hit(ctx.name()); };
  g.add("a", body);
  g.add("b", {.deps = {"a"}}, body);
  g.add("c", {.deps = {"b"}}, body);
  g.add("d", body);
  g.run("b");
  g.wait_all();
  CHECK(calls.of("a") == 1);
  CHECK(calls.of("b") == 1);
  CHECK(calls.of("c") == 0);
  CHECK(calls.of("d") == 0);
  CHECK(g.state("c") == sluice::job_state::idle);
  CHECK(g.state("d") == sluice::job_state::idle);
  g.start(names{"a", "c", "d"});
  g.wait_all();
  for (const char* name : {"a", "b", "c", "d"}) {
    CAPTURE(name);
    CHECK(calls.of(name) == 1);
    CHECK(g.state(name) == sluice::job_state::succeeded);
  }
}

TEST_CASE("a job that returns nothing collects its dependencies' results") {
  sluice_test::watchdog guard{60s};
  std::vector<std::string> collected;
  sluice::job_graph g{quiet()};
  g.add("x", [] { return std::string{"ex"}; });
  g.add("y", [] { return 7; });
  g.add("collect", {.deps = {"x", "y"}}, [&](sluice::job_context& ctx) {
    collected.push_back(ctx.result<std::string>("x"));
    collected.push_back(std::to_string(ctx.result<int>("y")));
  });
  g.run("collect");
  g.wait_all();
  CHECK(collected == std::vector<std::string>{"ex", "7"});
  CHECK(g.state("collect") == sluice::job_state::succeeded);
  CHECK_THROWS_AS(g.result<int>("collect"), std::invalid_argument);  // it returns nothing
}

TEST_CASE("run starts an added job, and start or run on a wanted or running job does not run it again") {
  sluice_test::watchdog guard{60s};
  call_counter calls;
  sluice_test::gate running, release;
  sluice::job_graph g{quiet()};
  g.add("slow", [&](sluice::job_context& ctx) {
    calls.hit(ctx.name());
    running.open();
    release.wait();
  });
  g.add("after", {.deps = {"slow"}}, [&](sluice::job_context& ctx) { calls.hit(ctx.name()); });
  CHECK(g.run("after") == std::vector<std::string>{"after"});
  REQUIRE(running.wait());
  CHECK(g.state("slow") == sluice::job_state::running);
  CHECK(g.state("after") == sluice::job_state::wanted);
  CHECK(g.run("slow") == std::vector<std::string>{"slow"});
  g.start(names{"slow", "after"});
  g.run("after");
  release.open();
  g.wait_all();
  g.run("slow");  // finished: stays as it is
  g.wait_all();
  CHECK(calls.of("slow") == 1);
  CHECK(calls.of("after") == 1);
  CHECK(g.info("slow").attempts == 1);
}

TEST_CASE("wait_all throws job_failed naming each failed job with its reason") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("lint", []() -> int { throw std::runtime_error("bad style"); });
  g.add("deploy", {.deps = {"lint"}}, [] {});
  g.add("fine", [] { return 1; });
  g.start(names{"deploy", "fine"});
  try {
    g.wait_all();
    FAIL("wait_all did not throw");
  } catch (const sluice::job_failed& e) {
    CHECK(std::string{e.what()} ==
          "sluice: 2 jobs failed: lint (exception: bad style); deploy (dependency failed: lint)");
    REQUIRE(e.jobs().size() == 2);
    CHECK(e.jobs()[0].name == "lint");
    CHECK(e.jobs()[0].reason == sluice::job_reason::exception);
    CHECK(e.jobs()[0].detail == "bad style");
    REQUIRE(e.jobs()[0].error != nullptr);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(e.jobs()[0].error), "bad style",
                         std::runtime_error);
    CHECK(e.jobs()[1].name == "deploy");
    CHECK(e.jobs()[1].reason == sluice::job_reason::dependency_failed);
    CHECK(e.jobs()[1].detail == "lint");
    CHECK(e.jobs()[1].error == nullptr);
  }
  // wait() names only the jobs it waited for; result() of a failed job throws job_failed.
  CHECK_THROWS_WITH_AS(g.wait("deploy"),
                       "sluice: 1 job failed: deploy (dependency failed: lint)", sluice::job_failed);
  CHECK_NOTHROW(g.wait("fine"));
  CHECK_THROWS_AS(g.result<int>("lint"), sluice::job_failed);
  CHECK(g.result<int>("fine") == 1);
  const sluice::job_info lint = g.info("lint");
  CHECK(lint.state == sluice::job_state::failed);
  CHECK(lint.reason == sluice::job_reason::exception);
  CHECK(lint.attempts == 1);
  CHECK(g.info("deploy").attempts == 0);
}

TEST_CASE("a job's context creates, starts and waits for jobs, and reads their results after the wait") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("child::[n]", [](sluice::job_context& ctx) { return std::stoi(ctx.arg("n")) * 10; });
  g.add("parent", [](sluice::job_context& ctx) {
    CHECK(ctx.name() == "parent");
    CHECK(ctx.params().empty());
    CHECK(ctx.create("child::1") == std::vector<std::string>{"child::1"});
    ctx.start("child::1");
    CHECK(ctx.run("child::2") == std::vector<std::string>{"child::2"});
    ctx.start(std::vector<std::string>{"child::3"});
    ctx.wait(std::vector<std::string>{"child::1", "child::2"});
    ctx.wait("child::3");
    return ctx.result<int>("child::1") + ctx.result<int>("child::2") + ctx.result<int>("child::3");
  });
  g.run("parent");
  g.wait_all();
  CHECK(g.result<int>("parent") == 60);
  CHECK(g.state("child::3") == sluice::job_state::succeeded);
}

TEST_CASE("a job that waits for itself or for a job that depends on it is refused") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("self", [](sluice::job_context& ctx) {
    CHECK_THROWS_AS(ctx.wait("self"), std::invalid_argument);
    CHECK_THROWS_AS(ctx.wait("dependant"), std::invalid_argument);
  });
  g.add("dependant", {.deps = {"self"}}, [] {});
  g.run("dependant");
  g.wait_all();
  CHECK(g.state("self") == sluice::job_state::succeeded);
}

TEST_CASE("waiting for a job that never exists or was never started throws invalid_argument at once") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("idle", [] {});
  CHECK_THROWS_WITH_AS(g.wait("ghost"), doctest::Contains("'ghost'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(g.wait("idle"), doctest::Contains("'idle'"), std::invalid_argument);
  CHECK_THROWS_AS(g.state("ghost"), std::invalid_argument);
  CHECK_THROWS_AS(g.result<int>("ghost"), std::invalid_argument);
  CHECK_THROWS_AS(g.result<int>("idle"), std::invalid_argument);
  CHECK_NOTHROW(g.wait_all());  // nothing wanted
}

TEST_CASE("no_failures fails a job without running it when another job failed before its deps were met") {
  sluice_test::watchdog guard{60s};
  event_log log;
  sluice_test::gate release;
  std::atomic<int> ran{0};
  sluice::job_graph g{{.live = sluice::live_output::off, .on_event = std::ref(log)}};
  g.add("gatekeeper", [&] { release.wait(); });
  g.add("bad", [] { throw std::runtime_error("broken"); });
  g.add("release", {.deps = {"gatekeeper", sluice::no_failures}}, [&] { ++ran; });
  g.start(names{"release", "bad"});
  CHECK_THROWS_AS(g.wait("bad"), sluice::job_failed);
  CHECK(g.state("release") == sluice::job_state::wanted);  // judged once gatekeeper is done
  release.open();
  CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
  CHECK(ran == 0);
  const auto info = g.info("release");
  CHECK(info.state == sluice::job_state::failed);
  CHECK(info.reason == sluice::job_reason::run_aborted);
  CHECK(info.detail == "bad");
  CHECK(g.state("gatekeeper") == sluice::job_state::succeeded);
  CHECK(log.of(sluice::job_event_kind::started) ==
        std::vector<std::string>{"gatekeeper", "bad"});
}

TEST_CASE("no_failures lets a job run when nothing has failed") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("a", [] { return 1; });
  g.add("release", {.deps = {"a", sluice::no_failures}},
        [](sluice::job_context& ctx) { return ctx.result<int>("a") + 1; });
  g.run("release");
  g.wait_all();
  CHECK(g.result<int>("release") == 2);
}

TEST_CASE("a skipped job counts as success for its dependants") {
  sluice_test::watchdog guard{60s};
  std::atomic<int> ran{0};
  sluice::job_graph g{quiet()};
  g.add("maybe", []() -> int { throw sluice::skipped{}; });
  g.add("after", {.deps = {"maybe"}}, [&] { ++ran; });
  g.run("after");
  CHECK_NOTHROW(g.wait_all());
  CHECK(ran == 1);
  CHECK(g.state("maybe") == sluice::job_state::skipped);
  CHECK(g.info("maybe").reason == sluice::job_reason::skipped);
  CHECK(g.state("after") == sluice::job_state::succeeded);
  CHECK_THROWS_AS(g.result<int>("maybe"), std::invalid_argument);
}

TEST_CASE("a chain of 1000 trivial jobs completes") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("j0", [] { return 0; });
  for (int i = 1; i < 1000; ++i) {
    const std::string prev = "j" + std::to_string(i - 1);
    g.add("j" + std::to_string(i), {.deps = {prev}},
          [prev](sluice::job_context& ctx) { return ctx.result<int>(prev) + 1; });
  }
  g.run("j999");
  g.wait_all();
  CHECK(g.result<int>("j999") == 999);
  CHECK(g.jobs().size() == 1000);
}

TEST_CASE("a job's log, attempts and deps are kept in its info") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("a", [](sluice::job_context& ctx) { ctx.log() << "hello from a\n"; });
  g.add("b", {.deps = {"a"}}, [] {});
  g.run("b");
  g.wait_all();
  CHECK(g.info("a").output == "hello from a\n");
  CHECK(g.info("a").attempts == 1);
  CHECK(g.info("b").deps == std::vector<std::string>{"a"});
  CHECK(g.jobs() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("misused options and names are refused with invalid_argument") {
  sluice_test::watchdog guard{60s};
  CHECK_THROWS_AS(sluice::job_graph({.parallel = 0}), std::invalid_argument);
  CHECK_THROWS_AS(sluice::job_graph({.live = sluice::live_output::off, .separator = ""}),
                  std::invalid_argument);
  sluice::job_graph g{quiet()};
  g.add("a", [] {});
  CHECK_THROWS_WITH_AS(g.add("a", [] {}), doctest::Contains("'a'"), std::invalid_argument);
  CHECK_THROWS_AS(g.add("b::[x", [] {}), std::invalid_argument);
  CHECK_THROWS_AS(g.add("c", {.timeout = -1ms}, [] {}), std::invalid_argument);
  CHECK_THROWS_AS(g.add("d", {.retry = sluice::retry_policy{.max_attempts = 0}}, [] {}),
                  std::invalid_argument);
  CHECK_THROWS_WITH_AS(g.run("nobody"), doctest::Contains("'nobody'"), std::invalid_argument);
  g.add("e", {.deps = {"missing"}}, [] {});
  CHECK_THROWS_WITH_AS(g.run("e"), doctest::Contains("'missing'"), std::invalid_argument);
  CHECK(g.state("e") == sluice::job_state::idle);  // validated before anything is wanted
}
