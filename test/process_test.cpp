// Tests of tasks marked sluice::process (sluice/task.hpp): their calls run in worker processes
// forked from the test, their items and results cross by sluice::codec, and a worker's death,
// exception or timeout fails only the item it ran. Calls in flight and attempts are counted in
// memory shared with the workers; children and descriptors in /proc.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <tuple>
#include <csignal>
#include <cstdlib>
#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/processes.hpp"
#include "common/sanitizers.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::caught;
using sluice_test::numbers;

namespace {

struct point {
  double x = 0;
  double y = 0;
  friend bool operator==(const point&, const point&) = default;
};

// The failures a run's on_error saw, for the test to read after the run.
struct failures {
  std::mutex mu;
  std::vector<sluice::failure> seen;
  auto handler() {
    return [this](const sluice::failure& f) {
      std::lock_guard lock(mu);
      seen.push_back(f);
    };
  }
};


// How a worker dies on the item it is given.
enum class death { segv, abort, kill, bus, fpe, exit3, exit0, quick_exit5 };

[[noreturn]] void die(death how) {
  switch (how) {
    case death::segv:
      std::raise(SIGSEGV);
      break;
    case death::abort:
      std::abort();
    case death::kill:
      kill(getpid(), SIGKILL);  // as from outside
      break;
    case death::bus:
      std::raise(SIGBUS);
      break;
    case death::fpe:
      std::raise(SIGFPE);
      break;
    case death::exit3:
      std::exit(3);
    case death::exit0:
      std::exit(0);
    case death::quick_exit5:
      _exit(5);
  }
  _exit(99);
}

// Forks a helper process that runs `body` (which may use sluice: it is a forked child of a
// process that did) and leaves with _exit(0). Returns its pid.
template <class Body>
pid_t helper_process(Body body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    body();
    _exit(0);
  }
  return pid;
}

// Reads what `fd` yields until end of file or `patience` passes.
std::string read_all(int fd) {
  std::string all;
  const auto give_up = std::chrono::steady_clock::now() + sluice_test::patience;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd readable{fd, POLLIN, 0};
    if (poll(&readable, 1, 50) <= 0) continue;
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    all.append(buffer, static_cast<std::size_t>(n));
  }
  return all;
}

}  // namespace

template <>
struct sluice::codec<point> {
  static void encode(const point& p, sluice::writer& w) {
    w.write(p.x);
    w.write(p.y);
  }
  static point decode(sluice::reader& r) { return {r.read<double>(), r.read<double>()}; }
};

TEST_SUITE("process mode") {
  TEST_CASE("a process task gives what the same task gives in threads, in order when asked") {
    sluice_test::watchdog guard{60s};
    auto square = [](int x) { return static_cast<long>(x) * x; };
    auto in_threads = (sluice::task(numbers, sluice::branch) | sluice::task(square)) >
                      sluice::to_vector();
    auto in_processes =
        (sluice::task(numbers, sluice::branch) |
         sluice::task(square, sluice::process, {.concurrency = 3, .ordered = true})) >
        sluice::to_vector();
    CHECK(in_processes(2000) == in_threads(2000));
  }

  TEST_CASE("a process task of concurrency 1 keeps input order without being asked") {
    sluice_test::watchdog guard{60s};
    auto negate = [](int x) { return -x; };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(negate, sluice::process)) >
               sluice::to_vector();
    const std::vector<int> got = run(5000);
    REQUIRE(got.size() == 5000);
    bool in_order = true;
    for (int i = 0; i < 5000; ++i) in_order = in_order && got[static_cast<std::size_t>(i)] == -i;
    CHECK(in_order);
  }

  TEST_CASE("a process task in a zip branch keeps every tuple whole, also when items fail") {
    sluice_test::watchdog guard{60s};
    auto doubled_unless_fifth = [](int x) {
      if (x % 5 == 0) throw sluice_test::test_error(x);
      return 2 * x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::zip(sluice::task(doubled_unless_fifth, sluice::process,
                                         {.concurrency = 2, .on_error = sluice::skip}),
                            sluice::task([](int x) { return std::to_string(x); }))) >
               sluice::to_vector();
    const auto out = run(1000);
    REQUIRE(out.size() == 800);  // a failed item drops its whole tuple
    std::vector<int> inputs;
    bool whole = true;
    for (const auto& [doubled, text] : out) {
      whole = whole && doubled == 2 * std::stoi(text) && std::stoi(text) % 5 != 0;
      inputs.push_back(std::stoi(text));
    }
    CHECK(whole);
    std::sort(inputs.begin(), inputs.end());
    CHECK(std::adjacent_find(inputs.begin(), inputs.end()) == inputs.end());
  }

  TEST_CASE("a process task holds the producer back: items ahead stay within the bound") {
    sluice_test::watchdog guard{60s};
    // docs/architecture.md: a process task's callers each hold one batch beyond its input
    // queue's room, and a batch is at most what that queue holds.
    constexpr std::size_t capacity = 4;
    constexpr std::int64_t callers = 2;
    const std::int64_t bound = 1 + capacity + callers * capacity + capacity;
    std::atomic<std::int64_t> produced{0};
    auto run = sluice::task(sluice_test::counted_numbers, sluice::branch, {.capacity = capacity}) |
               sluice::task(sluice_test::twice, sluice::process,
                            {.concurrency = callers, .capacity = capacity});
    const int limit = 2000;
    auto items = run(limit, &produced);
    std::int64_t consumed = 0;
    std::int64_t most_ahead = 0;
    for (int x : items) {
      static_cast<void>(x);
      ++consumed;
      // Holding still now and then lets the producer run as far ahead as it may.
      if (consumed % 250 == 1) std::this_thread::sleep_for(20ms);
      most_ahead = std::max(most_ahead, produced.load() - consumed);
    }
    CHECK(consumed == limit);
    CHECK(most_ahead <= bound);
    CHECK(most_ahead > capacity);  // it did run ahead: the check above could fail
  }

  TEST_CASE("stats().busy is the time the workers spent in calls, not the time callers waited") {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters started;
    auto slow_first = [&started](int x) {
      if (x == 0) {
        started[0].fetch_add(1);
        std::this_thread::sleep_for(300ms);
      }
      return x;
    };
    // Item 1 is handed over while item 0 runs, so it waits in the worker's queue for 300 ms:
    // time its caller waits, but not time spent in a call.
    auto items = [&started]() -> sluice::generator<int> {
      co_yield 0;
      sluice_test::eventually([&] { return started[0].load() == 1; });
      co_yield 1;
    };
    auto run = sluice::task(items, sluice::branch) | sluice::task(slow_first, sluice::process);
    auto out = run();
    std::size_t count = 0;
    for ([[maybe_unused]] int x : out) ++count;
    CHECK(count == 2);
    const auto busy = out.stats()[1].busy;
    CHECK(busy >= 300ms);
    CHECK(busy < 450ms);
  }

  TEST_CASE("the callable's captured state reaches the workers, and user types cross by codec") {
    sluice_test::watchdog guard{60s};
    const std::map<int, std::string> names{{0, "zero"}, {1, "one"}, {2, "two"}};
    auto label = [&names](int x) { return names.at(x % 3) + "#" + std::to_string(x); };
    auto labels = (sluice::task(numbers, sluice::branch) |
                   sluice::task(label, sluice::process, {.concurrency = 2, .ordered = true})) >
                  sluice::to_vector();
    const std::vector<std::string> got = labels(4);
    CHECK(got == std::vector<std::string>{"zero#0", "one#1", "two#2", "zero#3"});

    auto mirror = [](point p) { return point{p.y, p.x}; };
    auto points = (sluice::task([] { return std::vector<point>{{1, 2}, {3, 4}}; }, sluice::branch) |
                   sluice::task(mirror, sluice::process, {.ordered = true})) >
                  sluice::to_vector();
    CHECK(points() == std::vector<point>{{2, 1}, {4, 3}});
  }

  TEST_CASE("a string of 1 MiB crosses both ways") {
    sluice_test::watchdog guard{60s};
    auto longer = [](std::string s) { return s + s; };
    auto run = (sluice::task([] { return std::vector<std::string>(3, std::string(1 << 20, 'x')); },
                             sluice::branch) |
                sluice::task(longer, sluice::process, {.concurrency = 2})) >
               sluice::to_vector();
    const auto got = run();
    REQUIRE(got.size() == 3);
    for (const auto& s : got) CHECK(s == std::string(2 << 20, 'x'));
  }

  TEST_CASE("calls run in as many worker processes at once as the task's concurrency") {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters shared;
    auto together = [&shared](int x) {
      if (!shared.arrive_and_wait(0, 3)) return -1;  // three workers must be in calls at once
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(together, sluice::process, {.concurrency = 3})) >
               sluice::to_vector();
    const std::vector<int> got = run(3);
    CHECK(got.size() == 3);
    for (int x : got) CHECK(x >= 0);
  }

  TEST_CASE("a worker that dies fails only the item it ran, naming the task and the cause") {
    sluice_test::watchdog guard{60s};
    struct expected {
      death how;
      int signal;
      int code;
      const char* words;
    };
    const expected cases[] = {
        {death::segv, SIGSEGV, -1, "signal 11 (SIGSEGV"},
        {death::abort, SIGABRT, -1, "signal 6 (SIGABRT"},
        {death::kill, SIGKILL, -1, "signal 9 (SIGKILL"},
        {death::bus, SIGBUS, -1, "(SIGBUS"},
        {death::fpe, SIGFPE, -1, "(SIGFPE"},
        {death::exit3, 0, 3, "exited with code 3"},
        {death::exit0, 0, 0, "exited with code 0"},
        {death::quick_exit5, 0, 5, "exited with code 5"},
    };
    for (const expected& c : cases) {
      CAPTURE(c.words);
      failures seen;
      auto fragile = [how = c.how](int x) {
        if (x == 7) die(how);
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::task(fragile, sluice::process,
                               {.name = "fragile", .concurrency = 2, .on_error = seen.handler()})) >
                 sluice::to_vector();
      std::vector<int> got = run(20);
      std::sort(got.begin(), got.end());
      std::vector<int> others;
      for (int i = 0; i < 20; ++i) {
        if (i != 7) others.push_back(i);
      }
      CHECK(got == others);
      REQUIRE(seen.seen.size() == 1);
      CHECK(seen.seen[0].sequence == 7);
      std::string what;
      const auto crashed = caught<sluice::worker_crashed>(seen.seen[0].error, what);
      REQUIRE_MESSAGE(crashed.has_value(), what);
      CHECK(crashed->signal() == c.signal);
      CHECK(crashed->exit_code() == c.code);
      CHECK(what.find("task 'fragile'") != std::string::npos);
      CHECK(what.find(c.words) != std::string::npos);
    }
  }

  TEST_CASE("without on_error, a worker's death fails the run with worker_crashed") {
    sluice_test::watchdog guard{60s};
    auto fragile = [](int x) {
      if (x == 3) die(death::segv);
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(fragile, sluice::process)) >
               sluice::count();
    CHECK_THROWS_AS(run(10), sluice::worker_crashed);
  }

  TEST_CASE("retry runs a crashed item again in a new worker, counting each attempt") {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters attempts;
    auto first_attempt_dies = [&attempts](int x) {
      if (x == 5 && attempts[0].fetch_add(1) == 0) die(death::abort);
      return x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(first_attempt_dies, sluice::process,
                          {.concurrency = 2,
                           .retry = sluice::retry_policy{.max_attempts = 3,
                                                         .min_delay = 1ms}});
    auto out = p(10);
    std::size_t count = 0;
    for ([[maybe_unused]] int x : out) ++count;
    CHECK(count == 10);
    CHECK(attempts[0].load() == 2);
    CHECK(out.stats()[1].retried == 1);
  }

  TEST_CASE("an exception in a worker arrives as remote_error with its type and what()") {
    sluice_test::watchdog guard{60s};
    failures seen;
    auto picky = [](int x) {
      if (x == 1) throw std::out_of_range("one is out of range");
      if (x == 2) throw 42;
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(picky, sluice::process, {.on_error = seen.handler()})) >
               sluice::count();
    CHECK(run(4) == 2);
    REQUIRE(seen.seen.size() == 2);
    std::sort(seen.seen.begin(), seen.seen.end(),
              [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
    std::string what;
    const auto out_of_range = caught<sluice::remote_error>(seen.seen[0].error, what);
    REQUIRE(out_of_range.has_value());
    CHECK(out_of_range->type_name() == "std::out_of_range");
    CHECK(what == "one is out of range");
    const auto thrown_int = caught<sluice::remote_error>(seen.seen[1].error, what);
    REQUIRE(thrown_int.has_value());
    CHECK(thrown_int->type_name() == "int");
    CHECK(what.find("not derived from std::exception") != std::string::npos);
  }

  TEST_CASE("an item past its timeout is killed with its worker; the others go on") {
    sluice_test::watchdog guard{60s};
    failures seen;
    auto stuck_on_four = [](int x) {
      if (x == 4) {
        for (;;) pause();  // only a kill ends this
      }
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(stuck_on_four, sluice::process,
                             {.concurrency = 2, .timeout = 200ms, .on_error = seen.handler()})) >
               sluice::count();
    CHECK(run(12) == 11);
    REQUIRE(seen.seen.size() == 1);
    CHECK(seen.seen[0].sequence == 4);
    std::string what;
    CHECK(caught<sluice::timeout_error>(seen.seen[0].error, what).has_value());
    CHECK(what.find("timeout") != std::string::npos);
  }

  TEST_CASE("destroying a stream kills its workers in calls and leaves no child behind") {
    sluice_test::watchdog guard{60s};
    const std::size_t children_before = sluice_test::children_of_this_process();
    sluice_test::shared_counters started;
    {
      auto all_but_the_first_forever = [&started](int x) {
        started[0].fetch_add(1);
        while (x != 0) pause();
        return x;
      };
      auto p = sluice::task(numbers, sluice::branch) |
               sluice::task(all_but_the_first_forever, sluice::process, {.concurrency = 3});
      auto out = p(10);
      REQUIRE(out.next() == std::optional<int>(0));
      // Three calls at least have started; two or more of them never end.
      REQUIRE(sluice_test::eventually([&] { return started[0].load() >= 3; }));
    }
    CHECK(sluice_test::children_of_this_process() == children_before);
  }

  TEST_CASE("many runs with crashes and timeouts leave no child and no descriptor behind") {
    sluice_test::watchdog guard{120s};
    const std::size_t children_before = sluice_test::children_of_this_process();
    const std::size_t fds_before = sluice_test::open_descriptors();
    for (int round = 0; round < sluice_test::scaled(200, 40); ++round) {
      auto unlucky = [round](int x) {
        if (x == round % 5) die(round % 2 == 0 ? death::segv : death::exit3);
        if (x == 6 && round % 3 == 0) {
          for (;;) pause();
        }
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::task(unlucky, sluice::process,
                               {.concurrency = 2, .timeout = 100ms, .on_error = sluice::skip})) >
                 sluice::count();
      CAPTURE(round);
      const std::size_t got = run(8);
      // A trivial item can pass a timeout only when its worker is not scheduled for 100 ms.
      CHECK(got == (round % 3 == 0 ? 6u : 7u));
    }
    CHECK(sluice_test::children_of_this_process() == children_before);
    CHECK(sluice_test::open_descriptors() == fds_before);
  }

  TEST_CASE("runs with process tasks from four threads at once each get their own results") {
    sluice_test::watchdog guard{120s};
    std::vector<long> sums(4);
    {
      std::vector<std::jthread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &sums] {
          auto times = [t](int x) { return static_cast<long>(x) * (t + 1); };
          auto run = (sluice::task(numbers, sluice::branch) |
                      sluice::task(times, sluice::process, {.concurrency = 2})) >
                     sluice::reduce(0L, std::plus<>{});
          sums[static_cast<std::size_t>(t)] = run(500);
        });
      }
    }
    for (int t = 0; t < 4; ++t) CHECK(sums[static_cast<std::size_t>(t)] == 124750L * (t + 1));
  }

  TEST_CASE("a worker may run a pipeline and a thread pool, also after the parent ran some" *
            doctest::skip(sluice_test::under_thread_sanitizer())) {
    // ThreadSanitizer does not support a forked child that makes threads.
    sluice_test::watchdog guard{60s};
    auto warm = (sluice::task(numbers, sluice::branch) |
                 sluice::task(sluice_test::twice, {.concurrency = 4})) > sluice::count();
    REQUIRE(warm(100) == 100);
    auto nested = [](int x) {
      sluice::thread_pool pool{2};
      const std::vector<int> doubled = pool.map(sluice_test::twice, std::vector<int>{x, x + 1});
      auto inner = (sluice::task(numbers, sluice::branch) |
                    sluice::task(sluice_test::twice, {.concurrency = 2})) >
                   sluice::reduce(0, std::plus<>{});
      return doubled[0] + doubled[1] + inner(4);  // 4x + 2 + 12
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(nested, sluice::process, {.concurrency = 2, .ordered = true})) >
               sluice::to_vector();
    CHECK(run(3) == std::vector<int>{14, 18, 22});
  }
  TEST_CASE("codec edge values cross unchanged: limits, NaN, empty and nested std types") {
    sluice_test::watchdog guard{60s};
    using nested = std::vector<std::optional<std::map<std::string, std::pair<int, bool>>>>;
    using item = std::tuple<std::int64_t, std::uint64_t, double, std::string, nested, char>;
    const std::vector<item> items{
        {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::uint64_t>::max(),
         std::numeric_limits<double>::quiet_NaN(), "", nested{}, '\0'},
        {std::numeric_limits<std::int64_t>::max(), 0, -0.0, std::string("a\0b", 3),
         nested{std::nullopt, std::map<std::string, std::pair<int, bool>>{{"k", {-1, true}}}},
         'z'},
        {0, 1, std::numeric_limits<double>::infinity(), "x", nested{{}}, '\x7f'},
    };
    auto same = [](item x) { return x; };
    auto run = (sluice::task([&] { return items; }, sluice::branch) |
                sluice::task(same, sluice::process, {.concurrency = 2, .ordered = true})) >
               sluice::to_vector();
    const std::vector<item> got = run();
    REQUIRE(got.size() == items.size());
    CHECK(std::isnan(std::get<2>(got[0])));
    CHECK(std::signbit(std::get<2>(got[1])));
    for (std::size_t i = 0; i < items.size(); ++i) {
      CHECK(std::get<0>(got[i]) == std::get<0>(items[i]));
      CHECK(std::get<1>(got[i]) == std::get<1>(items[i]));
      CHECK(std::get<3>(got[i]) == std::get<3>(items[i]));
      CHECK(std::get<4>(got[i]) == std::get<4>(items[i]));
      CHECK(std::get<5>(got[i]) == std::get<5>(items[i]));
    }
    CHECK(std::get<2>(got[2]) == std::numeric_limits<double>::infinity());
  }

  TEST_CASE("workers die with their parent, even when it is killed with SIGKILL" *
            doctest::skip(sluice_test::under_thread_sanitizer())) {
    // ThreadSanitizer does not support a forked child (the helper) that makes threads.
    sluice_test::watchdog guard{60s};
    int pids[2];
    REQUIRE(pipe(pids) == 0);
    const pid_t parent = helper_process([&] {
      close(pids[0]);
      auto tell_and_wait = [fd = pids[1]](int x) {
        const pid_t me = getpid();
        if (write(fd, &me, sizeof me) != sizeof me) return -1;
        for (;;) pause();
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::task(tell_and_wait, sluice::process, {.concurrency = 2})) >
                 sluice::count();
      run(2);
    });
    close(pids[1]);
    pid_t workers[2] = {-1, -1};
    for (pid_t& worker : workers) {
      pollfd readable{pids[0], POLLIN, 0};
      REQUIRE(poll(&readable, 1, static_cast<int>(sluice_test::patience.count())) == 1);
      REQUIRE(read(pids[0], &worker, sizeof worker) == sizeof worker);
    }
    close(pids[0]);
    kill(parent, SIGKILL);
    REQUIRE(waitpid(parent, nullptr, 0) == parent);
    for (const pid_t worker : workers) {
      CHECK(sluice_test::eventually([&] { return sluice_test::process_ended(worker); }));
    }
  }

  TEST_CASE("a worker does not repeat output its parent had buffered but not yet written" *
            doctest::skip(sluice_test::under_thread_sanitizer())) {
    sluice_test::watchdog guard{60s};
    int out[2];
    REQUIRE(pipe(out) == 0);
    const pid_t helper = helper_process([&] {
      close(out[0]);
      dup2(out[1], STDOUT_FILENO);
      close(out[1]);
      std::setvbuf(stdout, nullptr, _IOFBF, 1 << 16);
      std::printf("parent\n");  // buffered: no newline flush on a pipe
      auto speak = [](int x) {
        std::printf("worker\n");
        std::fflush(stdout);
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) | sluice::task(speak, sluice::process)) >
                 sluice::count();
      run(1);
      std::fflush(stdout);
    });
    close(out[1]);
    const std::string printed = read_all(out[0]);
    close(out[0]);
    REQUIRE(waitpid(helper, nullptr, 0) == helper);
    CHECK(printed == "parent\nworker\n");
  }
  TEST_CASE("cancel() and the first error stop the calls in flight and kill their workers") {
    sluice_test::watchdog guard{60s};
    const std::size_t children_before = sluice_test::children_of_this_process();
    sluice_test::shared_counters started;
    auto stuck = [&started](int x) {
      started[0].fetch_add(1);
      while (x >= 0) pause();  // until its worker is killed
      return x;
    };
    // Every worker runs a call that never returns; nothing else could end the run.
    SUBCASE("by cancel()") {
      auto p = sluice::task(numbers, sluice::branch) |
               sluice::task(stuck, sluice::process, {.concurrency = 3});
      auto out = p(10);
      std::optional<int> got = 0;
      std::thread reader([&] { got = out.next(); });  // starts the run, then waits in it
      CHECK(sluice_test::eventually([&] { return started[0].load() >= 3; }));
      out.cancel();
      reader.join();
      CHECK_FALSE(got.has_value());
    }
    SUBCASE("by another task's error") {
      // Beside the process task, not behind it: its items need not pass the stuck calls.
      auto fails_once_all_started = [&started](int x) {
        if (x == 0 && sluice_test::eventually([&] { return started[0].load() >= 3; })) {
          throw sluice_test::test_error(x);
        }
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::fan_out(sluice::task(stuck, sluice::process, {.concurrency = 3}),
                                  sluice::task(fails_once_all_started))) >
                 sluice::count();
      CHECK_THROWS_AS(run(10), sluice_test::test_error);
    }
    CHECK(sluice_test::children_of_this_process() == children_before);
  }

  TEST_CASE("the program's own children and its SIGCHLD setting are left alone") {
    sluice_test::watchdog guard{60s};
    std::fflush(nullptr);
    const pid_t own = fork();
    REQUIRE(own >= 0);
    if (own == 0) _exit(42);
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(sluice_test::twice, sluice::process, {.concurrency = 2})) >
               sluice::count();
    CHECK(run(20) == 20);
    int status = 0;
    REQUIRE(waitpid(own, &status, 0) == own);  // still there to be reaped by its parent
    CHECK(WEXITSTATUS(status) == 42);
  }

  TEST_CASE("with SIGCHLD ignored, a dead worker's item fails saying its status was lost") {
    sluice_test::watchdog guard{60s};
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction before {};
    sigaction(SIGCHLD, &ignore, &before);
    failures seen;
    auto fragile = [](int x) {
      if (x == 2) die(death::segv);
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) |
                sluice::task(fragile, sluice::process, {.on_error = seen.handler()})) >
               sluice::count();
    const std::size_t got = run(5);
    sigaction(SIGCHLD, &before, nullptr);
    CHECK(got == 4);
    REQUIRE(seen.seen.size() == 1);
    CHECK(seen.seen[0].sequence == 2);
    std::string what;
    caught<std::runtime_error>(seen.seen[0].error, what);
    CHECK(what.find("vanished") != std::string::npos);
  }
}  // TEST_SUITE
