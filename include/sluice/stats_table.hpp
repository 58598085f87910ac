// This header defines sluice::stats_table, a run's per-task counters (stream::stats()) as a text
// table that marks the likely bottleneck, sluice::likely_bottleneck, the rule behind that mark,
// and sluice::stats_board, which redraws the table live on a terminal while the run goes on.
//
// Example:
//   auto batches = pipeline(path);
//   sluice::stats_board board{batches};     // redrawn on stderr every 0.5 s, if a terminal
//   for (auto& batch : batches) load(batch);
//   board.stop();                           // erases the live table, prints the final one
//   std::fputs(sluice::stats_table(batches).c_str(), log);  // at any time, anywhere
//
// The table, exactly: a header line, then one line per task in the order given, each ending in
// "\n". For instance:
//   task      in   out  failed  retried  in flight  queued  busy %  blocked %
//   parse      0  5000       0        0          1       0     3.2       96.8
//   enrich  4990  4988       0        2         20     512   100.0        0.0  <- bottleneck
//   load     480   480       0        0          0       0    91.5        8.5
// - Columns are separated by two spaces and are as wide as their widest cell, header included:
//   the task's name (task_stats::name, as it is) padded on the right, every other cell padded
//   on the left.
// - in, out, failed, retried, in flight, queued: task_stats' items_in, items_out, failed,
//   retried, in_flight and queued, as decimal integers.
// - busy %, blocked %: the task's busy and blocked times as shares of their sum (the time its
//   workers spent on items: in calls, or waiting for room downstream), in percent with one
//   decimal; "-" for both while the sum is 0.
// - The line of the likely bottleneck (likely_bottleneck()) ends in "  <- bottleneck"; no
//   other line has anything after its last column.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sluice/stats.hpp>

namespace sluice {

// The task that most likely limits the run's pace, as an index into `stats`; empty when no task
// qualifies (nothing has run yet). The rule:
// - a candidate has spent time in its calls (busy > 0) and at least half of its working time
//   (busy + blocked) there: a task mostly held back by what follows it waits for the
//   bottleneck rather than being it;
// - of the candidates with items waiting for them (queued > 0), the one with the most busy
//   time: while a run goes on, items pile up in front of the bottleneck and the tasks after it
//   wait for input;
// - when no candidate has items waiting (the run has ended, or nothing backs up), the candidate
//   with the most busy time.
// Ties go to the earlier task.
std::optional<std::size_t> likely_bottleneck(const std::vector<task_stats>& stats);

// The table described above. Exceptions: std::bad_alloc.
std::string stats_table(const std::vector<task_stats>& stats);

// Anything with stats() as sluice::stream has: the expression `s.stats()` must be valid and
// convert to std::vector<task_stats>.
template <class S>
concept has_task_stats = requires(const S& s) {
  { s.stats() } -> std::convertible_to<std::vector<task_stats>>;
};

// The table of a stream's stats() now. Thread safety: as stream::stats(), from any thread.
template <has_task_stats S>
std::string stats_table(const S& source) {
  return stats_table(source.stats());
}

struct stats_board_options {
  std::FILE* terminal = nullptr;             // nullptr -> stderr; live only on a terminal
  std::chrono::milliseconds every{500};      // between redraws
  bool final_off_terminal = false;           // off a terminal, stop() prints the final table
};

// The stats table of a running pipeline, redrawn in place on a terminal every `every` by a
// thread of its own, until stop(): that erases the live table, prints the final one (whole, to
// stay in the scrollback) and shows the cursor again. Off a terminal nothing is drawn live, and
// stop() prints the final table only with final_off_terminal. The cursor is hidden while the
// table is live. Each redraw is cut to the terminal's size (lines to its width, at most its
// height - 2 lines) and written with one fwrite: nothing else should write to the terminal
// while the board is live.
// Example: see the top of this header.
// Thread safety: stop() and the destructor from one thread; `source` is called from the
//   board's thread, and once more by stop() on the calling thread.
// Exceptions: the constructor may throw std::bad_alloc or std::system_error (no thread);
//   stop() throws nothing: a frame whose `source` throws is skipped.
// Lifetime: `terminal`, and the stream (or what `source` reads), must outlive the board or its
//   stop().
class stats_board {
 public:
  explicit stats_board(std::function<std::vector<task_stats>()> source,
                       stats_board_options options = {});
  template <has_task_stats S>
  explicit stats_board(const S& source, stats_board_options options = {})
      : stats_board([&source] { return std::vector<task_stats>(source.stats()); },
                    std::move(options)) {}
  stats_board(const stats_board&) = delete;
  stats_board& operator=(const stats_board&) = delete;
  ~stats_board();  // stop()

  // Ends the live table and prints the final one (see above). Later calls do nothing.
  void stop() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice
