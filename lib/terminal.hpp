// Internal to lib/: writing to a terminal — whole writes, the cursor, the terminal's size and
// the width of UTF-8 text. Shared by the job graph's live board (job_events.cpp) and the live
// stats table (stats_table.cpp). Defined in lib/terminal.cpp.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace sluice::detail {

inline constexpr std::string_view kHideCursor = "\x1b[?25l";
inline constexpr std::string_view kShowCursor = "\x1b[?25h";

// Writes `text` with one fwrite and flushes it: the unit that never interleaves. Nothing for a
// null `out` or empty text; a write error is ignored.
void write_whole(std::FILE* out, std::string_view text) noexcept;

struct terminal_size {
  int columns;
  int rows;
};
// The size of the terminal `out` writes to (TIOCGWINSZ); 80 columns and 24 rows for what it
// does not say.
terminal_size size_of(std::FILE* out) noexcept;
// Whether `out` writes to a terminal.
bool is_terminal(std::FILE* out) noexcept;

// Appends what moves the cursor from column 0 of the line below `lines` lines up to the first
// of them and erases it and everything below ("\r\x1b[<lines>A\x1b[J"); nothing for 0 lines.
void append_erase(std::string& out, std::size_t lines);

// Whether `c` continues a UTF-8 sequence.
inline bool is_continuation(char c) noexcept {
  return (static_cast<unsigned char>(c) & 0xc0) == 0x80;
}
// The number of code points in UTF-8 `text` (bytes that do not continue a sequence).
std::size_t code_points(std::string_view text) noexcept;
// The first `n` code points of UTF-8 `text`.
std::string_view first_code_points(std::string_view text, std::size_t n) noexcept;

}  // namespace sluice::detail
