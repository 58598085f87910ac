// Tests of <sluice/stats_table.hpp>: the table's exact text for given counters (widths,
// alignment, shares, the marker), the bottleneck rule case by case, the table of a real run's
// stream, and the live board: its exact bytes on a pseudo-terminal (the cursor hidden, each
// redraw erasing the last, the final table and the cursor shown again at stop()) and its
// silence, or final table alone, on a pipe.
#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/pipeline.hpp>
#include <sluice/stats_table.hpp>
#include <sluice/task.hpp>

#include "common/fixtures.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice::task_stats;
using sluice_test::numbers;
using sluice_test::twice;

namespace {

task_stats row(std::string name, std::uint64_t in, std::uint64_t out, std::size_t queued,
               std::chrono::nanoseconds busy, std::chrono::nanoseconds blocked) {
  task_stats s;
  s.name = std::move(name);
  s.items_in = in;
  s.items_out = out;
  s.queued = queued;
  s.busy = busy;
  s.blocked = blocked;
  return s;
}

// All that `fd` gives until its other end is closed, read on a thread of its own so that the
// writer never fills the terminal's buffer.
class drain_fd {
 public:
  explicit drain_fd(int fd)
      : reader_([this, fd] {
          char buffer[4096];
          for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
            got_.append(buffer, static_cast<std::size_t>(n));
          }
        }) {}
  std::string text() {  // once the other end is closed
    reader_.join();
    return got_;
  }

 private:
  std::string got_;
  std::thread reader_;
};

std::string erase(std::size_t lines) {
  std::string out = "\r\x1b[";
  out += std::to_string(lines);
  out += "A\x1b[J";
  return out;
}

}  // namespace

TEST_SUITE("stats_table") {
  TEST_CASE("the table has a header and a line per task, columns as wide as their widest cell") {
    task_stats retried = row("enrich", 4990, 4988, 512, 999ms, 1ms);
    retried.retried = 2;
    retried.in_flight = 20;
    task_stats failed = row("load", 480, 479, 0, 183ms, 17ms);
    failed.failed = 1;
    const std::vector<task_stats> stats = {row("parse", 0, 5000, 0, 32ms, 968ms), retried, failed,
                                           row("never", 0, 0, 0, 0ns, 0ns)};

    CHECK(sluice::stats_table(stats) ==
          "task      in   out  failed  retried  in flight  queued  busy %  blocked %\n"
          "parse      0  5000       0        0          0       0     3.2       96.8\n"
          "enrich  4990  4988       0        2         20     512    99.9        0.1"
          "  <- bottleneck\n"
          "load     480   479       1        0          0       0    91.5        8.5\n"
          "never      0     0       0        0          0       0       -          -\n");
  }

  TEST_CASE("a table of no tasks is its header line") {
    CHECK(sluice::stats_table(std::vector<task_stats>{}) ==
          "task  in  out  failed  retried  in flight  queued  busy %  blocked %\n");
  }

  TEST_CASE("the bottleneck is the busiest mostly-busy task that has items waiting for it") {
    // `load` spent more time in calls, but nothing waits for it: it keeps up.
    const std::vector<task_stats> stats = {row("parse", 0, 900, 0, 10ms, 900ms),
                                           row("enrich", 900, 800, 100, 500ms, 100ms),
                                           row("load", 800, 800, 0, 700ms, 0ns)};
    CHECK(sluice::likely_bottleneck(stats) == 1);
  }

  TEST_CASE("a task held back by what follows it more than it works is never the bottleneck") {
    const std::vector<task_stats> stats = {row("parse", 0, 900, 0, 10ms, 900ms),
                                           row("enrich", 900, 800, 100, 400ms, 401ms),
                                           row("load", 800, 800, 0, 300ms, 0ns)};
    CHECK(sluice::likely_bottleneck(stats) == 2);
  }

  TEST_CASE("with no items waiting anywhere the bottleneck is the busiest mostly-busy task") {
    const std::vector<task_stats> stats = {row("parse", 0, 900, 0, 10ms, 900ms),
                                           row("enrich", 900, 900, 0, 500ms, 0ns),
                                           row("load", 900, 900, 0, 700ms, 0ns)};
    CHECK(sluice::likely_bottleneck(stats) == 2);
  }

  TEST_CASE("a tie goes to the earlier task") {
    const std::vector<task_stats> stats = {row("a", 0, 9, 3, 5ms, 0ns),
                                           row("b", 9, 9, 3, 5ms, 0ns)};
    CHECK(sluice::likely_bottleneck(stats) == 0);
  }

  TEST_CASE("before any task has worked there is no bottleneck and no line is marked") {
    const std::vector<task_stats> stats = {row("parse", 0, 0, 0, 0ns, 0ns),
                                           row("load", 0, 0, 5, 0ns, 3ms)};
    CHECK_FALSE(sluice::likely_bottleneck(stats).has_value());
    CHECK(sluice::stats_table(stats).find("bottleneck") == std::string::npos);
  }

  TEST_CASE("the table of a stream shows its run's counters" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items =
        (sluice::task(numbers, sluice::branch) | sluice::task(twice, {.name = "double"}))(100);
    CHECK(sluice_test::drain(items) == 100);

    const std::string table = sluice::stats_table(items);
    std::istringstream lines(table);
    std::string header, first, second, extra;
    REQUIRE(std::getline(lines, header));
    REQUIRE(std::getline(lines, first));
    REQUIRE(std::getline(lines, second));
    CHECK_FALSE(std::getline(lines, extra));
    std::istringstream cells(second);
    std::string name, in, out;
    cells >> name >> in >> out;
    CHECK(name == "double");
    CHECK(in == "100");
    CHECK(out == "100");
    CHECK(first.rfind("task#1 ", 0) == 0);
  }

  TEST_CASE("the table of a stream has a line for each shape, in pipeline order" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::route([](int x) { return x % 2; }, sluice::task(twice, {.name = "even"}),
                                sluice::task(twice, {.name = "odd"})) |
                  sluice::in_order())(10);
    CHECK(sluice_test::drain(items) == 10);

    std::istringstream lines(sluice::stats_table(items));
    std::string line;
    REQUIRE(std::getline(lines, line));  // the header
    std::vector<std::string> names;
    std::vector<std::string> counts;  // "in out" of each line
    while (std::getline(lines, line)) {
      std::istringstream cells(line);
      std::string name, in, out;
      cells >> name >> in >> out;
      names.push_back(name);
      counts.push_back(in + " " + out);
    }
    CHECK(names == std::vector<std::string>{"task#1", "route#2", "even", "odd", "in_order#4"});
    CHECK(counts == std::vector<std::string>{"0 10", "10 10", "5 5", "5 5", "10 10"});
  }
}

TEST_SUITE("stats_board") {
  TEST_CASE("on a terminal the board redraws the table in place and leaves the final one" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    const char* name = ::ptsname(master);
    REQUIRE(name != nullptr);
    const int slave = ::open(name, O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
    termios raw{};
    REQUIRE(::tcgetattr(slave, &raw) == 0);
    ::cfmakeraw(&raw);  // the bytes as written: no "\n" -> "\r\n"
    REQUIRE(::tcsetattr(slave, TCSANOW, &raw) == 0);
    std::FILE* terminal = ::fdopen(slave, "w");
    REQUIRE(terminal != nullptr);
    drain_fd screen(master);

    // The n-th look at the run sees n items out of its one task.
    const auto snapshot = [](int n) {
      return std::vector<task_stats>{row("parse", 0, static_cast<std::uint64_t>(n), 0, 0ns, 0ns)};
    };
    std::atomic<int> looks{0};
    {
      sluice::stats_board board{[&] { return snapshot(++looks); },
                                {.terminal = terminal, .every = 1ms}};
      for (int i = 0; i < 5000 && looks.load() < 3; ++i) std::this_thread::sleep_for(1ms);
      board.stop();
      board.stop();  // nothing more
    }
    CHECK(looks.load() >= 4);  // three redraws at least, and the final table
    std::fclose(terminal);
    const std::string got = screen.text();
    ::close(master);

    std::string expected = "\x1b[?25l";
    expected += sluice::stats_table(snapshot(1));
    for (int n = 2; n <= looks.load(); ++n) expected += erase(2) + sluice::stats_table(snapshot(n));
    expected += "\x1b[?25h";
    CHECK(got == expected);
  }

  TEST_CASE("off a terminal the board draws nothing live, and the final table only when asked" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const std::vector<task_stats> stats = {row("parse", 0, 7, 0, 1ms, 0ns)};
    for (const bool final_table : {false, true}) {
      CAPTURE(final_table);
      int ends[2];
      REQUIRE(::pipe(ends) == 0);
      std::FILE* log = ::fdopen(ends[1], "w");
      REQUIRE(log != nullptr);
      drain_fd piped(ends[0]);
      int looks = 0;
      {
        sluice::stats_board board{
            [&] {
              ++looks;
              return stats;
            },
            {.terminal = log, .every = 1ms, .final_off_terminal = final_table}};
        std::this_thread::sleep_for(20ms);
      }
      std::fclose(log);
      const std::string got = piped.text();
      ::close(ends[0]);
      CHECK(looks == (final_table ? 1 : 0));
      CHECK(got == (final_table ? sluice::stats_table(stats) : ""));
    }
  }
}
