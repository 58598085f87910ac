// Builds a message from parts, each written with operator<<: cat("line ", 12, ": ", why).
#pragma once

#include <sstream>
#include <string>

namespace etl {
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace etl
