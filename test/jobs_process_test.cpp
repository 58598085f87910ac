// Tests of sluice/jobs.hpp in process mode: each attempt of a process job runs in a forked
// worker; results, context calls, exceptions, crashes, timeouts and output cross its pipes.
#include <sluice/jobs.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/errors.hpp>

#include "common/gate.hpp"
#include "common/processes.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

using sluice_test::caught;

namespace {

constexpr auto process = sluice::execution::process;

sluice::job_graph_options quiet(std::size_t parallel = 100,
                                sluice::execution mode = sluice::execution::thread) {
  return {.parallel = parallel, .mode = mode, .live = sluice::live_output::off};
}


bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What `f()` throws: its what(), prefixed by its kind ("invalid_argument: ..."), or "none".
template <class F>
std::string thrown_by(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return std::string{"invalid_argument: "} + e.what();
  } catch (const sluice::job_failed& e) {
    return std::string{"job_failed: "} + e.what();
  } catch (const std::exception& e) {
    return std::string{"other: "} + e.what();
  }
  return "none";
}

// Sleeps until killed.
[[noreturn]] void sleep_forever() {
  for (;;) std::this_thread::sleep_for(1s);
}

bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

TEST_CASE("a process job's result reaches a thread dependant and a thread job's a process one") {
  sluice_test::watchdog guard{60s};
  const auto parent = static_cast<int>(getpid());
  const std::string big(1 << 20, 'x');  // larger than a pipe: replies and results are streamed
  sluice::job_graph g{quiet()};
  g.add("t1", [] { return 20; });
  g.add("p1", {.deps = {"t1"}, .mode = process},
        [](sluice::job_context& ctx) { return ctx.result<int>("t1") + 1; });
  g.add("t2", {.deps = {"p1"}}, [](sluice::job_context& ctx) { return ctx.result<int>("p1") * 2; });
  g.add("big", [&] { return big; });
  g.add("p2", {.deps = {"t2", "big"}, .mode = process}, [](sluice::job_context& ctx) {
    return std::vector<int>{ctx.result<int>("t2"), static_cast<int>(getpid()),
                            static_cast<int>(ctx.result<std::string>("big").size())};
  });
  g.add("p3", {.deps = {"big"}, .mode = process},
        [](sluice::job_context& ctx) { return ctx.result<std::string>("big") + "!"; });
  g.add("t3", {.deps = {"p3"}},
        [](sluice::job_context& ctx) { return ctx.result<std::string>("p3").size(); });
  g.run("p2");
  g.run("t3");
  g.wait_all();
  const auto p2 = g.result<std::vector<int>>("p2");
  REQUIRE(p2.size() == 3);
  CHECK(p2[0] == 42);
  CHECK(p2[1] != parent);  // it ran in another process
  CHECK(p2[2] == 1 << 20);
  CHECK(g.result<int>("p1") == 21);
  CHECK(g.result<std::size_t>("t3") == big.size() + 1);
}

TEST_CASE("a process job that throws fails with remote_exception, its type and what() kept") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet(4, process)};
  g.add("bad", [] {
    throw std::out_of_range("index 7 is past the end");
    return 0;
  });
  g.add("after", {.deps = {"bad"}}, [] {});
  g.run("after");
  CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
  const sluice::job_info info = g.info("bad");
  CHECK(info.state == sluice::job_state::failed);
  CHECK(info.reason == sluice::job_reason::remote_exception);
  CHECK(info.detail == "index 7 is past the end");
  std::string what;
  const auto remote = caught<sluice::remote_error>(info.error, what);
  REQUIRE_MESSAGE(remote.has_value(), what);
  CHECK(remote->type_name() == "std::out_of_range");
  CHECK(what == "index 7 is past the end");
  CHECK(g.info("after").reason == sluice::job_reason::dependency_failed);
}

TEST_CASE("a process job that throws sluice::skipped ends skipped, and its dependants run") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet(4, process)};
  g.add("skip", [] { throw sluice::skipped{}; });
  g.add("after", {.deps = {"skip"}}, [] { return 1; });
  g.run("after");
  g.wait_all();
  CHECK(g.info("skip").state == sluice::job_state::skipped);
  CHECK(g.info("skip").reason == sluice::job_reason::skipped);
  CHECK(g.result<int>("after") == 1);
}

TEST_CASE("a process job whose worker dies fails with crashed, naming the signal or exit code") {
  sluice_test::watchdog guard{60s};
  struct expected {
    const char* job;
    void (*die)();
    int signal;
    int code;
    const char* words;
  };
  const expected cases[] = {
      {"aborts", [] { std::abort(); }, SIGABRT, -1, "signal 6 (SIGABRT"},
      {"segfaults", [] { std::raise(SIGSEGV); }, SIGSEGV, -1, "signal 11 (SIGSEGV"},
      {"exits", [] { _exit(3); }, 0, 3, "exited with code 3"},
  };
  sluice::job_graph g{quiet(4, process)};
  for (const expected& c : cases) {
    g.add(c.job, [die = c.die] {
      std::cerr << "about to die\n";
      die();
    });
  }
  for (const expected& c : cases) g.start(c.job);
  CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
  for (const expected& c : cases) {
    CAPTURE(c.job);
    const sluice::job_info info = g.info(c.job);
    CHECK(info.state == sluice::job_state::failed);
    CHECK(info.reason == sluice::job_reason::crashed);
    CHECK(contains(info.detail, c.words));
    CHECK(contains(info.detail, "job '" + std::string{c.job} + "'"));
    CHECK(contains(info.output, "about to die"));  // output written before the death is kept
    std::string what;
    const auto crashed = caught<sluice::worker_crashed>(info.error, what);
    REQUIRE_MESSAGE(crashed.has_value(), what);
    CHECK(crashed->signal() == c.signal);
    CHECK(crashed->exit_code() == c.code);
  }
}

TEST_CASE("a process job past its timeout fails with timeout and its worker is killed and reaped") {
  sluice_test::watchdog guard{60s};
  const std::size_t children_before = sluice_test::children_of_this_process();
  sluice_test::shared_counters pids;
  sluice::job_graph g{quiet(4, process)};
  g.add("sleeper", {.timeout = 200ms}, [&pids] {
    pids[0].store(getpid());
    sleep_forever();
  });
  g.run("sleeper");
  CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
  const sluice::job_info info = g.info("sleeper");
  CHECK(info.state == sluice::job_state::failed);
  CHECK(info.reason == sluice::job_reason::timeout);
  const auto pid = static_cast<pid_t>(pids[0].load());
  REQUIRE(pid > 0);
  CHECK(sluice_test::eventually([&] { return process_gone(pid); }));  // reaped: no zombie
  CHECK(sluice_test::eventually(
      [&] { return sluice_test::children_of_this_process() == children_before; }));
}

TEST_CASE("cancel and the destructor kill running process jobs' workers") {
  sluice_test::watchdog guard{60s};
  const std::size_t children_before = sluice_test::children_of_this_process();
  sluice_test::shared_counters pids;
  {
    sluice::job_graph g{quiet(4, process)};
    for (const std::size_t i : {0u, 1u}) {
      g.add("sleeper" + std::to_string(i), [&pids, i] {
        pids[i].store(getpid());
        sleep_forever();
      });
    }
    g.start(std::vector<std::string>{"sleeper0", "sleeper1"});
    REQUIRE(sluice_test::eventually([&] { return pids[0].load() > 0 && pids[1].load() > 0; }));
    g.cancel();
    CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
    CHECK(g.info("sleeper0").reason == sluice::job_reason::cancelled);
    CHECK(sluice_test::eventually([&] { return process_gone(static_cast<pid_t>(pids[0].load())); }));
    pids[0].store(0);
    g.add("last", [&pids] {
      pids[0].store(getpid());
      sleep_forever();
    });
    g.run("last");
    REQUIRE(sluice_test::eventually([&] { return pids[0].load() > 0; }));
  }  // destroyed while "last" runs
  CHECK(process_gone(static_cast<pid_t>(pids[0].load())));
  CHECK(process_gone(static_cast<pid_t>(pids[1].load())));
  CHECK(sluice_test::children_of_this_process() == children_before);
}

TEST_CASE("a process job calls create, start, wait and result on other jobs from its worker") {
  sluice_test::watchdog guard{60s};
  // parallel 1: the process job frees its slot while it waits, or the jobs it waits for could
  // never run.
  sluice::job_graph g{quiet(1)};
  g.add("sq::[n]", {.choices = {{"n", {"1", "2", "3"}}}},
        [](sluice::job_context& ctx) { return std::stoi(ctx.arg("n")) * std::stoi(ctx.arg("n")); });
  g.add("broken", [] {
    throw std::runtime_error("broken on purpose");
    return 0;
  });
  g.add("boss", {.mode = process}, [](sluice::job_context& ctx) {
    std::vector<std::string> out;
    const auto names = ctx.create("sq::*");
    ctx.start(names);
    ctx.wait(names);
    int sum = 0;
    for (const auto& n : names) sum += ctx.result<int>(n);
    out.push_back(std::to_string(names.size()) + " " + std::to_string(sum));
    out.push_back(thrown_by([&] { ctx.result<int>("nope"); }));
    out.push_back(thrown_by([&] { ctx.result<std::string>("sq::2"); }));
    out.push_back(thrown_by([&] { ctx.create("sq::[oops"); }));
    out.push_back(thrown_by([&] { ctx.run("broken"); ctx.wait("broken"); }));
    out.push_back(thrown_by([&] { ctx.result<int>("broken"); }));
    return out;
  });
  g.run("boss");
  CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);  // "broken" failed
  REQUIRE(g.state("boss") == sluice::job_state::succeeded);
  const auto out = g.result<std::vector<std::string>>("boss");
  REQUIRE(out.size() == 6);
  CHECK(out[0] == "3 14");
  // The worker sees what the graph throws in this process, with the same text.
  CHECK(out[1] == thrown_by([&] { g.result<int>("nope"); }));
  CHECK(out[2] == thrown_by([&] { g.result<std::string>("sq::2"); }));
  CHECK(out[3] == thrown_by([&] { g.create("sq::[oops"); }));
  CHECK(contains(out[1], "invalid_argument: "));
  CHECK(contains(out[2], "invalid_argument: "));
  CHECK(contains(out[3], "invalid_argument: "));
  CHECK(out[4] == thrown_by([&] { g.wait("broken"); }));
  CHECK(out[5] == thrown_by([&] { g.result<int>("broken"); }));
  CHECK(contains(out[4], "job_failed: "));
  CHECK(contains(out[4], "broken on purpose"));
}

TEST_CASE("a process job's stdout, stderr and log are its output, however much it writes") {
  sluice_test::watchdog guard{60s};
  constexpr std::size_t lots = 4 << 20;  // far more than a pipe holds
  sluice::job_graph g{quiet(4, process)};
  g.add("talker", [](sluice::job_context& ctx) {
    std::cout << "to cout\n";
    std::cerr << "to cerr\n";
    std::printf("with printf %d\n", 7);
    ctx.log() << "to the log\n";
    std::cout << std::string(lots, 'z') << '\n';
    std::fprintf(stderr, "last line\n");
    return 5;
  });
  g.run("talker");
  g.wait_all();
  CHECK(g.result<int>("talker") == 5);
  const std::string output = g.info("talker").output;
  CHECK(contains(output, "to cout\n"));
  CHECK(contains(output, "to cerr\n"));
  CHECK(contains(output, "with printf 7\n"));
  CHECK(contains(output, "to the log\n"));
  CHECK(contains(output, "last line\n"));
  CHECK(output.size() > lots);
}

TEST_CASE("a process job whose result type has no codec is refused by add()") {
  sluice_test::watchdog guard{60s};
  struct opaque {
    int x;
  };
  sluice::job_graph g{quiet()};
  CHECK_THROWS_AS(g.add("p", {.mode = process}, [] { return opaque{1}; }), std::invalid_argument);
  g.add("t", [] { return opaque{1}; });  // a thread job may return it
  sluice::job_graph all_process{quiet(4, process)};
  CHECK_THROWS_AS(all_process.add("p", [] { return opaque{1}; }), std::invalid_argument);
  all_process.add("v", [] {});  // nothing to send: no codec needed
}

TEST_CASE("a graph of 20 process jobs leaves no descriptor and no child behind") {
  sluice_test::watchdog guard{60s};
  {  // the process-wide services (the spawner, spare threads) are made before the baseline
    sluice::job_graph warm{quiet(4, process)};
    warm.add("w", [] { return 1; });
    warm.run("w");
    warm.wait_all();
  }
  const std::size_t fds_before = sluice_test::open_descriptors();
  const std::size_t children_before = sluice_test::children_of_this_process();
  {
    sluice::job_graph g{quiet(6, process)};
    std::vector<std::string> names;
    for (int i = 0; i < 20; ++i) {
      names.push_back("j" + std::to_string(i));
      sluice::job_options options;
      if (i == 3) options.timeout = 100ms;
      if (i % 5 == 4) options.deps = {"j0"};
      g.add(names.back(), std::move(options), [i](sluice::job_context& ctx) {
        std::cout << "job " << i << '\n';
        switch (i % 5) {
          case 1:
            throw std::runtime_error("thrown");
          case 2:
            if (i == 2) _exit(1);
            std::abort();
          case 3:
            if (i == 3) sleep_forever();
            break;
          case 4:
            return ctx.result<int>("j0") + i;
          default:
            break;
        }
        return i;
      });
    }
    g.start(names);
    CHECK_THROWS_AS(g.wait_all(), sluice::job_failed);
    CHECK(g.result<int>("j4") == 4);
    CHECK(g.info("j3").reason == sluice::job_reason::timeout);
    CHECK(g.info("j2").reason == sluice::job_reason::crashed);
    CHECK(g.info("j1").reason == sluice::job_reason::remote_exception);
  }
  CHECK(sluice_test::open_descriptors() == fds_before);
  CHECK(sluice_test::children_of_this_process() == children_before);
}

TEST_CASE("process jobs respect the graph's parallel cap, and reach it") {
  sluice_test::watchdog guard{60s};
  constexpr int jobs = 6;
  constexpr int cap = 2;
  enum : std::size_t { running, most, tokens, done };
  sluice_test::shared_counters counters;
  sluice::job_graph g{quiet(cap, process)};
  g.add("w::[i]", {.choices = {{"i", {"0", "1", "2", "3", "4", "5"}}}}, [&counters] {
    const std::int64_t now = counters[running].fetch_add(1) + 1;
    std::int64_t seen = counters[most].load();
    while (seen < now && !counters[most].compare_exchange_weak(seen, now)) {
    }
    for (;;) {  // held until the test hands out a token
      std::int64_t t = counters[tokens].load();
      if (t > 0 && counters[tokens].compare_exchange_weak(t, t - 1)) break;
      std::this_thread::sleep_for(1ms);
    }
    counters[running].fetch_sub(1);
    counters[done].fetch_add(1);
  });
  g.run("w::*");
  for (int i = 0; i < jobs; ++i) {
    const int expected = std::min(cap, jobs - i);
    CAPTURE(i);
    REQUIRE(sluice_test::eventually([&] { return counters[running].load() == expected; }));
    CHECK(counters[most].load() <= cap);
    counters[tokens].fetch_add(1);
    REQUIRE(sluice_test::eventually([&] { return counters[done].load() == i + 1; }));
  }
  g.wait_all();
  CHECK(counters[most].load() == cap);
}
