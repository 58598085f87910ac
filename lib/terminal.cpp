// Writing to a terminal (terminal.hpp).
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include "terminal.hpp"

namespace sluice::detail {
namespace {
constexpr int kDefaultWidth = 80;  // columns when the terminal does not say
constexpr int kDefaultRows = 24;   // rows when the terminal does not say
}  // namespace

void write_whole(std::FILE* out, std::string_view text) noexcept {
  if (out == nullptr || text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

terminal_size size_of(std::FILE* out) noexcept {
  terminal_size size{kDefaultWidth, kDefaultRows};
  const int fd = out == nullptr ? -1 : ::fileno(out);
  winsize ws{};
  if (fd >= 0 && ::ioctl(fd, TIOCGWINSZ, &ws) == 0) {
    if (ws.ws_col > 0) size.columns = ws.ws_col;
    if (ws.ws_row > 0) size.rows = ws.ws_row;
  }
  return size;
}

bool is_terminal(std::FILE* out) noexcept {
  return out != nullptr && ::isatty(::fileno(out)) == 1;
}

void append_erase(std::string& out, std::size_t lines) {
  if (lines == 0) return;
  out += "\r\x1b[";
  out += std::to_string(lines);
  out += "A\x1b[J";
}

std::size_t code_points(std::string_view text) noexcept {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation(c); }));
}

std::string_view first_code_points(std::string_view text, std::size_t n) noexcept {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!is_continuation(text[i]) && seen++ == n) return text.substr(0, i);
  }
  return text;
}

}  // namespace sluice::detail
