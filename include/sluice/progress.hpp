// This header defines sluice::progress_bar, a text progress bar for long runs, and
// sluice::progress_options, which pmap, opmap and a pipeline's run take to draw one.
//
// Example:
//   auto v = sluice::pmap(resize, images, {.progress = true});       // on stderr
//   auto s = pipeline(args);  s.show_progress({.total = rows, .label = "rows"});
//   sluice::progress_bar bar{{.total = files.size()}};
//   for (auto& f : files) { load(f); bar.advance(); }
//
// What a frame shows: the label, done/total and percent (done alone when the total is unknown),
// the rate in items per second, the elapsed time and, with a total, the time left. A frame is
// drawn at most 10 times a second, on advance(); finish() draws the final frame and ends the
// line. On a terminal each frame overwrites the previous one ("\r" ... erase to end of line).
// Where: `draw` when set (every frame, whatever the terminal), else the `terminal` stream
//   (stderr by default) when it is a terminal. Otherwise (a pipe, a file: a log) the bar writes
//   a plain line to `terminal` every `log_every` (5 s by default) and a final line, each the
//   text of a frame without its "\r" and "\x1b[K", ending in "\n"; with a log_every of 0 it
//   writes nothing and advance() costs one atomic add.
// Thread safety: advance() may be called from many threads at once; finish() once, after them.
//
// A frame, exactly (`draw` receives these very bytes, one call per frame):
//   with a total: "\r" LABEL PCT "% [" BAR "] " DONE "/" TOTAL
//                 " [" ELAPSED "<" LEFT ", " RATE " items/s]\x1b[K"
//   without:      "\r" LABEL DONE " items [" ELAPSED ", " RATE " items/s]\x1b[K"
// and the final frame ends in "\x1b[K\n" instead. For instance:
//   "\rrows:  42% [########............] 420/1000 [00:03<00:04, 140.0 items/s]\x1b[K"
//   "\rrows: 420 items [00:03, 140.0 items/s]\x1b[K"
// - LABEL: the label and ": ", or nothing when the label is empty.
// - PCT: floor(100 * done / total), at most 100, right-aligned in 3 columns ("  0", " 42",
//   "100"); 100 for a total of 0.
// - BAR: 20 characters, floor(20 * done / total) of them '#' (at most 20), the rest '.'.
// - DONE, TOTAL: decimal integers; DONE may exceed TOTAL, and is then shown as it is.
// - ELAPSED: the time since construction, in whole seconds (rounded down): "mm:ss" under an
//   hour, "h:mm:ss" from an hour on ("00:03", "59:59", "1:00:00", "12:03:04").
// - RATE: done / elapsed (elapsed to the clock's tick) with one decimal, in thousands ("1.2k"),
//   millions ("3.4M") or billions ("5.6G") once the plain figure would show 1000.0 or more
//   ("140.0", "999.9", "1.0k"); "?" while no time has passed (elapsed 0).
// - LEFT: (total - done) / rate, formatted as ELAPSED (rounded down); "00:00" once done >= total;
//   "?" while the rate is "?" or 0.
// When frames are drawn: one at construction (0 done), then on advance() when the last frame is
// 100 ms old or older on options.clock (so at most 10 a second; an advance() that comes sooner
// draws nothing, and one racing with another thread's drawing skips its frame), and the final
// one on finish(), however recent the last. A terminal gets each frame with one fwrite and is
// flushed after it; a write error is ignored.
// Plain lines come on advance() once `log_every` has passed since the last line (or since
// construction: none is written at construction), and the final one on finish(), for instance
//   "rows:  42% [########............] 420/1000 [00:03<00:04, 140.0 items/s]\n"
//   "rows: 420 items [00:03, 140.0 items/s]\n"
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/clock.hpp>

namespace sluice {

struct progress_options {
  std::optional<std::uint64_t> total{};  // items expected; empty -> unknown: done alone
  std::string label{};                   // shown before the counts; "" -> none
  std::FILE* terminal = nullptr;         // nullptr -> stderr; drawn only when it is a terminal
  std::function<void(std::string_view)> draw{};  // when set, gets every frame instead (tests,
                                                 // logs, a GUI), terminal or not
  const sluice::clock* clock = nullptr;          // nullptr -> the system clock
  // Off a terminal (no `draw`, `terminal` not a terminal): a plain line this often, and a final
  // one; 0 -> nothing at all.
  clock::duration log_every = std::chrono::seconds{5};
  // What the bar of a stream counts (stream::show_progress, runnable::with_progress): "" -> the
  // outputs the stream hands out; otherwise the items emitted by the task of this name (its
  // task_stats::name: the name it was given, else "task#<position>", the producer "task#1"),
  // so that a pipeline ending in a batch can count rows, not batches. A progress_bar used on
  // its own ignores it.
  std::string count_task{};
};

// Example:
//   sluice::progress_bar bar{{.total = files.size(), .label = "files"}};
//   for (auto& f : files) { load(f); bar.advance(); }
//   bar.finish();  // or let the destructor do it
// Thread safety: advance() may be called from many threads at once; at most one of them draws
//   at a time, so frames never interleave. finish() and the destructor once, after them.
// Exceptions: the constructor may throw std::bad_alloc. advance() and finish() throw nothing:
//   an exception from `draw` or from the clock is dropped (that frame is lost).
// Lifetime: options.terminal and options.clock must outlive the bar.
class progress_bar {
 public:
  explicit progress_bar(progress_options options = {});
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  ~progress_bar();  // finish(), when it was not called

  // `count` more items are done; redraws when the last frame is 100 ms old or older.
  void advance(std::uint64_t count = 1) noexcept {
    // Relaxed: done_ is a counter; the drawing thread and whoever calls done() after joining
    // the advancing threads need its value, not any order with other memory.
    done_.fetch_add(count, std::memory_order_relaxed);
    if (drawing_) redraw();
  }
  // Raises the count to `done` (a count kept elsewhere, sampled); a lower value changes nothing.
  // Redraws as advance() does.
  void advance_to(std::uint64_t done) noexcept {
    std::uint64_t seen = done_.load(std::memory_order_relaxed);
    // Relaxed, as in advance(): only the count's value matters.
    while (seen < done &&
           !done_.compare_exchange_weak(seen, done, std::memory_order_relaxed)) {
    }
    if (drawing_) redraw();
  }
  // Draws the final frame and ends its line. Later calls do nothing.
  void finish() noexcept;

  // Whether frames or lines go anywhere (a draw callback, a terminal, or plain lines to a file
  // or pipe).
  bool drawing() const noexcept { return drawing_; }
  std::uint64_t done() const noexcept { return done_.load(std::memory_order_relaxed); }

 private:
  struct impl;
  void redraw() noexcept;  // a frame, if it is time for one and no other thread is drawing

  std::unique_ptr<impl> impl_;
  bool drawing_ = false;
  std::atomic<std::uint64_t> done_{0};
};

}  // namespace sluice
