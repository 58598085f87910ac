// Internal: the input's part of a failed call as the user sees it: a copy of the input and its
// text in a sluice::failure, for on_error, and the text of an input for sluice::worker_error.
#pragma once

#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

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

// Copies the input into `f` when its type is copyable and renders its text: the part of a
// sluice::failure that depends on the input's type. `input` points to an In.
template <class In>
void fill_failure_input(failure& f, const void* input) {
  const In& value = *static_cast<const In*>(input);
  if constexpr (std::is_copy_constructible_v<In>) f.input = value;
  f.input_text = render(value);
}

// fill_failure_input for a task's input type: how a failure reported by untyped code gets it.
using failure_input = void (*)(failure&, const void*);

}  // namespace sluice::detail
