// The live board of <sluice/job_events.hpp> on a real terminal: test/job_board_driver.cpp
// plays a scripted run on a terminal_board inside a detached tmux session of 60x20, and the
// screens tmux shows are compared with what they must be: the live board (its width taken from
// the pseudo-terminal, lines cut to 60 columns, the cursor hidden), then the screen the run
// leaves (finished lines, summary, no leftover board line, nothing wrapped, the cursor shown).
// Skipped, with a message CTest recognises (SKIP_REGULAR_EXPRESSION), when tmux is missing.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

struct command_result {
  int status = -1;  // the exit status, or -1 when the command did not exit normally
  std::string output;
};

// Runs `command` with /bin/sh; its stdout and stderr together.
command_result run(const std::string& command) {
  command_result result;
  std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "popen failed: ", command);
  std::array<char, 4096> chunk{};
  while (const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) {
    result.output.append(chunk.data(), n);
  }
  const int status = ::pclose(pipe);
  if (WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

// `text` quoted for sh.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string::size_type begin = 0;
  while (begin < text.size()) {
    const std::string::size_type end = text.find('\n', begin);
    if (end == std::string::npos) {
      lines.push_back(text.substr(begin));
      break;
    }
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

// Durations ("0.31s", "12.4s") as "#s": they depend on the machine.
std::string normalised(const std::string& text) {
  static const std::regex duration("[0-9]+\\.[0-9]+s");
  return std::regex_replace(text, duration, "#s");
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The sluice_job_board_driver next to this test binary (both are built in test/).
std::string driver_path() {
  std::array<char, 4096> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  REQUIRE(n > 0);
  std::string path(self.data(), static_cast<std::size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "sluice_job_board_driver";
}

// A tmux server of our own (-L: its own socket; -f /dev/null: no user configuration), killed,
// with the driver in it, when the test ends however it ends; and a scratch directory.
class tmux_server {
 public:
  tmux_server() {
    std::string dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                      "/sluice-board-XXXXXX";
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    dir_ = dir;
    socket_ = "sluice-board-" + std::to_string(::getpid());
  }
  tmux_server(const tmux_server&) = delete;
  tmux_server& operator=(const tmux_server&) = delete;
  ~tmux_server() {
    static_cast<void>(tmux("kill-server"));
    static_cast<void>(run("rm -rf " + quoted(dir_)));
  }

  // `tmux -L <socket> -u -f /dev/null <arguments>`, also from inside a tmux session (no $TMUX).
  command_result tmux(const std::string& arguments) const {
    return run("env -u TMUX tmux -L " + quoted(socket_) + " -u -f /dev/null " + arguments);
  }
  std::string file(std::string_view name) const { return dir_ + "/" + std::string(name); }

 private:
  std::string dir_;
  std::string socket_;
};

}  // namespace

TEST_CASE("job board in tmux: the live board and the screen a run leaves") {
  if (run("command -v tmux").status != 0) {
    // CTest marks the test skipped on this line (test/CMakeLists.txt).
    std::printf("sluice-test-skipped: tmux is not installed (apt-get install tmux)\n");
    return;
  }
  sluice_test::watchdog guard{60s};
  const std::string driver = driver_path();
  REQUIRE_MESSAGE(exists(driver), "not built: ", driver);

  tmux_server server;
  const std::string gate = server.file("gate");
  const std::string status = server.file("status");
  // The driver's exit status goes to a file; the pane stays (sleep) so that it can be captured.
  const std::string inside =
      quoted(driver) + " " + quoted(gate) + "; echo $? > " + quoted(status) + "; exec sleep 600";
  const command_result started =
      server.tmux("new-session -d -x 60 -y 20 -s board " + quoted(inside));
  REQUIRE_MESSAGE(started.status == 0, started.output);

  const auto capture = [&] {
    // -J: a line the terminal wrapped comes back as one line, longer than 60 columns.
    const command_result screen = server.tmux("capture-pane -p -J -t board");
    REQUIRE_MESSAGE(screen.status == 0, screen.output);
    std::vector<std::string> lines = lines_of(screen.output);
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  };
  const auto cursor_shown = [&] {
    const command_result flag = server.tmux("display-message -p -t board '#{cursor_flag}'");
    REQUIRE_MESSAGE(flag.status == 0, flag.output);
    return flag.output == "1\n";
  };
  const auto joined = [](const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    return text;
  };

  // The live board, while the driver waits for the gate with two jobs running. Polled: the
  // watchdog bounds the wait.
  std::vector<std::string> live;
  for (;;) {
    live = capture();
    // The header, and the second attempt of `test` (the driver then waits for the gate).
    const bool board_up =
        std::any_of(live.begin(), live.end(),
                    [](const std::string& line) {
                      return line.starts_with("[5/7] 2 running, 3 failed, 1 skipped");
                    }) &&
        std::any_of(live.begin(), live.end(),
                    [](const std::string& line) { return line.starts_with("  test (attempt 2)"); });
    if (board_up && !cursor_shown()) break;
    REQUIRE_MESSAGE(!exists(status), "the driver ended before the gate:\n", joined(live));
    std::this_thread::sleep_for(20ms);
  }
  INFO("live screen:\n", joined(live));
  for (const std::string& line : live) CHECK(code_points(line) <= 60);
  REQUIRE(live.size() >= 3);
  const std::vector<std::string> board(live.end() - 3, live.end());
  CHECK(normalised(board[0]) == "[5/7] 2 running, 3 failed, 1 skipped  #s");
  CHECK(normalised(board[1]) ==
        "  compile::a-very-long-job-name-that-does-not-fit-i\xe2\x80\xa6 #s");
  CHECK(normalised(board[2]) == "  test (attempt 2)                                   #s");
  { std::ofstream{gate}; }

  // The screen the run leaves.
  while (!exists(status)) std::this_thread::sleep_for(20ms);
  std::string exit_status;
  std::ifstream{status} >> exit_status;
  CHECK(exit_status == "0");
  const std::vector<std::string> screen = capture();
  INFO("final screen:\n", joined(screen));
  for (const std::string& line : screen) CHECK(code_points(line) <= 60);
  CHECK(normalised(joined(screen)) ==
        "\xe2\x9c\x93 setup #s\n"
        "\xe2\x9c\x97 lint #s: 2 warnings treated as errors\n"
        "src/a.cpp:3: warning: unused variable 'x'\n"
        "src/b.cpp:9: warning: declaration shadows 'y'\n"
        "\xe2\x86\xbb test: retrying (attempt 1): flaky: connection reset\n"
        "\xe2\x9c\x97 deploy: dependency failed: lint\n"
        "\xe2\x9c\x97 release: run aborted: lint failed\n"
        "\xe2\x8a\x98 docs cancelled\n"
        "\xe2\x9c\x93 test #s\n"
        "\xe2\x9c\x93 compile::a-very-long-job-name-that-does-not-fit-in-\xe2\x80\xa6 #s\n"
        "3 ok, 3 failed, 1 skipped in #s\n");
  CHECK(cursor_shown());
}
