// Tests of sluice/jobs.hpp: what a graph says about itself — plan(), to_dot(), to_json() — and
// the event stream, which follows the state machine of sluice/job_events.hpp.
#include <sluice/jobs.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "common/gate.hpp"
#include "common/job_graphs.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

using sluice_test::logged_graph;
using sluice_test::names;

using kind = sluice::job_event_kind;

// A graph with every kind of edge and a second wave:
//   setup -> build::[env] -> deploy::[env] -> report (wave 1); lint is an rdep of build::[env];
//   deploy::[env] declares when_scheduled("notify").
void add_release_graph(sluice::job_graph& g) {
  g.add("setup", [] {});
  g.add("lint", {.rdeps = {"build::[env]"}}, [] {});
  g.add("build::[env]", {.deps = {"setup"}}, [] {});
  g.add("deploy::[env]", {.deps = {"build::[env]"}, .rdeps = {sluice::when_scheduled("notify")}},
        [] {});
  g.add("notify", [] {});
  g.add("report", {.deps = {"deploy::dev"}, .wave = 1}, [] {});
}

std::vector<std::vector<std::string>> plan_lines(const sluice::job_plan& p) {
  std::vector<std::vector<std::string>> out;
  for (const auto& layer : p.layers) {
    std::vector<std::string> line;
    for (const auto& e : layer) line.push_back(e.job + " <- " + e.why);
    out.push_back(line);
  }
  return out;
}

}  // namespace

// --- plan ---------------------------------------------------------------------------------------

TEST_CASE("plan lists what start would run, in layers, with why each job is in, running nothing") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  add_release_graph(t.g);
  const sluice::job_plan p = t.g.plan({"report"});
  CHECK(plan_lines(p) == std::vector<std::vector<std::string>>{
                             {"setup <- dependency of build::dev", "lint <- rdep of build::dev"},
                             {"build::dev <- dependency of deploy::dev"},
                             {"deploy::dev <- dependency of report"},
                             {"notify <- when_scheduled by deploy::dev"},
                             {"report <- started"},
                         });
  CHECK(p.size() == 6);
  CHECK(t.log.copy().empty());
  for (const auto& name : t.g.jobs()) {
    CAPTURE(name);
    CHECK(t.g.state(name) == sluice::job_state::idle);
  }
}

TEST_CASE("plan equals the set of jobs a real run then starts, in an order the run respects") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  add_release_graph(t.g);
  const sluice::job_plan p = t.g.plan({"report"});
  std::map<std::string, std::size_t> layer_of;
  for (std::size_t i = 0; i < p.layers.size(); ++i) {
    for (const auto& e : p.layers[i]) layer_of[e.job] = i;
  }
  t.g.run("report");
  t.g.wait_all();
  const names started = t.log.of(kind::started);
  std::set<std::string> planned, ran(started.begin(), started.end());
  for (const auto& [job, layer] : layer_of) planned.insert(job);
  CHECK(planned == ran);
  CHECK(started.size() == ran.size());  // each once
  for (std::size_t i = 1; i < started.size(); ++i) {
    CAPTURE(started[i]);
    CHECK(layer_of[started[i - 1]] <= layer_of[started[i]]);
  }
  CHECK(t.g.plan({"report"}).size() == 0);  // nothing left to run
}

TEST_CASE("plan refuses what start would refuse") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{{.live = sluice::live_output::off}};
  g.add("a", {.deps = {"b"}}, [] {});
  g.add("b", {.deps = {"a"}}, [] {});
  g.add("w0", {.deps = {"w1"}}, [] {});
  g.add("w1", {.wave = 1}, [] {});
  CHECK_THROWS_WITH_AS(g.plan({"a"}), doctest::Contains("cycle"), std::invalid_argument);
  CHECK_THROWS_AS(g.plan({"w0"}), std::invalid_argument);
  CHECK_THROWS_AS(g.plan({"ghost"}), std::invalid_argument);
}

// --- DOT and JSON -------------------------------------------------------------------------------

TEST_CASE("to_dot and to_json hold every edge with its kind and every node coloured by its state") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  add_release_graph(t.g);
  t.g.add("bad", [] { throw std::runtime_error("no"); });
  t.g.add("never", {.deps = {"bad"}}, [] {});
  t.g.add("idle", [] {});
  t.g.start(names{"report", "never"});
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);

  const std::string dot = t.g.to_dot();
  CAPTURE(dot);
  CHECK(dot.rfind("digraph", 0) == 0);
  for (const char* edge : {
           R"("setup" -> "build::dev" [label="dep"];)",
           R"("lint" -> "build::dev" [label="rdep", style=dashed];)",
           R"("build::dev" -> "deploy::dev" [label="dep"];)",
           R"("deploy::dev" -> "notify" [label="when_scheduled", style=dashed];)",
           R"("deploy::dev" -> "report" [label="dep"];)",
           R"("bad" -> "never" [label="dep"];)",
       }) {
    CAPTURE(edge);
    CHECK(dot.find(edge) != std::string::npos);
  }
  CHECK(dot.find(R"("report" [fillcolor=palegreen)") != std::string::npos);
  CHECK(dot.find(R"("bad" [fillcolor=salmon)") != std::string::npos);
  CHECK(dot.find(R"("never" [fillcolor=salmon)") != std::string::npos);
  CHECK(dot.find(R"("idle" [fillcolor=white)") != std::string::npos);

  const std::string json = t.g.to_json();
  CAPTURE(json);
  for (const char* piece : {
           R"({"from":"setup","to":"build::dev","kind":"dep"})",
           R"({"from":"lint","to":"build::dev","kind":"rdep"})",
           R"({"from":"deploy::dev","to":"notify","kind":"when_scheduled"})",
           R"({"from":"deploy::dev","to":"report","kind":"dep"})",
           R"({"name":"report","state":"succeeded","reason":"","wave":1})",
           R"({"name":"bad","state":"failed","reason":"exception","wave":0})",
           R"({"name":"never","state":"failed","reason":"dependency failed","wave":0})",
           R"({"name":"idle","state":"idle","reason":"","wave":0})",
       }) {
    CAPTURE(piece);
    CHECK(json.find(piece) != std::string::npos);
  }
  CHECK(json.rfind(R"({"nodes":[)", 0) == 0);
}

TEST_CASE("the DOT of a graph is accepted by graphviz") {
  sluice_test::watchdog guard{60s};
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    MESSAGE("sluice-test-skipped: graphviz's dot is not installed");
    return;
  }
  logged_graph t;
  add_release_graph(t.g);
  t.g.add(R"(say "hi" \ there)", {.deps = {"report"}, .wave = 1}, [] {});
  t.g.run(R"(say "hi" \ there)");
  t.g.wait_all();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice_jobs_dot_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "graph.dot";
  {
    std::ofstream out(file);
    out << t.g.to_dot();
  }
  const std::string command =
      "dot -Tsvg '" + file.string() + "' -o '" + (dir / "graph.svg").string() + "' 2>&1";
  CHECK(std::system(command.c_str()) == 0);
  CHECK(std::filesystem::file_size(dir / "graph.svg") > 0);
  std::filesystem::remove_all(dir);
}

// --- events -------------------------------------------------------------------------------------

TEST_CASE("each job's events follow the state machine of job_events.hpp, one event at a time") {
  sluice_test::watchdog guard{60s};
  sluice_test::gate hang_running;  // what the jobs use outlives the graph
  std::atomic<int> flaky_calls{0};
  logged_graph t;
  t.g.add("ok", [] { return 1; });
  t.g.add("flaky", {.retry = sluice::retry_policy{.max_attempts = 3, .min_delay = 0ms, .jitter = false}},
          [&] {
            if (++flaky_calls < 3) throw std::runtime_error("again");
          });
  t.g.add("bad", [] { throw std::runtime_error("no"); });
  t.g.add("dep_failed", {.deps = {"bad"}}, [] {});
  t.g.add("maybe", [] { throw sluice::skipped{}; });
  t.g.add("after_maybe", {.deps = {"maybe"}}, [] {});
  t.g.add("aborted", {.deps = {"ok", sluice::no_failures}}, [] {});
  t.g.add("hang", [&](sluice::job_context&, std::stop_token stop) {
    hang_running.open();
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait_for(lock, stop, sluice_test::patience, [] { return false; });
  });
  t.g.add("after_hang", {.deps = {"hang"}}, [] {});
  const names all{"ok", "flaky", "bad", "dep_failed", "maybe", "after_maybe", "aborted",
                  "hang", "after_hang"};
  t.g.start(all);
  REQUIRE(hang_running.wait());
  try {
    t.g.wait(names{"ok", "flaky", "bad", "dep_failed", "maybe", "after_maybe", "aborted"});
  } catch (const sluice::job_failed&) {
  }
  t.g.cancel();
  CHECK_THROWS_AS(t.g.wait_all(), sluice::job_failed);

  const auto events = t.log.copy();
  CHECK(t.log.overlapped == 0);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].seq == i + 1);
    if (i > 0) CHECK(events[i].total >= events[i - 1].total);
  }
  REQUIRE(!events.empty());
  CHECK(events.back().total == all.size());

  auto is_final = [](kind k) {
    return k == kind::succeeded || k == kind::failed || k == kind::skipped;
  };
  for (const auto& job : all) {
    CAPTURE(job);
    std::vector<sluice::job_event> mine;
    for (const auto& e : events) {
      if (e.job == job) mine.push_back(e);
    }
    REQUIRE(mine.size() >= 2);
    CHECK(mine.front().event == kind::wanted);
    CHECK(mine.front().state == sluice::job_state::wanted);
    std::size_t attempt = 0;
    bool running = false;
    for (std::size_t i = 1; i < mine.size(); ++i) {
      const auto& e = mine[i];
      CAPTURE(i);
      CAPTURE(sluice::to_string(e.event));
      const bool last = i + 1 == mine.size();
      CHECK(is_final(e.event) == last);
      if (e.event == kind::started) {
        CHECK(mine[i - 1].event != kind::started);
        CHECK((attempt == 0 || mine[i - 1].event == kind::retrying));
        CHECK(e.attempt == ++attempt);
        CHECK(e.state == sluice::job_state::running);
        running = true;
      } else if (e.event == kind::retrying) {
        CHECK(mine[i - 1].event == kind::started);
        CHECK(e.attempt == attempt);
        CHECK(e.state == sluice::job_state::running);
        CHECK(!e.detail.empty());
      } else if (e.event == kind::succeeded) {
        CHECK(running);
        CHECK(mine[i - 1].event == kind::started);
        CHECK(e.state == sluice::job_state::succeeded);
        CHECK(e.reason == sluice::job_reason::none);
      } else if (e.event == kind::failed) {
        CHECK(e.state == sluice::job_state::failed);
        CHECK(e.reason != sluice::job_reason::none);
        if (!running) CHECK(e.duration == std::chrono::nanoseconds{0});
      } else if (e.event == kind::skipped) {
        CHECK(e.state == sluice::job_state::skipped);
      } else {
        FAIL("a second wanted event");
      }
    }
  }
  auto last_of = [&](const std::string& job) {
    sluice::job_event out;
    for (const auto& e : events) {
      if (e.job == job) out = e;
    }
    return out;
  };
  CHECK(last_of("ok").event == kind::succeeded);
  CHECK(last_of("flaky").event == kind::succeeded);
  CHECK(last_of("flaky").attempt == 3);
  CHECK(last_of("bad").reason == sluice::job_reason::exception);
  CHECK(last_of("bad").error != nullptr);
  CHECK(last_of("dep_failed").reason == sluice::job_reason::dependency_failed);
  CHECK(last_of("dep_failed").detail == "bad");
  CHECK(last_of("maybe").event == kind::skipped);
  CHECK(last_of("maybe").reason == sluice::job_reason::skipped);
  CHECK(last_of("after_maybe").event == kind::succeeded);
  CHECK(last_of("hang").reason == sluice::job_reason::cancelled);
  CHECK(last_of("after_hang").event == kind::skipped);
  CHECK(last_of("after_hang").reason == sluice::job_reason::cancelled);
}
