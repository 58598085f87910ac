// sluice's own exceptions: the parts that are not inline.
#include <stdexcept>
#include <string>
#include <utility>

#include <sluice/errors.hpp>
#include <sluice/result.hpp>

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

std::string worker_message(const std::string& where, const std::exception_ptr& original,
                           std::uint64_t index, const std::string& input_text) {
  std::string text = "sluice: " + where + ": item " + std::to_string(index);
  if (!input_text.empty()) text += " (input: " + input_text + ")";
  text += " failed: ";
  try {
    if (original) std::rethrow_exception(original);
    text += "no exception";
  } catch (const std::exception& e) {
    text += e.what();
  } catch (...) {
    text += "an exception not derived from std::exception";
  }
  return text;
}

}  // namespace

worker_error::worker_error(const std::string& where, std::exception_ptr original,
                           std::uint64_t index, std::string input_text)
    : std::runtime_error(worker_message(where, original, index, input_text)),
      original_(std::move(original)),
      index_(index),
      input_text_(std::move(input_text)) {}

all_failed::all_failed(const std::string& what, std::vector<std::exception_ptr> errors)
    : std::runtime_error(describe(what, errors)), errors_(std::move(errors)) {}

}  // namespace sluice

namespace sluice::detail {

void throw_result_has_value() {
  throw std::logic_error("sluice: result::error() called on a result that holds a value");
}

void rethrow_failure(const failure& why) {
  if (why.error) std::rethrow_exception(why.error);
  throw std::logic_error("sluice: result::value() called on a failed result with no error (task " +
                         why.task + ", item " + std::to_string(why.sequence) + ")");
}

}  // namespace sluice::detail
