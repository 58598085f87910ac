// Tests of a child made by fork() after its parent used sluice: it runs pipelines, thread pools,
// nested pipelines and timeouts on sluice's own threads, and exits normally. Each child reports
// through its exit status; the parent waits for it a bounded time and kills it if it hangs.
// ThreadSanitizer does not support a child that makes threads after a fork of a process with
// threads (it reports a "dup thread" and exits), so these run in the plain and ASan builds.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stop_token>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/sanitizers.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;

namespace {

// Warms the parent up the way an application would before it forks: runs with blocking calls
// (both of the engine's tiers, oneTBB's workers, the timer thread) and a thread pool.
void use_sluice_in_parent() {
  auto run = (sluice::task(numbers, sluice::branch) |
              sluice::task(
                  [](int x) {
                    std::this_thread::sleep_for(1ms);
                    return x;
                  },
                  {.concurrency = 8, .timeout = 1s}) |
              sluice::task(sluice_test::twice)) > sluice::count();
  REQUIRE(run(40) == 40);
  sluice::thread_pool pool{2};
  REQUIRE(pool.map(sluice_test::twice, std::vector<int>{1, 2, 3}) == std::vector<int>{2, 4, 6});
}

// What a child checks; each failed check is its own exit status, so the parent can say which.
int child_checks() {
  // Real concurrency: 8 calls must be in flight at once for the gate to open.
  sluice_test::gate all_in{8};
  auto together = [&](int x) {
    all_in.arrive_and_wait();
    return x;
  };
  auto run = (sluice::task(numbers, sluice::branch) | sluice::task(together, {.concurrency = 8}) |
              sluice::task(sluice_test::twice)) > sluice::reduce(0, std::plus<>{});
  if (run(16) != sluice_test::sum_of_doubles(16) || all_in.timed_out()) return 10;

  sluice::thread_pool pool{3};
  if (pool.map(sluice_test::twice, std::vector<int>{1, 2, 3}) != std::vector<int>{2, 4, 6}) {
    return 11;
  }
  if (sluice::pmap(sluice_test::twice, std::vector<int>(1000, 1)) != std::vector<int>(1000, 2)) {
    return 12;
  }

  auto inner = sluice::task([](int x) { return std::vector<int>{x, x}; }, sluice::branch) |
               sluice::task(sluice_test::twice, {.concurrency = 2});
  auto nested = (sluice::task(numbers, sluice::branch) |
                 sluice::task(inner, sluice::branch, {.concurrency = 3})) > sluice::count();
  if (nested(20) != 40) return 13;

  // The timer thread of the parent is gone: a timeout needs the child's own.
  std::atomic<int> timed_out{0};
  auto waits = [](int x, std::stop_token stop) {
    while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
    return x;
  };
  auto deadline = (sluice::task(numbers, sluice::branch) |
                   sluice::task(waits, {.timeout = 20ms, .on_error = [&](const sluice::failure&) {
                                          timed_out.fetch_add(1);
                                        }})) > sluice::count();
  if (deadline(2) != 0 || timed_out.load() != 2) return 14;
  return 0;
}

// Forks; the child runs `body` and leaves with its result through `leave`. Returns the child's
// exit status, or -1 when it did not end within the patience (it is killed then).
template <class Body>
int in_child(Body body, bool exit_normally) {
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int code = body();
    if (exit_normally) std::exit(code);  // atexit handlers and static destructors run
    _exit(code);
  }
  const auto give_up = std::chrono::steady_clock::now() + sluice_test::patience;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (std::chrono::steady_clock::now() > give_up) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

TEST_SUITE("fork" * doctest::skip(sluice_test::under_thread_sanitizer())) {
  TEST_CASE("a child forked after its parent ran pipelines runs pipelines and pools" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    use_sluice_in_parent();
    CHECK(in_child(child_checks, false) == 0);
    use_sluice_in_parent();  // the parent goes on as before
  }

  TEST_CASE("a forked child that used sluice exits through std::exit" * doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    use_sluice_in_parent();
    CHECK(in_child(child_checks, true) == 0);
  }

  TEST_CASE("a grandchild forked from a forked child runs pipelines too" *
            doctest::timeout(120)) {
    sluice_test::watchdog guard{120s};
    use_sluice_in_parent();
    CHECK(in_child([] {
            if (const int own = child_checks(); own != 0) return own;
            return in_child(child_checks, false);
          },
          false) == 0);
  }
}  // TEST_SUITE
