// This header defines the fallback sequences: sluice::with_fallback, which calls one callable
// with each of several values in turn (API keys, mirrors, models) until one call succeeds, and
// sluice::first_of, which calls several callables in turn until one succeeds.
//
// Example:
//   auto get = sluice::with_fallback(fetch_with_key, std::vector<std::string>{"k1", "k2"});
//   auto body = get(url);  // fetch_with_key(url, "k1"), then fetch_with_key(url, "k2")
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/errors.hpp>

namespace sluice {
namespace detail {

// Throws std::invalid_argument: a with_fallback without values could never succeed.
[[noreturn]] inline void throw_no_fallback_values() {
  throw std::invalid_argument(
      "sluice: with_fallback was given no values; it needs at least one value to call with");
}

// The callable sluice::with_fallback returns; copies share the callable and the values.
template <class Fn, class Value>
class fallback_over_values {
 public:
  fallback_over_values(Fn fn, std::vector<Value> values)
      : state_(std::make_shared<const state>(state{std::move(fn), std::move(values)})) {
    if (state_->values.empty()) throw_no_fallback_values();
  }

  template <class... Args>
  requires std::is_invocable_v<const Fn&, Args&..., const Value&>
  decltype(auto) operator()(Args&&... args) const {
    const state& s = *state_;
    std::vector<std::exception_ptr> errors;
    for (const Value& value : s.values) {
      try {
        return std::invoke(s.fn, args..., value);
      } catch (...) {
        errors.push_back(std::current_exception());
      }
    }
    throw all_failed("with_fallback", std::move(errors));
  }

 private:
  struct state {
    Fn fn;
    std::vector<Value> values;
  };
  std::shared_ptr<const state> state_;
};

// The callable sluice::first_of returns; copies share the callables.
template <class... Fns>
class first_success {
 public:
  explicit first_success(Fns... fns)
      : fns_(std::make_shared<const std::tuple<Fns...>>(std::move(fns)...)) {}

  template <class... Args>
  requires(std::is_invocable_v<const Fns&, Args&...>&&...) decltype(auto) operator()(
      Args&&... args) const {
    using result = std::invoke_result_t<const first_fn&, Args&...>;
    static_assert((std::is_same_v<std::invoke_result_t<const Fns&, Args&...>, result> && ...),
                  "sluice: first_of's callables must all return the same type for these "
                  "arguments; the first success is returned, so its type must not depend on "
                  "which callable succeeded");
    std::vector<std::exception_ptr> errors;
    return try_from<0>(errors, args...);
  }

 private:
  using first_fn = std::tuple_element_t<0, std::tuple<Fns...>>;

  // Calls callable I, then I + 1 ... until one returns.
  template <std::size_t I, class... Args>
  decltype(auto) try_from(std::vector<std::exception_ptr>& errors, Args&... args) const {
    try {
      return std::invoke(std::get<I>(*fns_), args...);
    } catch (...) {
      errors.push_back(std::current_exception());
    }
    if constexpr (I + 1 < sizeof...(Fns)) {
      return try_from<I + 1>(errors, args...);
    } else {
      throw all_failed("first_of", std::move(errors));
    }
  }

  std::shared_ptr<const std::tuple<Fns...>> fns_;
};

}  // namespace detail

// Wraps `fn` so that a call with `args...` calls fn(args..., v) for each element v of `values`,
// in order, and returns the first result; a value after a success is never used.
//
// Example:
//   auto get = sluice::with_fallback(call_with_key, std::vector<std::string>{"k1", "k2", "k3"});
//   auto body = get(url);
// `values` may be any input range; its elements are copied into the wrapper. Each call passes
// the wrapper's arguments to `fn` as lvalues, then the value as a const lvalue. A trailing
// std::stop_token among `args` is passed on like any other argument (there is no wait to end).
// Thread safety: the returned callable may be called from many threads at once; copies share
// `fn` and the values.
// Exceptions: std::invalid_argument at once when `values` is empty. When every call throws,
// sluice::all_failed("with_fallback") holding each call's exception as thrown, in the order of
// `values`.
template <class Fn, class Values>
auto with_fallback(Fn fn, Values values) {
  static_assert(std::ranges::input_range<Values>,
                "sluice: with_fallback(fn, values) needs a range of values (a std::vector, a "
                "std::array, an initializer list ...) as its second argument");
  using value = std::ranges::range_value_t<Values>;
  std::vector<value> copied;
  for (auto it = std::ranges::begin(values); it != std::ranges::end(values); ++it) {
    copied.push_back(*it);
  }
  return detail::fallback_over_values<Fn, value>(std::move(fn), std::move(copied));
}

// Wraps several callables taking the same arguments: a call tries fs(args...) in order and
// returns the first result.
//
// Example:
//   auto get = sluice::first_of(from_cache_server, from_primary, from_replica);
//   auto row = get(id);
// The callables must return the same type for the arguments they are called with (a
// static_assert says so). Arguments are passed as lvalues.
// Thread safety: the returned callable may be called from many threads at once; copies share
// the callables.
// Exceptions: when every callable throws, sluice::all_failed("first_of") holding each one's
// exception as thrown, in order.
template <class... Fns>
auto first_of(Fns... fns) {
  static_assert(sizeof...(Fns) > 0, "sluice: first_of needs at least one callable");
  return detail::first_success<Fns...>(std::move(fns)...);
}

}  // namespace sluice
