// This header defines sluice::retry, which calls a callable again after it throws, waiting an
// exponentially growing (optionally jittered) delay between attempts; sluice::retry_policy, its
// options (also task_options::retry); and sluice::retry_on, a filter built from exception types.
//
// Example:
//   auto fetch = sluice::retry(get, {.max_attempts = 4, .backoff = 2.0, .min_delay = 100ms});
//   std::string body = fetch("https://example.com");  // get is called at most 4 times
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <stop_token>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/clock.hpp>
#include <sluice/detail/resilience/stop_token_arg.hpp>
#include <sluice/errors.hpp>

namespace sluice {

// How a call is retried. An aggregate, used with designated initializers:
//   {.max_attempts = 5, .min_delay = 50ms, .retry_if = sluice::retry_on<io_error>()}
//
// The delay before attempt n+1 (n >= 1 attempts made) is
// min(max_delay, min_delay * backoff^(n-1)); with `jitter` the wait is a uniform draw in
// [0, that delay] ("full jitter"), so that many callers failing together do not retry together.
// Invalid values (max_attempts 0, backoff < 1, a negative min_delay, max_delay < min_delay) are
// rejected with std::invalid_argument when the wrapper or the pipeline is built. A delay too long
// for the clock (milliseconds::max(), 1000 years) waits until the clock's end: its deadline
// saturates instead of overflowing.
// Lifetime: `clock`, when set, must outlive every wrapper and run using the policy.
struct retry_policy {
  std::size_t max_attempts = 3;                 // counts calls, the first one included; >= 1
  double backoff = 1.5;                         // growth of the delay per attempt; >= 1
  std::chrono::milliseconds min_delay{100};     // the first delay; >= 0
  std::chrono::milliseconds max_delay{30'000};  // the cap on every delay; >= min_delay
  bool jitter = true;                           // wait a uniform draw in [0, delay]
  // Whether a failed attempt may be retried; empty: any exception derived from std::exception
  // is, anything else is not. It may be called from many threads at once.
  std::function<bool(std::exception_ptr)> retry_if{};
  const sluice::clock* clock = nullptr;  // nullptr -> sluice::clock::system()
};

namespace detail {

// Throws std::invalid_argument ("sluice: <who> has retry_policy.<field> <value>; ...") when
// `policy` is invalid. `who` names the user of the policy: "retry", or a task's description
// ("task 'fetch' (task#2)") when a pipeline is built.
void check_retry_policy(const retry_policy& policy, std::string_view who);

// What a retry that runs out of attempts throws.
enum class give_up_with {
  // sluice::all_failed holding every attempt's exception, oldest first (the only exception
  // unchanged when just one attempt failed): sluice::retry and sluice::resilient.
  all_failed,
  // The last attempt's own exception, unchanged: a task's retry option (and opmap's), whose
  // failure::attempts already lists every attempt and whose failure::error is the last one.
  last_error,
};

// The slow path of run_with_retry, called inside the handler of a failed attempt: records
// `error` (attempt number `made`, 1-based) in `errors` and in `*failed` when not null, then
// either waits the backoff delay and returns (the caller makes the next attempt) or gives up by
// throwing as `how` says: with give_up_with::all_failed, `error` itself when it is the only
// failure, else sluice::all_failed("retry", errors); with give_up_with::last_error, `error`.
// It gives up when `made` reached max_attempts, when retry_if rejects `error`, or when `stop` is
// requested before or during the wait.
void after_failed_attempt(const retry_policy& policy, const std::stop_token& stop, std::size_t made,
                          std::exception_ptr error, std::vector<std::exception_ptr>& errors,
                          std::vector<std::exception_ptr>* failed, give_up_with how);

// Whether `policy` lets a failed attempt be retried: its retry_if, or (empty) whether `error`
// derives from std::exception. What after_failed_attempt asks, for callers that wait elsewhere
// (a job graph's timer).
bool retry_allows(const retry_policy& policy, const std::exception_ptr& error);
// The wait before attempt `made` + 1, jittered when the policy says so.
clock::duration retry_delay(const retry_policy& policy, std::size_t made);

// The one code path of every retry (sluice::retry and task_options::retry): runs `attempt()`
// under `policy` until it returns, and returns what it returns (void and references included).
// Every failed attempt's exception is appended to `*failed` when `failed` is not null (oldest
// first, the last one included), also when the retry gives up. `stop` ends a backoff wait early,
// and the retry then gives up. `policy` must have passed check_retry_policy.
//
// An attempt that succeeds at once costs a call and an exception handler: no allocation, no
// clock read; the error vector is filled only once an attempt has failed.
// Exceptions: as after_failed_attempt: by default the only error unchanged, or
// sluice::all_failed; with give_up_with::last_error, the last attempt's exception unchanged.
template <class Attempt>
decltype(auto) run_with_retry(const retry_policy& policy, std::stop_token stop, Attempt&& attempt,
                              std::vector<std::exception_ptr>* failed,
                              give_up_with how = give_up_with::all_failed) {
  std::vector<std::exception_ptr> errors;  // default construction does not allocate
  for (std::size_t made = 1;; ++made) {
    try {
      return attempt();
    } catch (...) {
      after_failed_attempt(policy, stop, made, std::current_exception(), errors, failed, how);
    }
  }
}

// Whether `error` holds an E (or a type derived from it).
template <class E>
bool holds(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// The callable sluice::retry returns; copies share the wrapped callable and the policy.
template <class Fn>
class retrying {
 public:
  retrying(Fn fn, retry_policy policy)
      : state_(std::make_shared<const state>(state{std::move(fn), std::move(policy)})) {}

  template <class... Args>
  requires std::is_invocable_v<const Fn&, Args&...>
  decltype(auto) operator()(Args&&... args) const {
    const state& s = *state_;
    return run_with_retry(
        s.policy, stop_token_of(args...),
        [&]() -> decltype(auto) { return std::invoke(s.fn, args...); }, nullptr);
  }

 private:
  struct state {
    Fn fn;
    retry_policy policy;
  };
  std::shared_ptr<const state> state_;
};

}  // namespace detail

// A retry_if filter that retries exceptions of the types E... (and of types derived from them)
// and nothing else.
//
// Example:
//   sluice::retry(fetch, {.retry_if = sluice::retry_on<timeout_error, io_error>()})
template <class... E>
std::function<bool(std::exception_ptr)> retry_on() {
  static_assert(sizeof...(E) > 0, "sluice: retry_on<E...>() needs at least one exception type");
  return [](std::exception_ptr error) { return (detail::holds<E>(error) || ...); };
}

// Wraps `fn` in a callable with the same signature that retries failed calls under `policy`.
//
// Example:
//   auto fetch = sluice::retry(get, {.max_attempts = 5, .min_delay = 50ms});
//   auto body = fetch(url);
// Each attempt calls `fn` (as const) with the wrapper's arguments as lvalues, so they must stay
// usable across attempts; the wrapper returns what `fn` returns. Only retry operations that are
// safe to repeat.
// Thread safety: the returned callable may be called from many threads at once (`fn` and
// `policy.retry_if` are then called concurrently); copies share `fn` and the policy.
// Exceptions: std::invalid_argument at once for an invalid policy. A call that fails once and is
// not retried (max_attempts = 1, or retry_if rejects the error) rethrows that exception
// unchanged; otherwise sluice::all_failed holding every attempt's exception, oldest first.
// Cancellation: when the last argument is a std::stop_token (it is passed on to `fn`), a stop
// request ends a backoff wait at once, and the call gives up as above.
// Lifetime: `policy.clock` must outlive the wrapper and its copies.
template <class Fn>
auto retry(Fn fn, retry_policy policy) {
  detail::check_retry_policy(policy, "retry");
  return detail::retrying<Fn>(std::move(fn), std::move(policy));
}

}  // namespace sluice
