// sluice's own exceptions: the parts that are not inline.
#include <string>
#include <utility>

#include <sluice/errors.hpp>

namespace sluice {
namespace {

std::string describe(const std::string& what, const std::vector<std::exception_ptr>& errors) {
  std::string text = "sluice: " + what + ": all " + std::to_string(errors.size()) +
                     (errors.size() == 1 ? " attempt" : " attempts") + " failed";
  if (errors.empty()) return text;
  try {
    std::rethrow_exception(errors.back());
  } catch (const std::exception& last) {
    text += "; the last: ";
    text += last.what();
  } catch (...) {
    text += "; the last threw a non-std::exception";
  }
  return text;
}

}  // namespace

all_failed::all_failed(const std::string& what, std::vector<std::exception_ptr> errors)
    : std::runtime_error(describe(what, errors)), errors_(std::move(errors)) {}

}  // namespace sluice
