// Tests of <sluice/progress.hpp> and of the progress run option of <sluice/stream.hpp> and
// <sluice/pipeline.hpp>: the exact frames a progress_bar draws on a manual clock (first frame,
// 100 ms between frames, the numbers, unknown totals, rate suffixes, hours, the final frame),
// where frames go (a draw callback, a pseudo-terminal, not a pipe), advance() from many threads,
// and bars shown by a stream (show_progress) and by a runnable (with_progress).
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/pipeline.hpp>
#include <sluice/progress.hpp>
#include <sluice/shapes.hpp>
#include <sluice/sinks.hpp>
#include <sluice/task.hpp>

#include "common/fixtures.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;
using sluice_test::twice;

namespace {

// Every frame a bar hands to its draw callback, in order; notices two draws at once.
class frames {
 public:
  std::function<void(std::string_view)> draw() {
    return [this](std::string_view text) {
      if (drawing_.fetch_add(1) != 0) overlapped_ = true;
      {
        std::lock_guard lock(mu_);
        all_.emplace_back(text);
      }
      drawing_.fetch_sub(1);
    };
  }
  std::vector<std::string> all() const {
    std::lock_guard lock(mu_);
    return all_;
  }
  std::size_t size() const { return all().size(); }
  std::string last() const {
    std::vector<std::string> seen = all();
    return seen.empty() ? "" : seen.back();
  }
  bool overlapped() const { return overlapped_; }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> all_;
  std::atomic<int> drawing_{0};
  std::atomic<bool> overlapped_{false};
};

// The bytes of a frame showing `text`, and of a final frame.
std::string frame(std::string_view text) { return "\r" + std::string(text) + "\x1b[K"; }
std::string final_frame(std::string_view text) { return frame(text) + "\n"; }

std::size_t final_frames(const frames& seen) {
  std::size_t n = 0;
  for (const std::string& f : seen.all()) n += !f.empty() && f.back() == '\n';
  return n;
}

// Reads what arrives on `fd` until it holds `needle` or `limit` passes.
std::string read_until(int fd, std::string_view needle, std::chrono::milliseconds limit) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&ready, 1, 50) != 1) continue;
    char buffer[512];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return got;
}

}  // namespace

TEST_SUITE("progress") {
  TEST_CASE("a progress_bar draws a first frame at construction, with 0 done and no rate yet") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{
        {.total = 1000, .label = "rows", .draw = seen.draw(), .clock = &clock}};

    CHECK(bar.drawing());
    CHECK(seen.all() == std::vector<std::string>{frame(
                            "rows:   0% [....................] 0/1000 [00:00<?, ? items/s]")});
  }

  TEST_CASE("advance() draws no frame within 100 ms of the last one, and one from 100 ms on") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{{.total = 10, .draw = seen.draw(), .clock = &clock}};

    clock.advance(50ms);
    bar.advance();
    clock.advance(49ms);
    bar.advance();
    CHECK(seen.size() == 1);

    clock.advance(1ms);  // 100 ms after the first frame
    bar.advance();
    CHECK(seen.size() == 2);
    CHECK(seen.last() == frame(" 30% [######..............] 3/10 [00:00<00:00, 30.0 items/s]"));

    bar.advance();  // at once: too soon
    clock.advance(99ms);
    bar.advance();
    CHECK(seen.size() == 2);
    clock.advance(1ms);
    bar.advance();
    CHECK(seen.size() == 3);
    CHECK(bar.done() == 6);
  }

  TEST_CASE("a frame shows percent, bar, done/total, elapsed, time left and rate") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{
        {.total = 1000, .label = "rows", .draw = seen.draw(), .clock = &clock}};

    clock.advance(3s);
    bar.advance(420);  // 140 a second; 580 left take 4.14 s

    CHECK(seen.last() ==
          frame("rows:  42% [########............] 420/1000 [00:03<00:04, 140.0 items/s]"));
  }

  TEST_CASE("with an unknown total a frame shows the items done, elapsed and rate") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{{.label = "rows", .draw = seen.draw(), .clock = &clock}};
    CHECK(seen.last() == frame("rows: 0 items [00:00, ? items/s]"));

    clock.advance(3s);
    bar.advance(420);
    CHECK(seen.last() == frame("rows: 420 items [00:03, 140.0 items/s]"));
  }

  TEST_CASE("a frame without a label starts with the numbers") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{{.draw = seen.draw(), .clock = &clock}};

    CHECK(seen.last() == frame("0 items [00:00, ? items/s]"));
  }

  TEST_CASE("done beyond the total is shown as it is, with percent and bar at most full") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{{.total = 10, .draw = seen.draw(), .clock = &clock}};

    clock.advance(2s);
    bar.advance(12);
    CHECK(seen.last() == frame("100% [####################] 12/10 [00:02<00:00, 6.0 items/s]"));
  }

  TEST_CASE("a total of 0 is shown as 100 percent done") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{{.total = 0, .draw = seen.draw(), .clock = &clock}};

    CHECK(seen.last() == frame("100% [####################] 0/0 [00:00<00:00, ? items/s]"));
  }

  TEST_CASE("finish() draws the final frame and ends the line, once, and later calls do nothing") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{
        {.total = 1000, .label = "rows", .draw = seen.draw(), .clock = &clock}};
    clock.advance(10s);
    bar.advance(1000);
    CHECK(seen.size() == 2);

    bar.finish();  // however recent the last frame
    CHECK(seen.size() == 3);
    CHECK(seen.last() ==
          final_frame("rows: 100% [####################] 1000/1000 [00:10<00:00, 100.0 items/s]"));

    bar.finish();
    clock.advance(1s);
    bar.advance(5);
    CHECK(seen.size() == 3);
    CHECK(bar.done() == 1005);
  }

  TEST_CASE("the destructor draws the final frame when finish() was not called") {
    sluice::manual_clock clock;
    frames seen;
    {
      sluice::progress_bar bar{
          {.total = 1000, .label = "rows", .draw = seen.draw(), .clock = &clock}};
      clock.advance(5s);
      bar.advance(250);
    }
    CHECK(seen.size() == 3);
    CHECK(seen.last() ==
          final_frame("rows:  25% [#####...............] 250/1000 [00:05<00:15, 50.0 items/s]"));
  }

  TEST_CASE("the destructor after finish() draws nothing more") {
    sluice::manual_clock clock;
    frames seen;
    {
      sluice::progress_bar bar{{.draw = seen.draw(), .clock = &clock}};
      bar.finish();
    }
    CHECK(seen.all() == std::vector<std::string>{frame("0 items [00:00, ? items/s]"),
                                                 final_frame("0 items [00:00, ? items/s]")});
  }

  TEST_CASE("rates are shown with one decimal, in k, M or G from what would show as 1000.0") {
    struct example {
      std::uint64_t done;
      sluice::clock::duration elapsed;
      std::string shown;
    };
    const std::vector<example> examples = {
        {1, 3s, "1 items [00:03, 0.3 items/s]"},
        {999, 1s, "999 items [00:01, 999.0 items/s]"},
        {1'000, 1s, "1000 items [00:01, 1.0k items/s]"},
        {1'234, 1s, "1234 items [00:01, 1.2k items/s]"},
        {999'960, 1s, "999960 items [00:01, 1.0M items/s]"},
        {3'400'000, 1s, "3400000 items [00:01, 3.4M items/s]"},
        {5'600'000'000, 1s, "5600000000 items [00:01, 5.6G items/s]"},
        {7'000'000'000'000, 1s, "7000000000000 items [00:01, 7000.0G items/s]"},
    };
    for (const example& e : examples) {
      CAPTURE(e.shown);
      sluice::manual_clock clock;
      frames seen;
      sluice::progress_bar bar{{.draw = seen.draw(), .clock = &clock}};
      clock.advance(e.elapsed);
      bar.advance(e.done);
      CHECK(seen.last() == frame(e.shown));
    }
  }

  TEST_CASE("elapsed time and time left are shown as mm:ss under an hour and h:mm:ss from it") {
    struct example {
      sluice::clock::duration elapsed;
      std::string shown;  // 1 of 10 done: the time left is 9 times the elapsed time
    };
    const std::vector<example> examples = {
        {59s, " 10% [##..................] 1/10 [00:59<08:51, 0.0 items/s]"},
        {1min + 40s, " 10% [##..................] 1/10 [01:40<15:00, 0.0 items/s]"},
        {59min + 59s, " 10% [##..................] 1/10 [59:59<8:59:51, 0.0 items/s]"},
        {1h, " 10% [##..................] 1/10 [1:00:00<9:00:00, 0.0 items/s]"},
        {1h + 2min + 3s, " 10% [##..................] 1/10 [1:02:03<9:18:27, 0.0 items/s]"},
        {12h + 3min + 4s, " 10% [##..................] 1/10 [12:03:04<108:27:36, 0.0 items/s]"},
    };
    for (const example& e : examples) {
      CAPTURE(e.shown);
      sluice::manual_clock clock;
      frames seen;
      sluice::progress_bar bar{{.total = 10, .draw = seen.draw(), .clock = &clock}};
      clock.advance(e.elapsed);
      bar.advance();
      CHECK(seen.last() == frame(e.shown));
    }
  }

  TEST_CASE("fractions of a second are left out of the times shown") {
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{{.total = 4, .draw = seen.draw(), .clock = &clock}};
    clock.advance(1900ms);
    bar.advance();  // 3 left at 1.9 s each: 5.7 s

    CHECK(seen.last() == frame(" 25% [#####...............] 1/4 [00:01<00:05, 0.5 items/s]"));
  }

  TEST_CASE("a draw callback that throws loses its frames but not the count") {
    sluice::manual_clock clock;
    int calls = 0;
    auto failing = [&calls](std::string_view) {
      ++calls;
      throw std::runtime_error("the log is gone");
    };
    sluice::progress_bar bar{{.draw = failing, .clock = &clock}};
    clock.advance(1s);
    CHECK_NOTHROW(bar.advance(3));
    CHECK_NOTHROW(bar.finish());

    CHECK(calls == 3);
    CHECK(bar.done() == 3);
  }

  TEST_CASE("a progress_bar draws on a pseudo-terminal and ends the line" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    const char* name = ::ptsname(master);
    REQUIRE(name != nullptr);
    const int slave = ::open(name, O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
    std::FILE* terminal = ::fdopen(slave, "w");
    REQUIRE(terminal != nullptr);

    sluice::manual_clock clock;
    {
      sluice::progress_bar bar{{.label = "pty", .terminal = terminal, .clock = &clock}};
      CHECK(bar.drawing());
      bar.advance(3);
      bar.finish();
    }
    // The terminal may turn "\n" into "\r\n" on its way to the master side.
    const std::string got = read_until(master, "\n", 5s);
    CHECK(got.find(frame("pty: 0 items [00:00, ? items/s]")) == 0);
    CHECK(got.find(frame("pty: 3 items [00:00, ? items/s]")) != std::string::npos);
    CHECK(got.back() == '\n');

    std::fclose(terminal);
    ::close(master);
  }

  TEST_CASE("on a pipe a progress_bar writes a plain line every log_every and a final line" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    int ends[2];
    REQUIRE(::pipe(ends) == 0);
    std::FILE* log = ::fdopen(ends[1], "w");
    REQUIRE(log != nullptr);

    {
      sluice::progress_bar bar{
          {.total = 10, .label = "rows", .terminal = log, .clock = &clock, .log_every = 5s}};
      CHECK(bar.drawing());
      bar.advance(2);  // 0 s: no line yet
      clock.advance(4s);
      bar.advance(1);  // 4 s: still none
      clock.advance(1s);
      bar.advance(1);  // 5 s: a line
      clock.advance(1s);
      bar.advance(1);  // 6 s: none, the last is 1 s old
      bar.finish();
    }
    std::fclose(log);

    std::string got;
    char buffer[256];
    for (ssize_t n; (n = ::read(ends[0], buffer, sizeof buffer)) > 0;) got.append(buffer, n);
    ::close(ends[0]);
    CHECK(got ==
          "rows:  40% [########............] 4/10 [00:05<00:07, 0.8 items/s]\n"
          "rows:  50% [##########..........] 5/10 [00:06<00:06, 0.8 items/s]\n");
  }

  TEST_CASE("with a log_every of 0 a progress_bar writes nothing on a pipe, and only counts" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    int ends[2];
    REQUIRE(::pipe(ends) == 0);
    std::FILE* terminal = ::fdopen(ends[1], "w");
    REQUIRE(terminal != nullptr);

    {
      sluice::progress_bar bar{
          {.total = 5, .label = "pipe", .terminal = terminal, .log_every = 0s}};
      CHECK_FALSE(bar.drawing());
      bar.advance(5);
      bar.finish();
      CHECK(bar.done() == 5);
    }
    std::fclose(terminal);  // the reader sees the end of the pipe at once: nothing was written

    char buffer[64];
    CHECK(::read(ends[0], buffer, sizeof buffer) == 0);
    ::close(ends[0]);
  }

  TEST_CASE("advance() from many threads counts every item and draws whole frames one at a time" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t kThreads = 4;
    constexpr std::uint64_t kEach = 10'000;
    constexpr std::uint64_t kTotal = kThreads * kEach;
    sluice::manual_clock clock;
    frames seen;
    sluice::progress_bar bar{
        {.total = kTotal, .label = "many", .draw = seen.draw(), .clock = &clock}};

    sluice_test::run_on_threads(kThreads, [&](std::size_t) {
      for (std::uint64_t i = 1; i <= kEach; ++i) {
        bar.advance();
        if (i % 500 == 0) clock.advance(30ms);  // time for a frame now and then
      }
    });
    bar.finish();

    CHECK(bar.done() == kTotal);
    CHECK_FALSE(seen.overlapped());
    const std::vector<std::string> all = seen.all();
    CHECK(all.size() > 3);
    CHECK(all.back().find("many: 100% [####################] 40000/40000 [") == 1);
    const std::regex well_formed(
        "\rmany: +[0-9]+% \\[[#.]{20}\\] ([0-9]+)/40000 "
        "\\[[0-9]{2}:[0-9]{2}<([0-9]{2}:[0-9]{2}|\\?), [0-9.?]+[kM]? items/s\\]\x1b\\[K\n?");
    std::uint64_t previous = 0;
    for (const std::string& f : all) {
      CAPTURE(f);
      std::smatch parts;
      REQUIRE(std::regex_match(f, parts, well_formed));
      const std::uint64_t done = std::stoull(parts[1].str());
      CHECK(done >= previous);  // frames come in order
      previous = done;
    }
  }
}

TEST_SUITE("progress run option") {
  TEST_CASE("show_progress advances the bar once per output and its final frame says N/N" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto doubled = sluice::task(numbers, sluice::branch) | sluice::task(twice);

    auto outputs = doubled(100);
    outputs.show_progress({.total = 100, .label = "items", .draw = seen.draw(), .clock = &clock});
    CHECK(sluice_test::drain(outputs) == 100);

    CHECK(seen.all() ==
          std::vector<std::string>{
              frame("items:   0% [....................] 0/100 [00:00<?, ? items/s]"),
              final_frame("items: 100% [####################] 100/100 [00:00<00:00, ? items/s]")});
  }

  TEST_CASE("with count_task the bar counts that task's items, not the stream's batches" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto batched = sluice::task(numbers, sluice::branch) | sluice::batch(10);

    auto batches = batched(100);
    batches.show_progress({.total = 100,
                           .label = "rows",
                           .draw = seen.draw(),
                           .clock = &clock,
                           .count_task = "task#1"});
    CHECK(sluice_test::drain(batches) == 10);

    CHECK(seen.last() ==
          final_frame("rows: 100% [####################] 100/100 [00:00<00:00, ? items/s]"));
  }

  TEST_CASE("count_task names a task by the name it was given, and its count may grow past an "
            "output" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto fanned = sluice::task(numbers, sluice::branch) |
                  sluice::task([](int x) { return std::vector<int>{x, x}; }, sluice::branch,
                               {.name = "split"}) |
                  sluice::batch(1000);

    auto outputs = fanned(30);
    outputs.show_progress({.draw = seen.draw(), .clock = &clock, .count_task = "split"});
    CHECK(sluice_test::drain(outputs) == 1);  // one batch of all 60

    CHECK(seen.last() == final_frame("60 items [00:00, ? items/s]"));
  }

  TEST_CASE("show_progress rejects a count_task the pipeline does not have, naming its tasks" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto doubled = sluice::task(numbers, sluice::branch) | sluice::task(twice, {.name = "double"});

    auto outputs = doubled(10);
    std::string message;
    try {
      outputs.show_progress({.draw = [](std::string_view) {}, .count_task = "parse"});
    } catch (const std::invalid_argument& error) {
      message = error.what();
    }
    CHECK(message ==
          "sluice: show_progress: the bar is to count the items of task 'parse', but the "
          "pipeline has no task of that name; its tasks: task#1 double");
    CHECK(sluice_test::drain(outputs) == 10);  // the stream is still whole
  }

  TEST_CASE("a stream shows the bar's frames as its outputs are handed out" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto doubled = sluice::task(numbers, sluice::branch) | sluice::task(twice);

    auto outputs = doubled(10);
    outputs.show_progress({.draw = seen.draw(), .clock = &clock});
    CHECK(outputs.next() == 0);
    CHECK(outputs.next() == 2);
    clock.advance(1s);
    CHECK(outputs.next() == 4);
    CHECK(seen.last() == frame("3 items [00:01, 3.0 items/s]"));
  }

  TEST_CASE("a stream destroyed early draws its final frame with what it handed out" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto doubled = sluice::task(numbers, sluice::branch) | sluice::task(twice);
    {
      auto outputs = doubled(100);
      outputs.show_progress({.total = 100, .draw = seen.draw(), .clock = &clock});
      CHECK(outputs.next().has_value());
      CHECK(outputs.next().has_value());
      CHECK(seen.size() == 1);
    }
    CHECK(seen.size() == 2);
    CHECK(seen.last() == final_frame("  2% [....................] 2/100 [00:00<?, ? items/s]"));
  }

  TEST_CASE("a stream that fails draws its final frame before the error reaches the puller" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto failing = sluice::task(numbers, sluice::branch) | sluice::task([](int x) {
                     if (x == 5) throw sluice_test::test_error(x);
                     return x;
                   });

    auto outputs = failing(100);
    outputs.show_progress({.total = 100, .draw = seen.draw(), .clock = &clock});
    std::size_t frames_at_error = 0;
    try {
      sluice_test::drain(outputs);
    } catch (const sluice_test::test_error& error) {
      CHECK(error.item == 5);
      frames_at_error = seen.size();
    }
    CHECK(frames_at_error == 2);
    CHECK(final_frames(seen) == 1);
    CHECK(seen.last().find("/100 [00:00<") != std::string::npos);
  }

  TEST_CASE("a moved stream keeps its bar, which finishes once" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto doubled = sluice::task(numbers, sluice::branch) | sluice::task(twice);
    {
      auto first = doubled(20);
      first.show_progress({.draw = seen.draw(), .clock = &clock});
      CHECK(first.next() == 0);
      auto second = std::move(first);
      CHECK(sluice_test::drain(second) == 19);
      auto third = doubled(5);
      third = std::move(second);  // `third` shuts its own run, which had no bar
    }
    CHECK(final_frames(seen) == 1);
    CHECK(seen.last() == final_frame("20 items [00:00, ? items/s]"));
  }

  TEST_CASE("a second show_progress finishes the first bar and starts a new one from 0" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto doubled = sluice::task(numbers, sluice::branch) | sluice::task(twice);

    auto outputs = doubled(10);
    outputs.show_progress({.label = "a", .draw = seen.draw(), .clock = &clock});
    CHECK(outputs.next() == 0);
    outputs.show_progress({.label = "b", .draw = seen.draw(), .clock = &clock});
    CHECK(sluice_test::drain(outputs) == 9);

    CHECK(seen.all() == std::vector<std::string>{frame("a: 0 items [00:00, ? items/s]"),
                                                 final_frame("a: 1 items [00:00, ? items/s]"),
                                                 frame("b: 0 items [00:00, ? items/s]"),
                                                 final_frame("b: 9 items [00:00, ? items/s]")});
  }

  TEST_CASE("with_progress draws a bar of the outputs the sink takes, on every run" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto counted = (sluice::task(numbers, sluice::branch) | sluice::task(twice) > sluice::count())
                       .with_progress({.total = 50, .draw = seen.draw(), .clock = &clock});

    CHECK(counted(50) == 50);
    CHECK(seen.last() == final_frame("100% [####################] 50/50 [00:00<00:00, ? items/s]"));
    CHECK(counted(50) == 50);
    CHECK(final_frames(seen) == 2);
    CHECK(seen.size() == 4);
  }

  TEST_CASE("with_progress leaves the runnable it was called on without a bar" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto plain = sluice::task(numbers, sluice::branch) > sluice::count();
    auto shown = plain.with_progress({.draw = seen.draw(), .clock = &clock});

    CHECK(plain(10) == 10);
    CHECK_FALSE(plain.progress().has_value());
    CHECK(seen.size() == 0);
    CHECK(shown(10) == 10);
    CHECK(seen.last() == final_frame("10 items [00:00, ? items/s]"));
  }

  TEST_CASE("a runnable keeps its bar when a pipeline is put in front of it" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock clock;
    frames seen;
    auto tail = (sluice::task(twice) > sluice::count())
                    .with_progress({.label = "tail", .draw = seen.draw(), .clock = &clock});
    auto whole = sluice::task(numbers, sluice::branch) | tail;

    CHECK(whole(7) == 7);
    CHECK(seen.last() == final_frame("tail: 7 items [00:00, ? items/s]"));
  }
}
