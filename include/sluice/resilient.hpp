// This header defines sluice::resilient, which puts a callable behind a cache, a rate limit, a
// retry, a circuit breaker and a timeout at once, and sluice::resilience_options. The order is
// that of a task's options (and of opero, the Python resilience library sluice follows here).
//
// Example:
//   auto get = sluice::resilient(sluice::with_fallback(call_with_key, keys),
//                                {.cache = sluice::cache_policy{.ttl = 1h},
//                                 .rate = sluice::rate_limit{5.0},
//                                 .retry = sluice::retry_policy{.max_attempts = 3}});
//   std::string body = get(url);
//
// The order around one call: the cache first (a hit makes no call and takes no token), then
// the rate limit (one token per call, not per attempt), then the retry; inside each attempt the
// breaker, then the timeout, then the callable itself (a with_fallback runs its whole sequence
// in each attempt).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sluice/cache.hpp>
#include <sluice/circuit_breaker.hpp>
#include <sluice/detail/resilience/cache_slot.hpp>
#include <sluice/detail/resilience/guard.hpp>
#include <sluice/detail/resilience/stop_token_arg.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/retry.hpp>

namespace sluice {

// What sluice::resilient puts around a callable; every part is optional.
struct resilience_options {
  std::optional<cache_policy> cache{};       // keyed by the arguments (a trailing stop_token aside)
  std::optional<rate_limit> rate{};          // a token per call that the cache did not answer
  std::optional<retry_policy> retry{};       // attempts per call
  std::optional<circuit_breaker> breaker{};  // consulted by each attempt
  std::chrono::milliseconds timeout{0};      // per attempt; 0 -> none. When the callable's
                                             // last argument is a std::stop_token, the attempt
                                             // gets one that is stopped at the deadline (and
                                             // when the caller's is); the attempt fails with
                                             // sluice::timeout_error, whatever it returned
};

namespace detail {

// The cache key of a call: its arguments, decayed, without a trailing stop_token.
template <class Tuple, std::size_t... I>
auto key_of(const Tuple& args, std::index_sequence<I...>) {
  return std::tuple<std::decay_t<std::tuple_element_t<I, Tuple>>...>(std::get<I>(args)...);
}
template <class... Args>
auto call_key(const Args&... args) {
  constexpr std::size_t n = sizeof...(Args) - (ends_with_stop_token<Args...> ? 1 : 0);
  return key_of(std::forward_as_tuple(args...), std::make_index_sequence<n>{});
}

// f(args...), with a trailing std::stop_token argument replaced by `stop`'s token: the caller's
// own, or an attempt's that its deadline stops.
template <class F, class Stop, class... Args>
decltype(auto) invoke_with_stop(const F& f, const Stop& stop, Args&... args) {
  if constexpr (ends_with_stop_token<Args...>) {
    auto all = std::forward_as_tuple(args...);
    return [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
      return std::invoke(f, std::get<I>(all)..., token_of(stop));
    }(std::make_index_sequence<sizeof...(Args) - 1>{});
  } else {
    (void)stop;
    return std::invoke(f, args...);
  }
}

template <class F>
class resilient_fn {
 public:
  resilient_fn(F f, resilience_options options)
      : f_(std::move(f)), state_(std::make_shared<state>(std::move(options))) {}

  // Calls f with `args` as lvalues (an attempt may be repeated).
  template <class... Args>
  requires std::invocable<const F&, Args&...> std::invoke_result_t<const F&, Args&...>
  operator()(Args&&... args) const {
    using result = std::invoke_result_t<const F&, Args&...>;
    const state& s = *state_;
    const std::stop_token stop = stop_token_of(args...);
    auto attempt = [&](const auto& attempt_stop) -> result {
      return invoke_with_stop(f_, attempt_stop, args...);
    };
    auto cached = [&](auto&& compute) -> result {
      if (s.cache) {
        if constexpr (!std::is_void_v<result> && !std::is_reference_v<result>) {
          using key = decltype(call_key(args...));
          return s.cache->template store<key, result>("resilient").get_or_compute(
              call_key(args...), compute);
        } else {
          throw std::invalid_argument(
              "sluice: resilient has a cache, but the callable returns void or a reference; a "
              "cache needs a value to copy out");
        }
      }
      return compute();
    };
    return guarded_call<result>(s.guard, stop, cached, attempt, nullptr);
  }

 private:
  struct state {
    explicit state(resilience_options o) : options(std::move(o)) {
      if (options.retry) check_retry_policy(*options.retry, "resilient");
      if (options.rate) check_rate_limit(*options.rate, "resilient");
      if (options.timeout.count() < 0) {
        throw std::invalid_argument("sluice: resilient has a negative timeout (" +
                                    std::to_string(options.timeout.count()) +
                                    " ms); 0 means none");
      }
      if (options.cache) cache.emplace(*options.cache);
      guard.rate = options.rate ? &*options.rate : nullptr;
      guard.retry = options.retry ? &*options.retry : nullptr;
      guard.breaker = options.breaker ? &*options.breaker : nullptr;
      guard.timeout = options.timeout;
      guard.who = "resilient";
    }
    state(const state&) = delete;
    state& operator=(const state&) = delete;

    resilience_options options;
    guard_options guard;                      // points into options
    mutable std::optional<cache_slot> cache;  // filled on first use, by any thread
  };

  F f_;
  std::shared_ptr<const state> state_;  // shared by copies: one cache, one bucket, one breaker
};

}  // namespace detail

// Wraps `f` in a cache, a rate limit, a retry and a breaker, as `options` asks.
//
// Example: see the header comment.
// Thread safety: the returned callable may be called from many threads at once; its copies
// share one cache (and, like any copies of a rate_limit or circuit_breaker, one bucket and one
// breaker).
// Exceptions: std::invalid_argument at once for an invalid policy or a negative timeout; from
// a call, what the retry gives up with (the only error unchanged, or sluice::all_failed),
// sluice::circuit_open while the breaker is open, sluice::timeout_error for an attempt past
// its timeout, and whatever f throws when nothing retries it.
// Cancellation: when the last argument is a std::stop_token, a stop request ends a wait for a
// token or a backoff wait early, and reaches the callable through the token it is given.
template <class F>
auto resilient(F f, resilience_options options) {
  return detail::resilient_fn<F>(std::move(f), std::move(options));
}

}  // namespace sluice
