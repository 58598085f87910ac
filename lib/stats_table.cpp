// sluice::stats_table, likely_bottleneck and stats_board (sluice/stats_table.hpp).
#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sluice/stats_table.hpp>

#include "terminal.hpp"

namespace sluice {
namespace {

constexpr std::size_t kColumns = 9;
constexpr std::array<std::string_view, kColumns> kHeader = {
    "task", "in", "out", "failed", "retried", "in flight", "queued", "busy %", "blocked %"};
constexpr std::string_view kGap = "  ";
constexpr std::string_view kMark = "  <- bottleneck";

std::string decimal(std::uint64_t n) { return std::to_string(n); }

// `part` of `whole` in percent, one decimal.
std::string percent(std::chrono::nanoseconds part, std::chrono::nanoseconds whole) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f",
                100.0 * static_cast<double>(part.count()) / static_cast<double>(whole.count()));
  return text;
}

std::array<std::string, kColumns> cells(const task_stats& s) {
  const std::chrono::nanoseconds worked = s.busy + s.blocked;
  const bool any = worked.count() > 0;
  return {s.name,
          decimal(s.items_in),
          decimal(s.items_out),
          decimal(s.failed),
          decimal(s.retried),
          decimal(s.in_flight),
          decimal(s.queued),
          any ? percent(s.busy, worked) : "-",
          any ? percent(s.blocked, worked) : "-"};
}

}  // namespace

std::optional<std::size_t> likely_bottleneck(const std::vector<task_stats>& stats) {
  std::optional<std::size_t> waited_for;  // the best candidate with items waiting
  std::optional<std::size_t> any;         // the best candidate
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const task_stats& s = stats[i];
    // At least half of its working time in calls: busy >= blocked.
    if (s.busy.count() <= 0 || s.busy < s.blocked) continue;
    if (!any || s.busy > stats[*any].busy) any = i;
    if (s.queued > 0 && (!waited_for || s.busy > stats[*waited_for].busy)) waited_for = i;
  }
  return waited_for ? waited_for : any;
}

std::string stats_table(const std::vector<task_stats>& stats) {
  std::vector<std::array<std::string, kColumns>> rows;
  rows.reserve(stats.size());
  std::array<std::size_t, kColumns> width{};
  for (std::size_t c = 0; c < kColumns; ++c) width[c] = kHeader[c].size();
  for (const task_stats& s : stats) {
    rows.push_back(cells(s));
    for (std::size_t c = 0; c < kColumns; ++c) {
      width[c] = std::max(width[c], detail::code_points(rows.back()[c]));
    }
  }
  const std::optional<std::size_t> marked = likely_bottleneck(stats);

  std::string out;
  const auto add_row = [&](const auto& row) {
    for (std::size_t c = 0; c < kColumns; ++c) {
      const std::string_view cell = row[c];
      const std::size_t pad = width[c] - detail::code_points(cell);
      if (c != 0) {
        out += kGap;
        out.append(pad, ' ');
      }
      out += cell;
      if (c == 0) out.append(pad, ' ');
    }
  };
  add_row(kHeader);
  out += '\n';
  for (std::size_t i = 0; i < rows.size(); ++i) {
    add_row(rows[i]);
    if (marked == i) out += kMark;
    out += '\n';
  }
  return out;
}

struct stats_board::impl {
  std::function<std::vector<task_stats>()> source;
  stats_board_options options;
  bool live = false;  // a terminal: drawn by `drawer`

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mu
  bool stopped = false;   // stop() has run; touched by the stopping thread only

  // Invariant: the live table occupies the `drawn_lines` lines just above the cursor, which
  // stands in column 0 of the line below them. Touched by `drawer`, then (joined) by stop().
  std::size_t drawn_lines = 0;
  bool cursor_hidden = false;
  std::thread drawer;

  impl(std::function<std::vector<task_stats>()> s, stats_board_options o)
      : source(std::move(s)), options(std::move(o)) {}

  // The table now, or nothing when `source` throws.
  std::optional<std::string> table() noexcept {
    try {
      return stats_table(source());
    } catch (...) {
      return std::nullopt;
    }
  }

  void redraw() noexcept {
    try {
      const std::optional<std::string> text = table();
      if (!text) return;
      const detail::terminal_size size = detail::size_of(options.terminal);
      const auto columns = static_cast<std::size_t>(std::max(size.columns, 1));
      const auto rows = static_cast<std::size_t>(std::max(size.rows - 2, 1));
      std::string frame;
      detail::append_erase(frame, drawn_lines);
      drawn_lines = 0;
      if (!cursor_hidden) {
        frame += detail::kHideCursor;
        cursor_hidden = true;
      }
      std::string_view rest = *text;
      while (!rest.empty() && drawn_lines < rows) {
        const std::size_t end = rest.find('\n');
        frame += detail::first_code_points(rest.substr(0, end), columns);
        frame += '\n';
        ++drawn_lines;
        rest.remove_prefix(end + 1);
      }
      detail::write_whole(options.terminal, frame);
    } catch (...) {
      // std::bad_alloc: this frame is lost; the next one comes on time.
    }
  }

  void run() noexcept {
    std::unique_lock lock(mu);
    while (!stopping) {
      lock.unlock();
      redraw();
      lock.lock();
      wake.wait_for(lock, options.every, [&] { return stopping; });
    }
  }
};

stats_board::stats_board(std::function<std::vector<task_stats>()> source,
                         stats_board_options options)
    : impl_(std::make_unique<impl>(std::move(source), std::move(options))) {
  if (impl_->options.terminal == nullptr) impl_->options.terminal = stderr;
  impl_->live = detail::is_terminal(impl_->options.terminal);
  if (impl_->live) impl_->drawer = std::thread([s = impl_.get()] { s->run(); });
}

stats_board::~stats_board() { stop(); }

void stats_board::stop() noexcept {
  impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  if (s.drawer.joinable()) {
    {
      std::lock_guard lock(s.mu);
      s.stopping = true;
    }
    s.wake.notify_all();
    s.drawer.join();
  }
  if (!s.live && !s.options.final_off_terminal) return;
  try {
    std::string frame;
    detail::append_erase(frame, s.drawn_lines);
    s.drawn_lines = 0;
    if (const std::optional<std::string> text = s.table()) frame += *text;
    if (s.cursor_hidden) {
      frame += detail::kShowCursor;
      s.cursor_hidden = false;
    }
    detail::write_whole(s.options.terminal, frame);
  } catch (...) {
    // std::bad_alloc: the final table is lost; show the cursor at least.
    if (s.cursor_hidden) detail::write_whole(s.options.terminal, detail::kShowCursor);
  }
}

}  // namespace sluice
