// This header defines what a job graph (sluice/jobs.hpp) reports while it runs: a job's state
// and the reason it ended, the events of its life, and the ready consumers of those events — a
// live board on a terminal, a plain line-per-event log, and an NDJSON writer.
//
// Example:
//   sluice::ndjson_writer json{file};                      // one JSON object per line
//   sluice::job_graph g{{.live = sluice::live_output::off, .on_event = std::ref(json)}};
//
// A job's life, as its events say it (every job that runs follows exactly this machine):
//
//   wanted ──► started ──► succeeded | failed | skipped
//      │         ▲  │
//      │         └──┴── retrying (the attempt failed and another is made after the delay)
//      └──► failed (a dependency failed, the run was aborted by no_failures, or cancelled)
//      └──► skipped (cancelled before it started: fail_fast or job_graph::cancel)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace sluice {

// Where a job is. idle: known (added or created) but not asked for; wanted: asked for, waiting
// for its dependencies, its wave, a lock or a free slot; the last three are final.
enum class job_state { idle, wanted, running, succeeded, failed, skipped };

// Why a job ended.
enum class job_reason {
  none,               // not finished, or succeeded
  exception,          // the callable threw (in this process)
  remote_exception,   // the callable threw in a worker process (sluice::remote_error)
  crashed,            // its worker process died: a signal or an exit (sluice::worker_crashed)
  timeout,            // it ran past job_options::timeout (sluice::timeout_error)
  dependency_failed,  // a dependency failed; the job never ran
  run_aborted,        // a no_failures dependency: another job had failed; the job never ran
  skipped,            // the callable threw sluice::skipped
  cancelled,          // fail_fast or job_graph::cancel() stopped it before (or while) it ran
};

// "idle", "wanted", ..., as the NDJSON schema writes them.
std::string_view to_string(job_state state) noexcept;
// "exception", "remote exception", "crashed", "timeout", "dependency failed", "run aborted",
// "skipped", "cancelled"; "" for none.
std::string_view to_string(job_reason reason) noexcept;

// What happened to a job.
enum class job_event_kind {
  wanted,     // asked for (start, run, a dependant, an rdep, when_scheduled)
  started,    // an attempt began (attempt 1, 2, ...)
  retrying,   // the attempt failed and job_options::retry makes another; detail holds what()
  succeeded,  // final
  failed,     // final; reason and detail say why
  skipped,    // final
};
// "wanted", "start", "retrying", "ok", "failed", "skipped".
std::string_view to_string(job_event_kind kind) noexcept;

// One event. Events of one graph are delivered one at a time, in `seq` order, from whatever
// thread caused them (never concurrently): a consumer needs no lock of its own.
struct job_event {
  std::uint64_t seq = 0;                 // 1, 2, ... across the graph: a total order
  std::chrono::nanoseconds time{};       // since the graph was made, on its clock
  std::string job{};                     // the job's full name ("build::dev")
  job_event_kind event = job_event_kind::wanted;
  job_state state = job_state::idle;     // the job's state after the event
  std::chrono::nanoseconds duration{};   // final events: from the first start (0 if it never ran)
  job_reason reason = job_reason::none;  // final events that are not success
  std::string detail{};                  // failed: what(); dependency_failed/run_aborted: the
                                         // job that failed; retrying: what() of the attempt
  std::size_t attempt = 0;               // started and retrying: the attempt's number (1-based)
  std::size_t total = 0;                 // jobs wanted so far in the graph (for [done/total])
  std::string output{};                  // failed: the tail of the job's captured output
  std::exception_ptr error{};            // failed: the exception (nullptr for the others)
};

// How a graph shows its progress (job_graph_options::live).
enum class live_output {
  automatic,  // the board when the output is a terminal, else the plain log
  board,      // the live board (escape codes; for terminals)
  log,        // the plain log: one line per event, no escape codes
  off,        // nothing (events still reach on_event)
};

// The plain log, one line per event (none for `wanted`), written whole and flushed (never
// interleaved):
//   [  0.31s] build::dev: start
//   [  0.62s] build::dev: ok 0.31s
//   [  0.63s] test: retrying (attempt 1): <what()>          (attempt: the one that failed)
//   [  0.70s] test: start (attempt 2)
//   [  0.70s] lint: FAILED 0.22s: <what()>                  (the reason's name if what() is "")
//       | <each line of the tail of its captured output>
//   [  0.70s] deploy: dependency failed: lint
//   [  0.70s] release: run aborted: lint failed
//   [  0.71s] maybe: skipped                                  (": <detail>" when it has one)
//   [  0.71s] later: cancelled                                (skipped, reason cancelled)
//   12 ok, 1 failed, 2 skipped in 3.4s                         (finish())
// Further lines of a multi-line what() follow its event's line, indented by four spaces. No
// escape codes, lines never wrapped: escape sequences in names, messages and output are
// removed, other control characters but tabs become '?', and of a line holding '\r' only what
// follows the last one is kept (as a terminal shows it). finish() counts every final event since
// the log was made. Thread safety: one event at a time (as a graph delivers).
class plain_log {
 public:
  explicit plain_log(std::FILE* out = stderr) noexcept : out_(out) {}
  void operator()(const job_event& e);
  void finish(std::chrono::nanoseconds elapsed);  // the summary line

 private:
  std::FILE* out_;
  std::size_t ok_ = 0, failed_ = 0, skipped_ = 0;
};

// The live board on a terminal, in the style of ninja and Bazel:
//   ✓ setup 0.31s                                   <- finished jobs scroll above the board
//   ✗ lint 0.22s: <what()>, then the tail of its output, once, whole
//   ✗ deploy: dependency failed: lint               (run_aborted: "run aborted: lint failed")
//   ⊘ maybe skipped                                 ("cancelled" for reason cancelled)
//   ↻ test: retrying (attempt 1): <what()>          (the job stays on the board)
//   [3/7] 2 running, 1 failed, 0 skipped  1.2s       <- the board, redrawn in place
//     build::dev  0.8s
//     build::prod 0.4s
// Each line of the board and the first line of a finished job are cut to the terminal's width
// (counted in code points; a name that does not fit is shortened with "…" first), so none
// wraps; a what() too long for that first line follows it whole on lines of its own, as the
// output does. Running jobs are listed longest-running first, as many as the terminal's height
// leaves room for (at most 20), with their time since their first start. tick() redraws the
// board at most 10 times a second, as do wanted and started events; a final or retrying event
// erases the board, prints its lines and redraws it at once. The cursor is hidden from the first
// redraw and shown again by finish() and by the destructor (which also erases the board, as
// when it is destroyed by an exception). After finish(), a later event or tick draws the board
// again. Escape sequences in names, messages and output are removed, as in plain_log.
// Thread safety: operator() and tick() are called one at a time (the graph does).
class terminal_board {
 public:
  // `width` 0: the terminal's width (TIOCGWINSZ on `out`), 80 when unknown.
  explicit terminal_board(std::FILE* out = stderr, int width = 0);
  terminal_board(const terminal_board&) = delete;
  terminal_board& operator=(const terminal_board&) = delete;
  ~terminal_board();
  void operator()(const job_event& e);
  // Redraws the board if 100 ms passed since the last redraw (`now`: since the graph began).
  void tick(std::chrono::nanoseconds now);
  void finish(std::chrono::nanoseconds elapsed);  // erases the board, prints the summary

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// Writes each event as one JSON object on one line, flushed whole, schema version 1:
//   {"v":1,"seq":3,"time":0.310,"job":"build::dev","event":"ok","state":"succeeded",
//    "duration":0.310,"reason":"","attempt":1,"detail":""}
// Every line has exactly these fields in this order; "event", "state" and "reason" are the
// to_string() names above. Times in seconds with three decimals. Strings are escaped per RFC
// 8259: quotes and backslashes, control characters as \u00XX; valid UTF-8 passes through and
// each byte of invalid UTF-8 becomes \ufffd. Thread safety: one event at a time.
class ndjson_writer {
 public:
  explicit ndjson_writer(std::FILE* out) noexcept : out_(out) {}
  void operator()(const job_event& e);

 private:
  std::FILE* out_;
};

}  // namespace sluice
