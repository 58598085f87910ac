// The consumers of job events (sluice/job_events.hpp): the names of states, reasons and event
// kinds, the plain log, the live terminal board and the NDJSON writer.
//
// Every consumer builds all it writes for one event (or one tick) in a string and hands it to
// one fwrite followed by one fflush, so output of one event is never split between writes.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/job_events.hpp>

#include "json_text.hpp"
#include "terminal.hpp"

namespace sluice {

std::string_view to_string(job_state state) noexcept {
  switch (state) {
    case job_state::idle:
      return "idle";
    case job_state::wanted:
      return "wanted";
    case job_state::running:
      return "running";
    case job_state::succeeded:
      return "succeeded";
    case job_state::failed:
      return "failed";
    case job_state::skipped:
      return "skipped";
  }
  return "unknown";
}

std::string_view to_string(job_reason reason) noexcept {
  switch (reason) {
    case job_reason::none:
      return "";
    case job_reason::exception:
      return "exception";
    case job_reason::remote_exception:
      return "remote exception";
    case job_reason::crashed:
      return "crashed";
    case job_reason::timeout:
      return "timeout";
    case job_reason::dependency_failed:
      return "dependency failed";
    case job_reason::run_aborted:
      return "run aborted";
    case job_reason::skipped:
      return "skipped";
    case job_reason::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(job_event_kind kind) noexcept {
  switch (kind) {
    case job_event_kind::wanted:
      return "wanted";
    case job_event_kind::started:
      return "start";
    case job_event_kind::retrying:
      return "retrying";
    case job_event_kind::succeeded:
      return "ok";
    case job_event_kind::failed:
      return "failed";
    case job_event_kind::skipped:
      return "skipped";
  }
  return "unknown";
}

namespace {

// The pieces joined. (g++ 12 at -O2 warns falsely, -Wrestrict, on `"literal" + std::string`.)
std::string concat(std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (std::string_view p : pieces) out += p;
  return out;
}

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using detail::append_erase;
using detail::code_points;
using detail::first_code_points;
using detail::is_continuation;
using detail::kHideCursor;
using detail::kShowCursor;
using detail::size_of;
using detail::terminal_size;
using detail::write_whole;

constexpr nanoseconds kRedrawInterval = 100ms;  // the board: at most 10 redraws a second
constexpr std::size_t kMaxRunningLines = 20;    // running jobs the board lists, at most
constexpr std::size_t kMinName = 12;  // a finished line shortens a name to no fewer code points

// `d` in seconds with `decimals` (1 to 9) decimals, rounded half away from zero, computed in
// integers so that e.g. 310 ms prints as 0.31 and never as 0.30999.
std::string seconds(nanoseconds d, int decimals) {
  std::uint64_t unit = 1'000'000'000;  // nanoseconds in the last decimal printed
  std::uint64_t scale = 1;             // 10^decimals
  for (int i = 0; i < decimals; ++i) {
    unit /= 10;
    scale *= 10;
  }
  const bool negative = d.count() < 0;
  const auto count = static_cast<std::uint64_t>(d.count());
  const std::uint64_t magnitude = negative ? 0 - count : count;
  const std::uint64_t units = (magnitude + unit / 2) / unit;
  const std::uint64_t whole = units / scale;
  const std::uint64_t fraction = units % scale;
  char text[48];
  std::snprintf(text, sizeof text, "%s%" PRIu64 ".%0*" PRIu64, negative && units != 0 ? "-" : "",
                whole, decimals, fraction);
  return text;
}

// The lines of `text`, split at '\n'; a final '\n' ends the last line and starts none.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  return lines;
}

// Appends one line of `line` (no '\n' in it) as a terminal would leave it and with nothing that
// could move the cursor or change the terminal: a '\r' inside the line keeps only what follows it
// (a progress bar's last frame; a final "\r" of "\r\n" is dropped), escape sequences (CSI, OSC
// and two-byte ones) are removed, and other C0 and C1 control characters and DEL become '?'. A
// tab stays a tab when `keep_tabs`, else becomes a space (the board counts columns).
void append_clean(std::string& out, std::string_view line, bool keep_tabs) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (const std::size_t cr = line.rfind('\r'); cr != std::string_view::npos) {
    line.remove_prefix(cr + 1);
  }
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(line[i]); };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const unsigned char c = byte(i);
    if (c == 0x1b) {                                    // ESC: skip the whole sequence
      if (i + 1 < line.size() && line[i + 1] == '[') {  // CSI: parameters, intermediates, final
        i += 2;
        while (i < line.size() && (byte(i) < 0x40 || byte(i) > 0x7e)) ++i;
      } else if (i + 1 < line.size() && line[i + 1] == ']') {  // OSC: up to BEL or ESC '\'
        i += 2;
        while (i < line.size() && byte(i) != 0x07 &&
               !(byte(i) == 0x1b && i + 1 < line.size() && line[i + 1] == '\\')) {
          ++i;
        }
        if (i < line.size() && byte(i) == 0x1b) ++i;
      } else {  // ESC, intermediates (0x20-0x2f), one final byte
        ++i;
        while (i < line.size() && byte(i) >= 0x20 && byte(i) <= 0x2f) ++i;
      }
      continue;
    }
    if (c == '\t') {
      out += keep_tabs ? '\t' : ' ';
    } else if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else if (c == 0xc2 && i + 1 < line.size() && byte(i + 1) >= 0x80 && byte(i + 1) <= 0x9f) {
      out += '?';  // a C1 control in UTF-8 (U+0080 to U+009F): 0xc2 0x9b is a CSI
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
}

std::string clean(std::string_view line, bool keep_tabs) {
  std::string out;
  append_clean(out, line, keep_tabs);
  return out;
}

// `text` as one clean line: its lines joined by a space (for the board's one-line messages).
std::string one_line(std::string_view text) {
  std::string out;
  for (std::string_view line : split_lines(text)) {
    if (!out.empty()) out += ' ';
    append_clean(out, line, false);
  }
  return out;
}

// `text` in at most `n` code points: cut to n - 1 and ended by "…" when longer.
std::string fit(std::string_view text, std::size_t n) {
  if (code_points(text) <= n) return std::string(text);
  if (n == 0) return {};
  std::string out(first_code_points(text, n - 1));
  out += "\u2026";
  return out;
}

// What a failure says: what() (`detail`), else the reason's name.
std::string_view failure_message(const job_event& e) {
  return e.detail.empty() ? to_string(e.reason) : std::string_view(e.detail);
}

// "12 ok, 1 failed, 2 skipped in 3.4s\n"
std::string summary(std::size_t ok, std::size_t failed, std::size_t skipped, nanoseconds elapsed) {
  char text[128];
  std::snprintf(text, sizeof text, "%zu ok, %zu failed, %zu skipped in %ss\n", ok, failed, skipped,
                seconds(elapsed, 1).c_str());
  return text;
}

// --- JSON ----------------------------------------------------------------------------------------

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when it starts with none.
std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) low = 0xa0;   // overlong
    if (c == 0xed) high = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) low = 0x90;   // overlong
    if (c == 0xf4) high = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || at(1) < low || at(1) > high) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (!is_continuation(s[i])) return 0;
  }
  return n;
}

}  // namespace

namespace detail {

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  while (!text.empty()) {
    const auto c = static_cast<unsigned char>(text[0]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      text.remove_prefix(1);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
      text.remove_prefix(1);
    } else if (const std::size_t n = utf8_sequence(text); n != 0) {
      out.append(text.substr(0, n));
      text.remove_prefix(n);
    } else {
      out += "\\ufffd";
      text.remove_prefix(1);
    }
  }
  out += '"';
}

}  // namespace detail

// --- plain_log -----------------------------------------------------------------------------------

void plain_log::operator()(const job_event& e) {
  if (e.event == job_event_kind::wanted) return;  // no line: only what happens is logged

  // "[  0.31s] name: "
  std::string text = "[";
  const std::string time = seconds(e.time, 2);
  if (time.size() < 6) text.append(6 - time.size(), ' ');
  text += time;
  text += "s] ";
  append_clean(text, e.job, true);
  text += ": ";

  // The message's first line ends the event's line; any further lines of it follow, indented.
  const auto append_message = [&text](std::string_view message) {
    const std::vector<std::string_view> lines = split_lines(message);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) text += "\n    ";
      append_clean(text, lines[i], true);
    }
  };

  switch (e.event) {
    case job_event_kind::wanted:
      break;
    case job_event_kind::started:
      text += "start";
      if (e.attempt > 1) text += " (attempt " + std::to_string(e.attempt) + ")";
      break;
    case job_event_kind::retrying:
      text += "retrying (attempt " + std::to_string(e.attempt) + ")";
      if (!e.detail.empty()) {
        text += ": ";
        append_message(e.detail);
      }
      break;
    case job_event_kind::succeeded:
      ++ok_;
      text += "ok " + seconds(e.duration, 2) + "s";
      break;
    case job_event_kind::failed:
      ++failed_;
      if (e.reason == job_reason::dependency_failed) {
        text += "dependency failed: ";
        append_clean(text, e.detail, true);
      } else if (e.reason == job_reason::run_aborted) {
        text += "run aborted: ";
        append_clean(text, e.detail, true);
        text += " failed";
      } else {
        text += "FAILED " + seconds(e.duration, 2) + "s";
        if (const std::string_view message = failure_message(e); !message.empty()) {
          text += ": ";
          append_message(message);
        }
      }
      break;
    case job_event_kind::skipped:
      ++skipped_;
      text += e.reason == job_reason::cancelled ? "cancelled" : "skipped";
      if (!e.detail.empty()) {
        text += ": ";
        append_message(e.detail);
      }
      break;
  }
  text += '\n';
  if (e.event == job_event_kind::failed) {
    for (std::string_view line : split_lines(e.output)) {
      text += "    | ";
      append_clean(text, line, true);
      text += '\n';
    }
  }
  write_whole(out_, text);
}

void plain_log::finish(std::chrono::nanoseconds elapsed) {
  write_whole(out_, summary(ok_, failed_, skipped_, elapsed));
}

// --- terminal_board ------------------------------------------------------------------------------

struct terminal_board::state {
  struct running_job {
    nanoseconds start;        // the time of its first start
    std::size_t attempt = 1;  // the attempt now running
  };

  std::FILE* out;
  int fixed_width;  // 0: ask the terminal at each redraw (it may be resized)

  std::map<std::string, running_job> running;  // started and not yet final, by full name
  std::size_t total = 0;                       // the largest job_event::total seen
  std::size_t done = 0, ok = 0, failed = 0, skipped = 0;

  // Invariant: the board occupies the `drawn_lines` lines just above the cursor, which stands in
  // column 0 of the line below them; 0 when no board is on the screen.
  std::size_t drawn_lines = 0;
  bool cursor_hidden = false;            // "\x1b[?25l" written, "\x1b[?25h" not yet
  std::optional<nanoseconds> last_draw;  // when the board was last redrawn; none before

  state(std::FILE* o, int width) : out(o), fixed_width(width) {}

  // Appends what moves the cursor to the board's first line and erases it and all below.
  void erase(std::string& frame) {
    append_erase(frame, drawn_lines);
    drawn_lines = 0;
  }

  // Appends the board as it is at `now` (which erase() must have removed from the screen).
  void draw(std::string& frame, nanoseconds now) {
    const terminal_size size = size_of(out);
    const auto width =
        static_cast<std::size_t>(std::max(1, fixed_width > 0 ? fixed_width : size.columns));
    // The board and the cursor's line must fit on the screen, or moving up cannot reach its top.
    const std::size_t room = static_cast<std::size_t>(std::max(size.rows - 2, 1));
    const std::size_t max_lines = std::min(room, kMaxRunningLines);

    if (!cursor_hidden) {
      frame += kHideCursor;
      cursor_hidden = true;
    }
    const auto add_line = [&](std::string_view line) {
      frame += first_code_points(line, width);
      frame += '\n';
      ++drawn_lines;
    };

    char text[160];
    std::snprintf(text, sizeof text, "[%zu/%zu] %zu running, %zu failed, %zu skipped  %ss", done,
                  std::max(total, done + running.size()), running.size(), failed, skipped,
                  seconds(now, 1).c_str());
    add_line(text);

    // The jobs running longest first; when not all fit, the last line counts the others.
    std::vector<std::pair<const std::string*, const running_job*>> jobs;
    jobs.reserve(running.size());
    for (const auto& [name, job] : running) jobs.emplace_back(&name, &job);
    const std::size_t shown = jobs.size() <= max_lines ? jobs.size() : max_lines - 1;
    std::partial_sort(jobs.begin(), jobs.begin() + static_cast<std::ptrdiff_t>(shown), jobs.end(),
                      [](const auto& a, const auto& b) {
                        return a.second->start != b.second->start
                                   ? a.second->start < b.second->start
                                   : *a.first < *b.first;
                      });
    // Labels ("name", "name (attempt 2)") padded to one column, which leaves room for "  "
    // before and " 999.9s" after; a name too long for it is shortened, never its attempt.
    std::vector<std::string> labels;
    labels.reserve(shown);
    std::size_t column = 0;
    const std::size_t label_room = width > 10 ? width - 10 : 1;
    for (std::size_t i = 0; i < shown; ++i) {
      const std::size_t attempt = jobs[i].second->attempt;
      const std::string suffix = attempt > 1 ? " (attempt " + std::to_string(attempt) + ")" : "";
      const std::size_t suffix_size = code_points(suffix);
      const std::size_t name_room = label_room > suffix_size ? label_room - suffix_size : 1;
      labels.push_back(fit(clean(*jobs[i].first, false), name_room) + suffix);
      column = std::max(column, code_points(labels.back()));
    }
    for (std::size_t i = 0; i < shown; ++i) {
      std::string line = "  " + labels[i];
      line.append(column - code_points(labels[i]) + 1, ' ');
      line += seconds(std::max(now - jobs[i].second->start, nanoseconds{0}), 1) + "s";
      add_line(line);
    }
    if (shown < jobs.size())
      add_line("  \u2026 and " + std::to_string(jobs.size() - shown) + " more");
    last_draw = now;
  }

  // Erases the board, appends `lines` above where it was (each ended by '\n'), redraws it.
  void redraw(nanoseconds now, std::string_view lines = {}) {
    std::string frame;
    erase(frame);
    frame += lines;
    draw(frame, now);
    write_whole(out, frame);
  }

  bool redraw_due(nanoseconds now) const {
    return !last_draw || now - *last_draw >= kRedrawInterval;
  }

  int width() const { return std::max(1, fixed_width > 0 ? fixed_width : size_of(out).columns); }

  // The line(s) a final event prints above the board. Its first line (the status) is cut to the
  // width, the job's name shortened with "…" first so that what follows it stays visible; the
  // lines of a long or multi-line what() and of the output follow whole.
  std::string finished_lines(const job_event& e) const {
    const auto columns = static_cast<std::size_t>(width());
    const std::string name = clean(e.job, false);
    // "<mark> <name><after>" as one status line.
    const auto status = [&](std::string_view mark, const std::string& after) {
      const std::size_t used = code_points(mark) + 1 + code_points(after);
      const std::size_t room = std::max(columns > used ? columns - used : 0, kMinName);
      const std::string line = concat({mark, " ", fit(name, room), after});
      return std::string(first_code_points(line, columns)) + "\n";
    };
    switch (e.event) {
      case job_event_kind::succeeded:
        return status("\u2713", concat({" ", seconds(e.duration, 2), "s"}));
      case job_event_kind::skipped:
        return status("\u2298", e.reason == job_reason::cancelled ? " cancelled" : " skipped");
      case job_event_kind::failed:
        break;
      default:
        return {};
    }
    if (e.reason == job_reason::dependency_failed) {
      return status("\u2717", concat({": dependency failed: ", one_line(e.detail)}));
    }
    if (e.reason == job_reason::run_aborted) {
      return status("\u2717", concat({": run aborted: ", one_line(e.detail), " failed"}));
    }
    // "✗ name 0.22s: what" when that fits on one line; else "✗ name 0.22s:" and what() below.
    const std::string duration = concat({" ", seconds(e.duration, 2), "s"});
    const std::vector<std::string_view> message = split_lines(failure_message(e));
    std::string text;
    if (message.empty()) {
      text = status("\u2717", duration);
    } else if (const std::string after =
                   duration + ": " + (message.size() == 1 ? clean(message[0], false) : "");
               message.size() == 1 &&
               2 + std::min(code_points(name), kMinName) + code_points(after) <= columns) {
      text = status("\u2717", after);
    } else {
      text = status("\u2717", duration + ":");
      for (std::string_view part : message) {
        append_clean(text, part, true);
        text += '\n';
      }
    }
    for (std::string_view part : split_lines(e.output)) {
      append_clean(text, part, true);
      text += '\n';
    }
    return text;
  }
};

terminal_board::terminal_board(std::FILE* out, int width)
    : state_(std::make_unique<state>(out, width)) {}

terminal_board::~terminal_board() {
  // No allocation here (it may run during stack unwinding): erase the board, show the cursor.
  if (state_->drawn_lines == 0 && !state_->cursor_hidden) return;
  char text[64];
  int n = 0;
  if (state_->drawn_lines > 0) {
    n = std::snprintf(text, sizeof text, "\r\x1b[%zuA\x1b[J", state_->drawn_lines);
  }
  if (state_->cursor_hidden) {
    n += std::snprintf(text + n, sizeof text - static_cast<std::size_t>(n), "%s",
                       kShowCursor.data());
  }
  write_whole(state_->out, std::string_view(text, static_cast<std::size_t>(n)));
}

void terminal_board::operator()(const job_event& e) {
  state& s = *state_;
  s.total = std::max(s.total, e.total);
  switch (e.event) {
    case job_event_kind::wanted:
      break;
    case job_event_kind::started: {
      auto [it, inserted] = s.running.try_emplace(e.job, state::running_job{e.time, e.attempt});
      if (!inserted) it->second.attempt = e.attempt;  // a retry: elapsed counts from the first
      break;
    }
    case job_event_kind::retrying: {
      std::string line = "\u21bb " + clean(e.job, false) + ": retrying (attempt " +
                         std::to_string(e.attempt) + ")";
      if (!e.detail.empty()) line += ": " + one_line(e.detail);
      s.redraw(e.time,
               std::string(first_code_points(line, static_cast<std::size_t>(s.width()))) + "\n");
      return;
    }
    case job_event_kind::succeeded:
    case job_event_kind::failed:
    case job_event_kind::skipped:
      s.running.erase(e.job);
      ++s.done;
      if (e.event == job_event_kind::succeeded) ++s.ok;
      if (e.event == job_event_kind::failed) ++s.failed;
      if (e.event == job_event_kind::skipped) ++s.skipped;
      s.redraw(e.time, s.finished_lines(e));
      return;
  }
  // wanted and started change only the board: redraw when a tick would.
  if (s.redraw_due(e.time)) s.redraw(e.time);
}

void terminal_board::tick(std::chrono::nanoseconds now) {
  if (state_->redraw_due(now)) state_->redraw(now);
}

void terminal_board::finish(std::chrono::nanoseconds elapsed) {
  state& s = *state_;
  std::string frame;
  s.erase(frame);
  frame += summary(s.ok, s.failed, s.skipped, elapsed);
  if (s.cursor_hidden) {
    frame += kShowCursor;
    s.cursor_hidden = false;
  }
  s.last_draw.reset();  // a later event or tick (another run) draws the board at once
  write_whole(s.out, frame);
}

// --- ndjson_writer -------------------------------------------------------------------------------

void ndjson_writer::operator()(const job_event& e) {
  std::string line;
  line.reserve(160 + e.job.size() + e.detail.size());
  char number[32];
  std::snprintf(number, sizeof number, "%" PRIu64, e.seq);
  line += "{\"v\":1,\"seq\":";
  line += number;
  line += ",\"time\":" + seconds(e.time, 3);
  line += ",\"job\":";
  detail::append_json_string(line, e.job);
  line += ",\"event\":";
  detail::append_json_string(line, to_string(e.event));
  line += ",\"state\":";
  detail::append_json_string(line, to_string(e.state));
  line += ",\"duration\":" + seconds(e.duration, 3);
  line += ",\"reason\":";
  detail::append_json_string(line, to_string(e.reason));
  line += ",\"attempt\":" + std::to_string(e.attempt);
  line += ",\"detail\":";
  detail::append_json_string(line, e.detail);
  line += "}\n";
  write_whole(out_, line);
}

}  // namespace sluice
