// Internal: a failed call as the user sees it: a sluice::failure with a copy of the input and
// its text, for on_error, and the text of an input for sluice::worker_error.
#pragma once

#include <exception>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/errors.hpp>

namespace sluice::detail {

template <class T>
concept printable = requires(std::ostream& os, const T& value) {
  os << value;
};

// The input as failure::input_text shows it: operator<< when the type has one.
template <class T>
std::string render(const T& value) {
  if constexpr (printable<T>) {
    std::ostringstream os;
    os << value;
    return std::move(os).str();
  } else {
    return {};
  }
}

// A sluice::failure for one item; the input is copied when its type is copyable. `attempts`
// holds every failed attempt, oldest first (empty: the error was the only one).
template <class In>
failure make_failure(const std::string& task, std::uint64_t sequence, std::exception_ptr error,
                     const In* input, std::vector<std::exception_ptr> attempts = {}) {
  failure f;
  f.task = task;
  f.sequence = sequence;
  f.error = error;
  f.attempts = std::move(attempts);
  if (f.attempts.empty()) f.attempts.push_back(error);
  if (input != nullptr) {
    if constexpr (std::is_copy_constructible_v<In>) f.input = *input;
    f.input_text = render(*input);
  }
  return f;
}

}  // namespace sluice::detail
