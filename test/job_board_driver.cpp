// sluice_job_board_driver: plays a scripted run of seven jobs on a sluice::terminal_board on
// stdout, with real sleeps and a tick every 20 ms, for test/job_board_tmux_test.cpp, which runs
// it inside tmux and compares the screen it leaves.
//
//   sluice_job_board_driver <gate-file>
//
// Before the last two jobs finish it keeps ticking until <gate-file> exists (at most 60 s), so
// that the test can look at the live board: header, two running jobs, one name too long for
// the 60 columns. Exits 0.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include <sluice/job_events.hpp>

namespace {

using namespace std::chrono_literals;
using sluice::job_event;
using sluice::job_event_kind;
using sluice::job_reason;
using sluice::job_state;

constexpr std::chrono::nanoseconds kNeverRan{-1};  // `began` of a job that never started
constexpr std::string_view kLongName =
    "compile::a-very-long-job-name-that-does-not-fit-in-sixty-columns";

class script {
 public:
  explicit script(sluice::terminal_board& board) : board_(board) {}

  std::chrono::nanoseconds now() const { return std::chrono::steady_clock::now() - start_; }

  void want(std::string job) {
    ++total_;
    emit({.job = std::move(job), .event = job_event_kind::wanted, .state = job_state::wanted});
  }
  void start(std::string job, std::size_t attempt = 1) {
    emit({.job = std::move(job),
          .event = job_event_kind::started,
          .state = job_state::running,
          .attempt = attempt});
  }
  void finish(std::string job, job_event_kind kind, job_state state, std::chrono::nanoseconds began,
              job_reason reason = job_reason::none, std::string detail = {},
              std::string output = {}) {
    emit({.job = std::move(job),
          .event = kind,
          .state = state,
          .duration = began == kNeverRan ? std::chrono::nanoseconds{} : now() - began,
          .reason = reason,
          .detail = std::move(detail),
          .output = std::move(output)});
  }
  void retry(std::string job, std::size_t attempt, std::string what) {
    emit({.job = std::move(job),
          .event = job_event_kind::retrying,
          .state = job_state::wanted,
          .detail = std::move(what),
          .attempt = attempt});
  }

  // Sleeps `d`, ticking the board every 20 ms.
  void wait(std::chrono::nanoseconds d) {
    const auto until = now() + d;
    while (now() < until) tick();
  }
  // Ticks until `gate` exists, or 60 s passed.
  void wait_for(const char* gate) {
    const auto until = now() + 60s;
    while (now() < until) {
      if (std::FILE* f = std::fopen(gate, "r")) {
        std::fclose(f);
        return;
      }
      tick();
    }
  }

 private:
  void tick() {
    board_.tick(now());
    std::this_thread::sleep_for(20ms);
  }
  void emit(job_event e) {
    e.seq = ++seq_;
    e.time = now();
    e.total = total_;
    board_(e);
  }

  sluice::terminal_board& board_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::uint64_t seq_ = 0;
  std::size_t total_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <gate-file>\n", argv[0]);
    return 2;
  }
  // Fully buffered: each frame the board flushes reaches the terminal in one write(2).
  static char buffer[1 << 16];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);

  sluice::terminal_board board(stdout);  // width: the terminal's (TIOCGWINSZ)
  script s(board);
  const std::string long_name(kLongName);
  for (const char* job : {"setup", "lint", "test", "deploy", "release", "docs"}) s.want(job);
  s.want(long_name);

  const auto setup_began = s.now();
  s.start("setup");
  s.wait(150ms);
  s.finish("setup", job_event_kind::succeeded, job_state::succeeded, setup_began);

  const auto began = s.now();
  s.start(long_name);
  s.start("lint");
  s.start("test");
  s.wait(200ms);
  s.finish("lint", job_event_kind::failed, job_state::failed, began, job_reason::exception,
           "2 warnings treated as errors",
           "src/a.cpp:3: warning: unused variable 'x'\n"
           "src/b.cpp:9: warning: declaration shadows 'y'\n");
  s.retry("test", 1, "flaky: connection reset");
  s.finish("deploy", job_event_kind::failed, job_state::failed, kNeverRan,
           job_reason::dependency_failed, "lint");
  s.finish("release", job_event_kind::failed, job_state::failed, kNeverRan, job_reason::run_aborted,
           "lint");
  s.finish("docs", job_event_kind::skipped, job_state::skipped, kNeverRan, job_reason::cancelled);
  s.wait(100ms);
  s.start("test", 2);

  s.wait_for(argv[1]);
  s.wait(100ms);
  s.finish("test", job_event_kind::succeeded, job_state::succeeded, began);
  s.wait(50ms);
  s.finish(long_name, job_event_kind::succeeded, job_state::succeeded, began);
  board.finish(s.now());
  return 0;
}
