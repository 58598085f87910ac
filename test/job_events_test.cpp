// Tests of <sluice/job_events.hpp>, fed synthetic events: the names of states, reasons and
// kinds; the plain log's exact lines (each event once, none for `wanted`, no escape codes, the
// output tail, the summary, one write per event); the NDJSON writer's exact lines, its escaping,
// and that every line parses as one JSON object with the schema's fields (a small strict parser
// below); and the terminal board at a fixed width: its exact bytes, the screen a small terminal
// model shows, lines cut at the width, redraws throttled to one per 100 ms, and the cursor shown
// again by finish() and by the destructor, also during stack unwinding. The board on a real
// terminal is tested in job_board_tmux_test.cpp.
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/job_events.hpp>

#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice::job_event;
using sluice::job_event_kind;
using sluice::job_reason;
using sluice::job_state;

namespace {

// A FILE* writing to memory (open_memstream); text() is all written so far.
class memory_file {
 public:
  memory_file() : file_(::open_memstream(&data_, &size_)) { REQUIRE(file_ != nullptr); }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;
  ~memory_file() {
    std::fclose(file_);
    std::free(data_);
  }
  std::FILE* get() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* file_;
};

// An unbuffered FILE* (fopencookie) that records each write reaching it: with no buffer, each
// fwrite arrives as one write, so the writes are the consumer's fwrite calls.
class write_log {
 public:
  write_log() {
    const cookie_io_functions_t io{nullptr, &write_log::write, nullptr, nullptr};
    file_ = ::fopencookie(this, "w", io);
    REQUIRE(file_ != nullptr);
    REQUIRE(std::setvbuf(file_, nullptr, _IONBF, 0) == 0);
  }
  write_log(const write_log&) = delete;
  write_log& operator=(const write_log&) = delete;
  ~write_log() { std::fclose(file_); }
  std::FILE* get() const { return file_; }
  const std::vector<std::string>& writes() const { return writes_; }

 private:
  static ssize_t write(void* self, const char* data, std::size_t size) {
    static_cast<write_log*>(self)->writes_.emplace_back(data, size);
    return static_cast<ssize_t>(size);
  }

  std::vector<std::string> writes_;
  std::FILE* file_;
};

// Events as a graph would make them, numbered in order by `next`.
struct events {
  std::uint64_t seq = 0;
  std::size_t total = 0;

  job_event next(job_event e) {
    e.seq = ++seq;
    if (e.event == job_event_kind::wanted) ++total;
    e.total = total;
    return e;
  }
  job_event wanted(std::string job, std::chrono::nanoseconds time) {
    return next({.time = time, .job = std::move(job), .state = job_state::wanted});
  }
  job_event started(std::string job, std::chrono::nanoseconds time, std::size_t attempt = 1) {
    return next({.time = time,
                 .job = std::move(job),
                 .event = job_event_kind::started,
                 .state = job_state::running,
                 .attempt = attempt});
  }
  job_event retrying(std::string job, std::chrono::nanoseconds time, std::size_t attempt,
                     std::string what) {
    return next({.time = time,
                 .job = std::move(job),
                 .event = job_event_kind::retrying,
                 .state = job_state::wanted,
                 .detail = std::move(what),
                 .attempt = attempt});
  }
  job_event succeeded(std::string job, std::chrono::nanoseconds time,
                      std::chrono::nanoseconds duration) {
    return next({.time = time,
                 .job = std::move(job),
                 .event = job_event_kind::succeeded,
                 .state = job_state::succeeded,
                 .duration = duration,
                 .attempt = 1});
  }
  job_event failed(std::string job, std::chrono::nanoseconds time,
                   std::chrono::nanoseconds duration, std::string what, std::string output = {},
                   job_reason reason = job_reason::exception) {
    return next({.time = time,
                 .job = std::move(job),
                 .event = job_event_kind::failed,
                 .state = job_state::failed,
                 .duration = duration,
                 .reason = reason,
                 .detail = std::move(what),
                 .attempt = 1,
                 .output = std::move(output)});
  }
  // Failed without running: `reason` dependency_failed or run_aborted, `failed_job` the cause.
  job_event not_run(std::string job, std::chrono::nanoseconds time, job_reason reason,
                    std::string failed_job) {
    return next({.time = time,
                 .job = std::move(job),
                 .event = job_event_kind::failed,
                 .state = job_state::failed,
                 .reason = reason,
                 .detail = std::move(failed_job)});
  }
  job_event skipped(std::string job, std::chrono::nanoseconds time,
                    job_reason reason = job_reason::skipped) {
    return next({.time = time,
                 .job = std::move(job),
                 .event = job_event_kind::skipped,
                 .state = job_state::skipped,
                 .reason = reason});
  }
};

// A run of every kind of event, and the plain log's lines for it.
std::vector<job_event> a_run() {
  events ev;
  return {
      ev.wanted("build::dev", 0ms),
      ev.wanted("lint", 0ms),
      ev.wanted("deploy", 0ms),
      ev.wanted("release", 0ms),
      ev.wanted("maybe", 0ms),
      ev.wanted("later", 0ms),
      ev.wanted("test", 0ms),
      ev.started("build::dev", 310ms),
      ev.started("lint", 480ms),
      ev.started("test", 500ms),
      ev.retrying("test", 600ms, 1, "flaky"),
      ev.succeeded("build::dev", 620ms, 310ms),
      ev.failed("lint", 700ms, 220ms, "2 warnings treated as errors",
                "a.cpp:3: warning: x\nb.cpp:9: warning: y\n"),
      ev.not_run("deploy", 700ms, job_reason::dependency_failed, "lint"),
      ev.not_run("release", 700ms, job_reason::run_aborted, "lint"),
      ev.skipped("maybe", 710ms),
      ev.skipped("later", 710ms, job_reason::cancelled),
      ev.started("test", 800ms, 2),
      ev.succeeded("test", 1234ms, 734ms),
  };
}

constexpr std::string_view kRunLog =
    "[  0.31s] build::dev: start\n"
    "[  0.48s] lint: start\n"
    "[  0.50s] test: start\n"
    "[  0.60s] test: retrying (attempt 1): flaky\n"
    "[  0.62s] build::dev: ok 0.31s\n"
    "[  0.70s] lint: FAILED 0.22s: 2 warnings treated as errors\n"
    "    | a.cpp:3: warning: x\n"
    "    | b.cpp:9: warning: y\n"
    "[  0.70s] deploy: dependency failed: lint\n"
    "[  0.70s] release: run aborted: lint failed\n"
    "[  0.71s] maybe: skipped\n"
    "[  0.71s] later: cancelled\n"
    "[  0.80s] test: start (attempt 2)\n"
    "[  1.23s] test: ok 0.73s\n";

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

std::size_t count(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

// --- a strict JSON reader, for one object of strings and numbers per line ------------------------

// The members of the one JSON object (RFC 8259) that is all of `text`, strings decoded and
// numbers as written; nullopt when `text` is anything else. Values may be strings or numbers
// only (the schema has no other kind); raw strings must be valid UTF-8.
class json_object_reader {
 public:
  using members = std::vector<std::pair<std::string, std::string>>;

  static std::optional<members> read(std::string_view text) {
    json_object_reader r{text};
    members out;
    r.space();
    if (!r.take('{')) return std::nullopt;
    r.space();
    if (!r.take('}')) {
      for (;;) {
        r.space();
        std::optional<std::string> name = r.string();
        r.space();
        if (!name || !r.take(':')) return std::nullopt;
        r.space();
        std::optional<std::string> value = r.peek() == '"' ? r.string() : r.number();
        if (!value) return std::nullopt;
        out.emplace_back(std::move(*name), std::move(*value));
        r.space();
        if (r.take('}')) break;
        if (!r.take(',')) return std::nullopt;
      }
    }
    r.space();
    if (!r.text_.empty()) return std::nullopt;  // exactly one object
    return out;
  }

 private:
  explicit json_object_reader(std::string_view text) : text_(text) {}

  char peek() const { return text_.empty() ? '\0' : text_[0]; }
  bool take(char c) {
    if (peek() != c || text_.empty()) return false;
    text_.remove_prefix(1);
    return true;
  }
  void space() {
    while (!text_.empty() && std::strchr(" \t\r\n", text_[0]) != nullptr) text_.remove_prefix(1);
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  void digits() {
    while (digit(peek())) text_.remove_prefix(1);
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::optional<std::string> number() {
    const std::string_view start = text_;
    take('-');
    if (!take('0')) {
      if (!digit(peek()) || peek() == '0') return std::nullopt;
      digits();
    }
    if (take('.')) {
      if (!digit(peek())) return std::nullopt;
      digits();
    }
    if (take('e') || take('E')) {
      if (!take('+')) take('-');
      if (!digit(peek())) return std::nullopt;
      digits();
    }
    return std::string(start.substr(0, start.size() - text_.size()));
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::optional<std::uint32_t> hex4() {
    if (text_.size() < 4) return std::nullopt;
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[0];
      text_.remove_prefix(1);
      value *= 16;
      if (digit(c)) {
        value += static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value += static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value += static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    return value;
  }

  // The length of the valid UTF-8 sequence `text_` starts with, 0 if none.
  std::size_t utf8_length() const {
    const auto at = [&](std::size_t i) { return static_cast<unsigned char>(text_[i]); };
    const unsigned char c = at(0);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (text_.size() < n) return 0;
    for (std::size_t i = 1; i < n; ++i) {
      if ((at(i) & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (at(i) & 0x3f);
    }
    const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    return overlong || surrogate || cp > 0x10ffff ? 0 : n;
  }

  std::optional<std::string> string() {
    if (!take('"')) return std::nullopt;
    std::string out;
    for (;;) {
      if (text_.empty()) return std::nullopt;
      const auto c = static_cast<unsigned char>(text_[0]);
      if (c == '"') {
        text_.remove_prefix(1);
        return out;
      }
      if (c < 0x20) return std::nullopt;  // raw control characters are not allowed
      if (c >= 0x80) {
        const std::size_t n = utf8_length();
        if (n == 0) return std::nullopt;
        out.append(text_.substr(0, n));
        text_.remove_prefix(n);
        continue;
      }
      text_.remove_prefix(1);
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      const char e = peek();
      if (text_.empty()) return std::nullopt;
      text_.remove_prefix(1);
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::optional<std::uint32_t> cp = hex4();
          if (!cp) return std::nullopt;
          if (*cp >= 0xd800 && *cp <= 0xdbff) {  // a surrogate pair
            if (!take('\\') || !take('u')) return std::nullopt;
            const std::optional<std::uint32_t> low = hex4();
            if (!low || *low < 0xdc00 || *low > 0xdfff) return std::nullopt;
            cp = 0x10000 + ((*cp - 0xd800) << 10) + (*low - 0xdc00);
          } else if (*cp >= 0xdc00 && *cp <= 0xdfff) {
            return std::nullopt;
          }
          append_utf8(out, *cp);
          break;
        }
        default:
          return std::nullopt;
      }
    }
  }

  std::string_view text_;
};

constexpr std::string_view kSchemaFields[] = {"v",     "seq",      "time",   "job",     "event",
                                              "state", "duration", "reason", "attempt", "detail"};

// Checks that `line` is one JSON object with exactly the schema's fields in order; its members.
json_object_reader::members schema_object(const std::string& line) {
  INFO("line: ", line);
  std::optional<json_object_reader::members> object = json_object_reader::read(line);
  REQUIRE(object.has_value());
  REQUIRE(object->size() == std::size(kSchemaFields));
  for (std::size_t i = 0; i < object->size(); ++i) CHECK((*object)[i].first == kSchemaFields[i]);
  return *object;
}

std::string member(const json_object_reader::members& object, std::string_view name) {
  for (const auto& [key, value] : object) {
    if (key == name) return value;
  }
  FAIL("no member ", name);
  return {};
}

// --- a small terminal, enough for the board ----------------------------------------------------

// What a terminal shows after the board's bytes. The board writes text at the end of lines only,
// moves with '\r', '\n' and CSI n A, erases with CSI J and hides or shows the cursor; anything
// else it writes, or text written over text, is recorded in `problems`.
struct screen {
  std::vector<std::string> lines{""};
  std::size_t row = 0;
  std::size_t column = 0;  // in bytes
  bool cursor_visible = true;
  std::vector<std::string> problems;

  void play(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      const char c = bytes[i];
      if (c == '\x1b') {
        i = escape(bytes, i);
      } else if (c == '\r') {
        column = 0;
      } else if (c == '\n') {
        ++row;
        column = 0;
        if (row == lines.size()) lines.emplace_back();
      } else {
        if (column != lines[row].size()) problems.push_back("wrote over \"" + lines[row] + "\"");
        lines[row].resize(column);
        lines[row] += c;
        ++column;
      }
    }
  }

  // The screen's text: its lines, the empty ones at the end left out.
  std::string text() const {
    std::vector<std::string> shown = lines;
    while (!shown.empty() && shown.back().empty()) shown.pop_back();
    std::string out;
    for (const std::string& line : shown) out += line + "\n";
    return out;
  }

 private:
  // Plays the escape sequence at bytes[at]; the index of its last byte.
  std::size_t escape(std::string_view bytes, std::size_t at) {
    const std::string_view rest = bytes.substr(at);
    if (rest.starts_with("\x1b[?25l")) {
      cursor_visible = false;
      return at + 5;
    }
    if (rest.starts_with("\x1b[?25h")) {
      cursor_visible = true;
      return at + 5;
    }
    std::size_t i = 2;
    std::size_t n = 0;
    bool has_n = false;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      n = n * 10 + static_cast<std::size_t>(rest[i] - '0');
      has_n = true;
      ++i;
    }
    if (rest.size() < 3 || rest[1] != '[' || i >= rest.size()) {
      problems.push_back("a cut escape sequence");
      return bytes.size();
    }
    if (rest[i] == 'A' && has_n && n > 0 && n <= row) {
      row -= n;  // the column stays
    } else if (rest[i] == 'J' && !has_n) {
      lines[row].resize(std::min(column, lines[row].size()));
      lines.resize(row + 1);
    } else {
      problems.push_back("unexpected escape sequence " + std::string(rest.substr(1, i)));
    }
    return at + i;
  }
};

}  // namespace

TEST_CASE("job events: the names of states, reasons and event kinds") {
  CHECK(sluice::to_string(job_state::idle) == "idle");
  CHECK(sluice::to_string(job_state::wanted) == "wanted");
  CHECK(sluice::to_string(job_state::running) == "running");
  CHECK(sluice::to_string(job_state::succeeded) == "succeeded");
  CHECK(sluice::to_string(job_state::failed) == "failed");
  CHECK(sluice::to_string(job_state::skipped) == "skipped");

  CHECK(sluice::to_string(job_reason::none) == "");
  CHECK(sluice::to_string(job_reason::exception) == "exception");
  CHECK(sluice::to_string(job_reason::remote_exception) == "remote exception");
  CHECK(sluice::to_string(job_reason::crashed) == "crashed");
  CHECK(sluice::to_string(job_reason::timeout) == "timeout");
  CHECK(sluice::to_string(job_reason::dependency_failed) == "dependency failed");
  CHECK(sluice::to_string(job_reason::run_aborted) == "run aborted");
  CHECK(sluice::to_string(job_reason::skipped) == "skipped");
  CHECK(sluice::to_string(job_reason::cancelled) == "cancelled");

  CHECK(sluice::to_string(job_event_kind::wanted) == "wanted");
  CHECK(sluice::to_string(job_event_kind::started) == "start");
  CHECK(sluice::to_string(job_event_kind::retrying) == "retrying");
  CHECK(sluice::to_string(job_event_kind::succeeded) == "ok");
  CHECK(sluice::to_string(job_event_kind::failed) == "failed");
  CHECK(sluice::to_string(job_event_kind::skipped) == "skipped");
}

// --- plain_log -----------------------------------------------------------------------------------

TEST_CASE("plain log: one exact line per event, none for wanted, then the summary") {
  memory_file out;
  sluice::plain_log log{out.get()};
  for (const job_event& e : a_run()) log(e);
  CHECK(out.text() == kRunLog);

  log.finish(3400ms);
  const std::string text = out.text();
  CHECK(text == std::string(kRunLog) + "2 ok, 3 failed, 2 skipped in 3.4s\n");
  CHECK(text.find('\x1b') == std::string::npos);
}

TEST_CASE("plain log: each event is one fwrite, flushed, holding its whole text") {
  write_log out;
  sluice::plain_log log{out.get()};
  const std::vector<job_event> run = a_run();
  for (const job_event& e : run) log(e);
  log.finish(1s);

  const auto logged =
      static_cast<std::size_t>(std::count_if(run.begin(), run.end(), [](const job_event& e) {
        return e.event != job_event_kind::wanted;
      }));
  REQUIRE(out.writes().size() == logged + 1);
  CHECK(out.writes()[5] ==
        "[  0.70s] lint: FAILED 0.22s: 2 warnings treated as errors\n"
        "    | a.cpp:3: warning: x\n"
        "    | b.cpp:9: warning: y\n");
  CHECK(out.writes().back() == "2 ok, 3 failed, 2 skipped in 1.0s\n");
  std::string all;
  for (const std::string& w : out.writes()) {
    CHECK(w.ends_with('\n'));
    all += w;
  }
  CHECK(all == std::string(kRunLog) + "2 ok, 3 failed, 2 skipped in 1.0s\n");
}

TEST_CASE("plain log: what(), names and output lose escape codes and never break a line") {
  memory_file out;
  sluice::plain_log log{out.get()};
  events ev;
  log(ev.failed("\x1b[1mname\x1b[0m", 1500ms, 12345ms,
                "first line\nsecond \x1b[31mred\x1b[0m line\n",
                "plain\n\x1b[32mgreen\x1b[0m\n10%\r50%\r100%\r\nbell\a and tab\tend\n"
                "\x1b]0;title\x07osc gone\nno newline at the end"));
  log(ev.failed("timed", 2s, 1s, "", "", job_reason::timeout));
  log(ev.skipped("why", 2s));
  log(ev.next({.time = 2s,
               .job = "said",
               .event = job_event_kind::skipped,
               .state = job_state::skipped,
               .reason = job_reason::skipped,
               .detail = "not today"}));
  CHECK(out.text() ==
        "[  1.50s] name: FAILED 12.35s: first line\n"
        "    second red line\n"
        "    | plain\n"
        "    | green\n"
        "    | 100%\n"
        "    | bell? and tab\tend\n"
        "    | osc gone\n"
        "    | no newline at the end\n"
        "[  2.00s] timed: FAILED 1.00s: timeout\n"
        "[  2.00s] why: skipped\n"
        "[  2.00s] said: skipped: not today\n");
  CHECK(out.text().find('\x1b') == std::string::npos);
}

TEST_CASE("plain log: the time column grows past 999.99 s and the summary counts all runs") {
  memory_file out;
  sluice::plain_log log{out.get()};
  events ev;
  log(ev.succeeded("slow", 1234567ms, 1234500ms));
  log.finish(1234600ms);
  log(ev.succeeded("again", 1234601ms, 1ms));
  log.finish(1234700ms);
  CHECK(out.text() ==
        "[1234.57s] slow: ok 1234.50s\n"
        "1 ok, 0 failed, 0 skipped in 1234.6s\n"
        "[1234.60s] again: ok 0.00s\n"
        "2 ok, 0 failed, 0 skipped in 1234.7s\n");
}

// --- ndjson_writer -------------------------------------------------------------------------------

TEST_CASE("ndjson: the header's example line, exactly") {
  memory_file out;
  sluice::ndjson_writer json{out.get()};
  json({.seq = 3,
        .time = 310ms,
        .job = "build::dev",
        .event = job_event_kind::succeeded,
        .state = job_state::succeeded,
        .duration = 310ms,
        .attempt = 1,
        .total = 7});
  CHECK(out.text() ==
        "{\"v\":1,\"seq\":3,\"time\":0.310,\"job\":\"build::dev\",\"event\":\"ok\","
        "\"state\":\"succeeded\",\"duration\":0.310,\"reason\":\"\",\"attempt\":1,"
        "\"detail\":\"\"}\n");
}

TEST_CASE("ndjson: one object per event, per line, per write, with the schema's fields") {
  write_log out;
  sluice::ndjson_writer json{out.get()};
  const std::vector<job_event> run = a_run();
  for (const job_event& e : run) json(e);

  REQUIRE(out.writes().size() == run.size());  // wanted events too
  for (std::size_t i = 0; i < run.size(); ++i) {
    const std::string& line = out.writes()[i];
    REQUIRE(line.ends_with('\n'));
    CHECK(line.find('\n') == line.size() - 1);
    const auto object = schema_object(line.substr(0, line.size() - 1));
    CHECK(member(object, "v") == "1");
    CHECK(member(object, "seq") == std::to_string(run[i].seq));
    CHECK(member(object, "job") == run[i].job);
    CHECK(member(object, "event") == sluice::to_string(run[i].event));
    CHECK(member(object, "state") == sluice::to_string(run[i].state));
    CHECK(member(object, "reason") == sluice::to_string(run[i].reason));
    CHECK(member(object, "attempt") == std::to_string(run[i].attempt));
    CHECK(member(object, "detail") == run[i].detail);
  }
  const auto lint = schema_object(out.writes()[12].substr(0, out.writes()[12].size() - 1));
  CHECK(member(lint, "time") == "0.700");
  CHECK(member(lint, "duration") == "0.220");
  CHECK(member(lint, "reason") == "exception");
  CHECK(member(lint, "detail") == "2 warnings treated as errors");
}

TEST_CASE("ndjson: strings escaped per RFC 8259, UTF-8 passed through, bad bytes replaced") {
  memory_file out;
  sluice::ndjson_writer json{out.get()};
  const std::string name = "say \"hi\" \\ there/now";
  const std::string what =
      "line 1\nline 2\r\n\ttab \x01\x1f\x1b[31mred\x7f \xc3\xbc \xe2\x9c\x93 \xf0\x9f\x98\x80";
  events ev;
  json(ev.failed(name, 1s, 1s, what));
  json(ev.failed("bad", 1s, 1s,
                 "a\xff"
                 "b\xc3"
                 "c\xed\xa0\x80"
                 "d\xc0\xaf"
                 "e\xf4\x90\x80\x80"));

  const std::vector<std::string> lines = lines_of(out.text());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"job\":\"say \\\"hi\\\" \\\\ there/now\"") != std::string::npos);
  CHECK(lines[0].find("\"detail\":\"line 1\\u000aline 2\\u000d\\u000a\\u0009tab "
                      "\\u0001\\u001f\\u001b[31mred\x7f \xc3\xbc \xe2\x9c\x93 "
                      "\xf0\x9f\x98\x80\"") != std::string::npos);
  const auto first = schema_object(lines[0]);
  CHECK(member(first, "job") == name);
  CHECK(member(first, "detail") == what);

  const auto second = schema_object(lines[1]);
  CHECK(member(second, "detail") ==
        "a\xef\xbf\xbd"
        "b\xef\xbf\xbd"
        "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
        "d\xef\xbf\xbd\xef\xbf\xbd"
        "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST_CASE("ndjson: times in seconds with three decimals, rounded") {
  memory_file out;
  sluice::ndjson_writer json{out.get()};
  events ev;
  json(ev.succeeded("a", 1234567891ns, 0ns));
  json(ev.succeeded("b", 3600s + 5ms, 999999999ns));
  const std::vector<std::string> lines = lines_of(out.text());
  REQUIRE(lines.size() == 2);
  const auto a = schema_object(lines[0]);
  CHECK(member(a, "time") == "1.235");
  CHECK(member(a, "duration") == "0.000");
  const auto b = schema_object(lines[1]);
  CHECK(member(b, "time") == "3600.005");
  CHECK(member(b, "duration") == "1.000");
}

TEST_CASE("json reader used by these tests rejects what is not one object") {
  CHECK(json_object_reader::read(R"({"a":1,"b":"x\n\u00fc\ud83d\ude00"})").has_value());
  CHECK(json_object_reader::read("{}").has_value());
  CHECK_FALSE(json_object_reader::read(R"({"a":1}{"b":2})").has_value());
  CHECK_FALSE(json_object_reader::read(R"({"a":01})").has_value());
  CHECK_FALSE(json_object_reader::read(R"({"a":1.})").has_value());
  CHECK_FALSE(json_object_reader::read("{\"a\":\"raw\nnewline\"}").has_value());
  CHECK_FALSE(json_object_reader::read("{\"a\":\"bad\xff\"}").has_value());
  CHECK_FALSE(json_object_reader::read(R"({"a":"\x"})").has_value());
  CHECK_FALSE(json_object_reader::read(R"({"a":1,})").has_value());
  CHECK_FALSE(json_object_reader::read(R"({"a" 1})").has_value());
}

// --- terminal_board ------------------------------------------------------------------------------

TEST_CASE("terminal board: the exact bytes of a short run") {
  memory_file out;
  {
    sluice::terminal_board board{out.get(), 60};
    CHECK(out.text().empty());  // nothing until there is something to show
    events ev;
    board(ev.wanted("a", 0ms));
    board(ev.wanted("b", 0ms));
    // The first redraw hides the cursor.
    CHECK(out.text() == "\x1b[?25l[0/1] 0 running, 0 failed, 0 skipped  0.0s\n");
    board(ev.started("a", 10ms));  // within 100 ms of the last redraw: none
    board.tick(50ms);
    CHECK(out.text() == "\x1b[?25l[0/1] 0 running, 0 failed, 0 skipped  0.0s\n");
    const std::size_t before = out.text().size();
    board.tick(120ms);
    CHECK(out.text().substr(before) ==
          "\r\x1b[1A\x1b[J[0/2] 1 running, 0 failed, 0 skipped  0.1s\n  a 0.1s\n");
    const std::size_t before_ok = out.text().size();
    board(ev.succeeded("a", 320ms, 310ms));  // at once, throttle or not
    CHECK(out.text().substr(before_ok) ==
          "\r\x1b[2A\x1b[J\xe2\x9c\x93 a 0.31s\n[1/2] 0 running, 0 failed, 0 skipped  0.3s\n");
    const std::size_t before_finish = out.text().size();
    board.finish(400ms);
    CHECK(out.text().substr(before_finish) ==
          "\r\x1b[1A\x1b[J1 ok, 0 failed, 0 skipped in 0.4s\n\x1b[?25h");
  }
  // The destructor after finish() has nothing left to do.
  CHECK(out.text().ends_with("1 ok, 0 failed, 0 skipped in 0.4s\n\x1b[?25h"));
}

TEST_CASE("terminal board: redraws by tick are at most one per 100 ms") {
  const auto redraws = [](std::chrono::nanoseconds first, std::chrono::nanoseconds second) {
    memory_file out;
    sluice::terminal_board board{out.get(), 60};
    board.tick(first);
    board.tick(second);
    board.finish(second);
    return count(out.text(), " running, ");
  };
  CHECK(redraws(1s, 1s + 50ms) == 1);
  CHECK(redraws(1s, 1s + 99ms) == 1);
  CHECK(redraws(1s, 1s + 100ms) == 2);
  CHECK(redraws(1s, 1s + 150ms) == 2);

  // Ten ticks 20 ms apart: one redraw per 100 ms of them.
  memory_file out;
  sluice::terminal_board board{out.get(), 60};
  events ev;
  board(ev.started("a", 0ms));  // the first redraw
  for (int i = 1; i <= 10; ++i) board.tick(i * 20ms);
  CHECK(count(out.text(), " running, ") == 3);  // at 0, 100 and 200 ms
}

TEST_CASE("terminal board: the screen shows finished lines above one live board") {
  memory_file out;
  screen term;
  std::size_t played = 0;
  const auto shown = [&] {
    const std::string text = out.text();
    term.play(std::string_view(text).substr(played));
    played = text.size();
    INFO("problems: ", term.problems.size() ? term.problems.front() : "");
    CHECK(term.problems.empty());
    return term.text();
  };

  sluice::terminal_board board{out.get(), 60};
  events ev;
  for (const char* job : {"setup", "build::dev", "build::prod", "lint", "deploy", "maybe"}) {
    board(ev.wanted(job, 0ms));
  }
  board(ev.started("setup", 0ms));
  board.tick(100ms);
  CHECK(shown() ==
        "[0/6] 1 running, 0 failed, 0 skipped  0.1s\n"
        "  setup 0.1s\n");
  CHECK_FALSE(term.cursor_visible);

  board(ev.succeeded("setup", 310ms, 310ms));
  board(ev.started("build::dev", 400ms));
  board(ev.started("build::prod", 800ms));
  board(ev.started("lint", 800ms));
  board.tick(1200ms);
  CHECK(shown() ==
        "\xe2\x9c\x93 setup 0.31s\n"
        "[1/6] 3 running, 0 failed, 0 skipped  1.2s\n"
        "  build::dev  0.8s\n"
        "  build::prod 0.4s\n"
        "  lint        0.4s\n");

  board(ev.failed(
      "lint", 1220ms, 420ms, "2 warnings treated as errors",
      "a.cpp:3: warning: a line of output that is longer than the sixty columns, whole\n"));
  board(ev.not_run("deploy", 1220ms, job_reason::dependency_failed, "lint"));
  board(ev.skipped("maybe", 1230ms));
  board(ev.retrying("build::prod", 1300ms, 1, "connection reset"));
  board(ev.started("build::prod", 1400ms, 2));
  board.tick(1500ms);
  CHECK(shown() ==
        "\xe2\x9c\x93 setup 0.31s\n"
        "\xe2\x9c\x97 lint 0.42s: 2 warnings treated as errors\n"
        "a.cpp:3: warning: a line of output that is longer than the sixty columns, whole\n"
        "\xe2\x9c\x97 deploy: dependency failed: lint\n"
        "\xe2\x8a\x98 maybe skipped\n"
        "\xe2\x86\xbb build::prod: retrying (attempt 1): connection reset\n"
        "[4/6] 2 running, 2 failed, 1 skipped  1.5s\n"
        "  build::dev              1.1s\n"
        "  build::prod (attempt 2) 0.7s\n");

  board(ev.succeeded("build::prod", 1600ms, 800ms));
  board(ev.succeeded("build::dev", 1700ms, 1300ms));
  board.finish(1800ms);
  CHECK(shown() ==
        "\xe2\x9c\x93 setup 0.31s\n"
        "\xe2\x9c\x97 lint 0.42s: 2 warnings treated as errors\n"
        "a.cpp:3: warning: a line of output that is longer than the sixty columns, whole\n"
        "\xe2\x9c\x97 deploy: dependency failed: lint\n"
        "\xe2\x8a\x98 maybe skipped\n"
        "\xe2\x86\xbb build::prod: retrying (attempt 1): connection reset\n"
        "\xe2\x9c\x93 build::prod 0.80s\n"
        "\xe2\x9c\x93 build::dev 1.30s\n"
        "3 ok, 2 failed, 1 skipped in 1.8s\n");
  CHECK(term.cursor_visible);
}

TEST_CASE("terminal board: every line it draws is cut to the width, in code points") {
  memory_file out;
  constexpr std::size_t width = 30;
  {
    sluice::terminal_board board{out.get(), static_cast<int>(width)};
    events ev;
    const std::string long_name =
        "\xc3\xbc"
        "ber::a-job-name-much-longer-than-thirty-columns";
    board(ev.started(long_name, 0ms));
    board(ev.started("short", 0ms));
    board(
        ev.started("\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93"
                   "\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93"
                   "\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93"
                   "\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93\xe2\x9c\x93"
                   "\xe2\x9c\x93\xe2\x9c\x93",
                   0ms));
    board.tick(1s);
    board(ev.retrying("short", 1100ms, 1, "a message far too long to fit in thirty columns"));
    board(ev.failed(long_name, 1200ms, 1200ms, "oops"));
    board(ev.failed("short", 1300ms, 1300ms,
                    "a what() too long for the line, so it goes below in full"));
    board(ev.not_run("next-with-a-long-name", 1300ms, job_reason::dependency_failed, long_name));
    board(ev.succeeded("a-name-of-exactly-the-width-0", 1400ms, 100ms));
    board.tick(2s);
    // No finish(): the destructor erases the board.
  }
  screen term;
  term.play(out.text());
  CHECK(term.problems.empty());
  CHECK(term.cursor_visible);
  CHECK(term.text() ==
        "\xe2\x86\xbb short: retrying (attempt 1):\n"
        "\xe2\x9c\x97 \xc3\xbc"
        "ber::a-job-nam\xe2\x80\xa6 1.20s: oops\n"
        "\xe2\x9c\x97 short 1.30s:\n"
        "a what() too long for the line, so it goes below in full\n"
        "\xe2\x9c\x97 next-with-a\xe2\x80\xa6: dependency fai\n"
        "\xe2\x9c\x93 a-name-of-exactly-the\xe2\x80\xa6 0.10s\n");

  // Every line drawn on the way, boards included, but the what() written in full.
  for (const std::string& line : lines_of(out.text())) {
    std::string visible;
    screen one;
    one.play(line);
    visible = one.lines.back();
    if (visible.starts_with("a what()")) continue;
    INFO("line: ", visible);
    CHECK(code_points(visible) <= width);
  }
  const std::string text = out.text();
  CHECK(text.find("  \xc3\xbc"
                  "ber::a-job-name-mu\xe2\x80\xa6 1.0s\n") != std::string::npos);
  CHECK(text.find("[0/3] 3 running, 0 failed, 0 s\n") != std::string::npos);
}

TEST_CASE("terminal board: no more running jobs listed than the screen has room for") {
  memory_file out;
  sluice::terminal_board board{out.get(), 60};  // a memstream has no rows: 24 assumed
  events ev;
  for (int i = 0; i < 30; ++i) {
    const std::string name = "job" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    board(ev.started(name, std::chrono::milliseconds(i)));
  }
  board.tick(1s);
  screen term;
  term.play(out.text());
  const std::vector<std::string> lines = lines_of(term.text());
  REQUIRE(lines.size() == 21);  // the header, 19 jobs, "… and 11 more"
  CHECK(lines[0].starts_with("[0/30] 30 running, "));
  CHECK(lines[1] == "  job00 1.0s");
  CHECK(lines[19] == "  job18 1.0s");
  CHECK(lines[20] == "  \xe2\x80\xa6 and 11 more");
}

TEST_CASE("terminal board: the destructor erases the board and shows the cursor") {
  memory_file out;
  {
    sluice::terminal_board board{out.get(), 60};
    events ev;
    board(ev.started("a", 0ms));
  }
  CHECK(out.text() ==
        "\x1b[?25l[0/1] 1 running, 0 failed, 0 skipped  0.0s\n  a 0.0s\n"
        "\r\x1b[2A\x1b[J\x1b[?25h");
}

TEST_CASE("terminal board: shows the cursor again when destroyed by an exception") {
  memory_file out;
  bool caught = false;
  try {
    sluice::terminal_board board{out.get(), 40};
    events ev;
    board(ev.started("a", 0ms));
    board.tick(200ms);
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
    caught = true;
  }
  CHECK(caught);
  screen term;
  term.play(out.text());
  CHECK(term.problems.empty());
  CHECK(term.cursor_visible);
  CHECK(term.text().empty());
  CHECK(out.text().ends_with("\r\x1b[2A\x1b[J\x1b[?25h"));
}

TEST_CASE("terminal board: after finish(), a later run draws the board again") {
  memory_file out;
  sluice::terminal_board board{out.get(), 40};
  events ev;
  board(ev.started("a", 0ms));
  board(ev.succeeded("a", 10ms, 10ms));
  board.finish(20ms);
  board(ev.started("b", 30ms));
  board(ev.succeeded("b", 40ms, 10ms));
  board.finish(50ms);
  screen term;
  term.play(out.text());
  CHECK(term.problems.empty());
  CHECK(term.cursor_visible);
  CHECK(count(out.text(), "\x1b[?25l") == 2);
  CHECK(count(out.text(), "\x1b[?25h") == 2);
  CHECK(term.text() ==
        "\xe2\x9c\x93 a 0.01s\n"
        "1 ok, 0 failed, 0 skipped in 0.0s\n"
        "\xe2\x9c\x93 b 0.01s\n"
        "2 ok, 0 failed, 0 skipped in 0.1s\n");
}
