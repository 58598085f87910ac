// Internal: calling a user's callable (with a trailing std::stop_token when it takes one) and the
// types of such calls, as the pipeline's typing uses them.
#pragma once

#include <any>
#include <concepts>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iterator>
#include <ranges>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice::detail {

// A type that marks a stage whose input or output could not be typed; a static_assert has
// already said why, and this keeps the compiler from piling further errors on top.
struct invalid {};

// What a runnable's call returns when its sink is not called: the pipeline could not be typed or
// the sink cannot take its stream (a static_assert has said why), or the producer is rejected at
// run time before the sink would run. It converts to any type, so `int total = run(20);` adds no
// error after the sentence. It is never converted at run time.
struct sink_not_called {
  template <class T>
  operator T() const {
    std::abort();
  }
};

// Pipelines and runnables take any arguments and check them with static_asserts, so asking
// whether they accept a trailing stop_token would instantiate them: they are never offered one.
// Instead call() runs them through call_linked(token, args...), which cancels the nested run
// when the token is stopped.
template <class Fn>
concept forwards_arguments = requires {
  typename Fn::is_sluice_pipeline;
};

template <class Fn, class... Args>
concept takes_stop_token =
    !forwards_arguments<Fn> && std::is_invocable_v<const Fn&, Args..., std::stop_token>;

// f(args...) or f(args..., stop_token): whichever the callable accepts (the stop_token form
// first).
template <class Fn, class... Args>
concept callable_with = takes_stop_token<Fn, Args...> || std::is_invocable_v<const Fn&, Args...>;

// The token is made only for a callable that takes one: a std::stop_token copy is an atomic
// reference count shared by every worker of the run, too dear to touch on every item.
inline std::stop_token token_of(const std::stop_source& stop) { return stop.get_token(); }
inline const std::stop_token& token_of(const std::stop_token& stop) { return stop; }

// `stop` is a std::stop_source (a run's) or a std::stop_token (one a caller was given). A
// pipeline's run is linked to it: cancelled when it is stopped.
template <class Fn, class Stop, class... Args>
requires std::is_same_v<Stop, std::stop_source> || std::is_same_v<Stop, std::stop_token>
decltype(auto) call(const Fn& fn, const Stop& stop, Args&&... args) {
  if constexpr (forwards_arguments<Fn>) {
    return fn.call_linked(token_of(stop), std::forward<Args>(args)...);
  } else if constexpr (takes_stop_token<Fn, Args...>) {
    return std::invoke(fn, std::forward<Args>(args)..., token_of(stop));
  } else {
    (void)stop;
    return std::invoke(fn, std::forward<Args>(args)...);
  }
}

template <class Fn, class... Args>
struct call_result {
  using type = invalid;
};
template <class Fn, class... Args>
requires callable_with<Fn, Args...>
struct call_result<Fn, Args...> {
  using type = decltype(call(std::declval<const Fn&>(), std::declval<const std::stop_source&>(),
                             std::declval<Args>()...));
};
// The type of fn(args...) (possibly a reference); `invalid` when it cannot be called.
template <class Fn, class... Args>
using call_result_t = typename call_result<Fn, Args...>::type;

// The element type a range yields, decayed; `invalid` for anything that is not a range.
template <class R>
struct element {
  using type = invalid;
};
template <std::ranges::input_range R>
struct element<R> {
  using type = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
};
template <class R>
using element_t = typename element<std::remove_reference_t<R>>::type;

}  // namespace sluice::detail
