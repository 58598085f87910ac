// This header defines the ready-made sinks — to_vector, for_each, reduce, count — and the
// ready-made source sluice::from(range).
//
// Example:
//   auto v = (sluice::from(std::vector{1, 2, 3}) | sluice::task(square) > sluice::to_vector())();
//
// A sink is any callable taking sluice::stream<T>&; these are the common ones. Each runs on
// the thread that runs the pipeline. Exceptions: the run's first error passes through them.
#pragma once

#include <cstddef>
#include <functional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/stream.hpp>
#include <sluice/task.hpp>

namespace sluice {

namespace detail {
struct to_vector_sink {
  template <class T>
  std::vector<T> operator()(stream<T>& in) const {
    return detail::drain_to_vector(in);
  }
};

template <class Fn>
struct for_each_sink {
  Fn fn;
  template <class T>
  requires std::is_invocable_v<Fn&, T&&>
  void operator()(stream<T>& in) {
    while (auto item = in.next()) std::invoke(fn, std::move(*item));
  }
};

template <class Init, class Op>
struct reduce_sink {
  Init init;
  Op op;
  template <class T>
  requires std::is_invocable_v<Op&, Init&&, T&&> Init operator()(stream<T>& in) {
    Init total = init;
    while (auto item = in.next()) total = std::invoke(op, std::move(total), std::move(*item));
    return total;
  }
};

struct count_sink {
  template <class T>
  std::size_t operator()(stream<T>& in) const {
    std::size_t n = 0;
    while (in.next()) ++n;
    return n;
  }
};

// A borrowed [begin, end) pair. (Not std::ranges::subrange: clang 14 cannot compile
// libstdc++ 12's.)
template <class It, class End>
struct borrowed_range {
  It first;
  End last;
  It begin() const { return first; }
  End end() const { return last; }
};

// The producer made by from(): emits the range's elements, copying them (the range is kept by
// the pipeline, which may run many times).
template <class Range>
struct range_source {
  Range range;
  auto operator()() const {
    if constexpr (requires(const Range& r) {
                    r.begin();
                    r.end();
                  }) {
      return borrowed_range<decltype(range.begin()), decltype(range.end())>{range.begin(),
                                                                            range.end()};
    } else {
      return Range(range);  // a view that is not const-iterable: iterate a copy
    }
  }
};
}  // namespace detail

// Collects every output into a std::vector, in the order they arrive.
inline detail::to_vector_sink to_vector() { return {}; }

// Calls fn(output) for each output on the calling thread; returns void.
template <class Fn>
detail::for_each_sink<std::decay_t<Fn>> for_each(Fn&& fn) {
  return {std::forward<Fn>(fn)};
}

// Folds the outputs: total = op(std::move(total), output), starting from init.
template <class Init, class Op>
detail::reduce_sink<std::decay_t<Init>, std::decay_t<Op>> reduce(Init&& init, Op&& op) {
  return {std::forward<Init>(init), std::forward<Op>(op)};
}

// Counts the outputs; returns std::size_t.
inline detail::count_sink count() { return {}; }

// A producer that emits the elements of `range` (copied into the pipeline). The pipeline is
// called with no arguments: (sluice::from(v) | ...)(). A branch producer: after stream::drain()
// it takes no further element from the range.
template <std::ranges::input_range Range>
auto from(Range&& range) {
  return task(detail::range_source<std::decay_t<Range>>{std::forward<Range>(range)}, branch);
}

}  // namespace sluice
