// Internal to lib/: pieces of the messages of sluice's std::invalid_argument errors.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::detail {

// "sluice: <who>: ", or "sluice: " when `who` is empty.
inline std::string message_prefix(std::string_view who) {
  std::string text = "sluice: ";
  if (!who.empty()) {
    text += who;
    text += ": ";
  }
  return text;
}

// A number as a message shows it (shortest form, "0.5", "inf", "nan").
inline std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return std::move(out).str();
}

}  // namespace sluice::detail
