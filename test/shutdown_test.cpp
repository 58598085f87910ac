// Tests of sluice::graceful_shutdown (<sluice/shutdown.hpp>): the first SIGINT or SIGTERM drains
// the watched streams and stops drain_token(), the second cancels them and stops cancel_token(),
// the third finds the disposition from before; one instance at a time; the previous
// dispositions come back; a watched stream may go first; a forked child behaves as without it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/pipeline.hpp>
#include <sluice/pmap.hpp>
#include <sluice/shutdown.hpp>
#include <sluice/sinks.hpp>
#include <sluice/task.hpp>

#include "common/fixtures.hpp"
#include "common/drains.hpp"
#include "common/gate.hpp"
#include "common/sanitizers.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;
using sluice_test::twice;

namespace {

using sluice_test::drains::paused_numbers;
using sluice_test::drains::paused_run;

// Waits until `token` is stopped (the helper's thread has handled a signal), or gives up.
bool wait_for(const std::stop_token& token) {
  sluice_test::gate stopped;
  std::stop_callback open(token, [&] { stopped.open(); });
  return stopped.wait();
}

template <class T>
std::vector<T> pull_all(sluice::stream<T>& items) {
  std::vector<T> all;
  while (auto x = items.next()) all.push_back(std::move(*x));
  return all;
}

// A SIGINT disposition of the test's own, counting the signals it gets; the one before it comes
// back at the end of the scope.
std::atomic<int> own_handler_calls{0};
extern "C" void count_signal(int /*sig*/) { own_handler_calls.fetch_add(1); }
static_assert(std::atomic<int>::is_always_lock_free);

class sigint_disposition {
 public:
  explicit sigint_disposition(void (*handler)(int)) {
    struct sigaction mine {};
    mine.sa_handler = handler;
    sigemptyset(&mine.sa_mask);
    sigaction(SIGINT, &mine, &before_);
  }
  sigint_disposition(const sigint_disposition&) = delete;
  sigint_disposition& operator=(const sigint_disposition&) = delete;
  ~sigint_disposition() { sigaction(SIGINT, &before_, nullptr); }

 private:
  struct sigaction before_ {};
};

void (*sigint_handler())(int) {
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  return now.sa_handler;
}

}  // namespace

TEST_SUITE("graceful_shutdown") {
  TEST_CASE("the first SIGINT drains a watched stream: the producer stops and every item it "
            "produced reaches the stream, which ends normally" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::graceful_shutdown shutdown;
    paused_run state;
    auto items =
        (sluice::task(paused_numbers, sluice::branch) | sluice::task(twice))(1000, 5, &state);
    shutdown.watch(items);
    std::thread signaller([&] {
      state.paused.wait();
      kill(getpid(), SIGINT);  // as Ctrl-C: to the process, whichever thread takes it
      wait_for(shutdown.drain_token());
      state.go.open();
    });

    std::vector<int> out;
    CHECK_NOTHROW(out = pull_all(items));
    signaller.join();

    CHECK_FALSE(state.go.timed_out());
    CHECK(out == std::vector<int>{0, 2, 4, 6, 8, 10});
    CHECK(state.resumed.load() == 6);
    CHECK(items.drained());
    CHECK(shutdown.signals_received() == 1);
    CHECK(shutdown.drain_token().stop_requested());
    CHECK_FALSE(shutdown.cancel_token().stop_requested());
  }

  TEST_CASE("SIGTERM drains as SIGINT does" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::graceful_shutdown shutdown;
    raise(SIGTERM);
    REQUIRE(wait_for(shutdown.drain_token()));
    CHECK(shutdown.signals_received() == 1);
  }

  TEST_CASE("the second signal cancels: a reader blocked in next() returns std::nullopt while "
            "the call it waits for is still blocked" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::graceful_shutdown shutdown;
    sluice_test::gate entered;
    sluice_test::gate release;
    auto stuck = [&](int x) {
      entered.arrive();
      release.wait();
      return x;
    };
    auto items = (sluice::task(numbers, sluice::branch) | sluice::task(stuck))(100);
    shutdown.watch(items);
    std::optional<int> got{-1};
    std::thread reader([&] { got = items.next(); });
    REQUIRE(entered.wait());

    raise(SIGINT);
    REQUIRE(wait_for(shutdown.drain_token()));
    CHECK_FALSE(shutdown.cancel_token().stop_requested());
    raise(SIGINT);
    reader.join();  // the call in `stuck` still waits for `release`

    CHECK_FALSE(release.is_open());
    CHECK_FALSE(got.has_value());
    CHECK(shutdown.signals_received() == 2);
    CHECK(wait_for(shutdown.cancel_token()));
    release.open();
  }

  TEST_CASE("the third signal finds the disposition from before the instance" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sigint_disposition own(&count_signal);
    own_handler_calls.store(0);
    {
      sluice::graceful_shutdown shutdown;
      raise(SIGINT);
      raise(SIGINT);
      REQUIRE(wait_for(shutdown.cancel_token()));
      CHECK((sigint_handler() == &count_signal));
      raise(SIGINT);
      CHECK(sluice_test::eventually([] { return own_handler_calls.load() == 1; }));
      CHECK(shutdown.signals_received() == 2);
    }
    CHECK((sigint_handler() == &count_signal));
  }

  TEST_CASE("the destructor puts the previous dispositions back" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sigint_disposition own(&count_signal);
    own_handler_calls.store(0);
    {
      sluice::graceful_shutdown shutdown;
      CHECK((sigint_handler() != &count_signal));
    }
    CHECK((sigint_handler() == &count_signal));
    raise(SIGINT);
    CHECK(sluice_test::eventually([] { return own_handler_calls.load() == 1; }));
  }

  TEST_CASE("only one instance lives at a time" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    {
      sluice::graceful_shutdown first;
      CHECK_THROWS_AS(sluice::graceful_shutdown{}, std::logic_error);
      raise(SIGINT);
      CHECK(wait_for(first.drain_token()));  // the first still works
    }
    sluice::graceful_shutdown next;  // once it is gone, another may be made
    CHECK(next.signals_received() == 0);
    raise(SIGINT);
    CHECK(wait_for(next.drain_token()));
    CHECK(next.signals_received() == 1);
  }

  TEST_CASE("a watched stream may be destroyed before the instance, and a stream watched after "
            "the signal drains at once" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::graceful_shutdown shutdown;
    auto run = sluice::task(numbers, sluice::branch) | sluice::task(twice);
    {
      auto gone = run(10);
      shutdown.watch(gone);
      CHECK(gone.next() == std::optional<int>{0});
    }
    raise(SIGINT);
    REQUIRE(wait_for(shutdown.drain_token()));

    auto late = run(10);
    shutdown.watch(late);
    CHECK(pull_all(late).empty());
    CHECK(late.drained());
  }

  TEST_CASE("pmap with the drain token returns a prefix of the input after a signal" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::graceful_shutdown shutdown;
    std::vector<int> input(100'000);
    std::iota(input.begin(), input.end(), 0);
    std::atomic<std::size_t> calls{0};
    auto f = [&](int x) {
      calls.fetch_add(1);
      if (x == 100) {
        raise(SIGINT);
        wait_for(shutdown.drain_token());
      }
      return 2 * x;
    };

    const auto out = sluice::pmap(f, input, {.workers = 2, .drain = shutdown.drain_token()});

    CHECK(out.size() > 100);
    CHECK(out.size() < input.size());
    CHECK(out.size() == calls.load());  // every element started is in the output
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] != 2 * static_cast<int>(i)) FAIL_CHECK("output " << i << " is " << out[i]);
    }
  }

  TEST_CASE("a child forked without exec gets the disposition from before the instance" *
            doctest::timeout(30) * doctest::skip(sluice_test::under_thread_sanitizer())) {
    sluice_test::watchdog guard{30s};
    sigint_disposition deflt(SIG_DFL);
    std::stop_token cancelled;
    {
      sluice::graceful_shutdown shutdown;
      cancelled = shutdown.cancel_token();
      std::fflush(nullptr);
      const pid_t child = fork();
      REQUIRE(child >= 0);
      if (child == 0) {
        raise(SIGINT);  // ends the child, as SIG_DFL does
        _exit(3);
      }
      int status = 0;
      REQUIRE(waitpid(child, &status, 0) == child);
      CHECK(WIFSIGNALED(status));
      CHECK(WTERMSIG(status) == SIGINT);

      raise(SIGINT);
      REQUIRE(wait_for(shutdown.drain_token()));
      // The destructor's stop comes through the pipe after every byte written before it: a byte
      // from the child would have made this signal the second, a cancel.
    }
    CHECK_FALSE(cancelled.stop_requested());
  }
}  // TEST_SUITE
