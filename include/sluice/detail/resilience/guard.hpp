// Internal: the one place that puts resilience options around a call, for a task's options and
// for sluice::resilient alike, in this order:
//   cache -> rate limit -> retry -> (each attempt) circuit breaker -> timeout -> the call
// A cache hit makes no call and takes no token; a call takes one token however many attempts it
// makes; each attempt takes its own turn through the breaker and has its own deadline. The order
// is that of opero, the Python resilience library sluice follows here.
#pragma once

#include <chrono>
#include <exception>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <sluice/circuit_breaker.hpp>
#include <sluice/detail/resilience/deadline.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/errors.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/retry.hpp>

namespace sluice::detail {

// The options a guarded call applies, pointing at where they live (checked already); null and 0
// are "none".
struct guard_options {
  const rate_limit* rate = nullptr;
  const retry_policy* retry = nullptr;
  const circuit_breaker* breaker = nullptr;
  std::chrono::milliseconds timeout{0};  // per attempt
  give_up_with give_up = give_up_with::all_failed;
  std::string_view who;  // names the callable in the breaker's and the timeout's messages
};

// A guarded call without a cache: the lookup that always computes.
struct no_cache {
  template <class Compute>
  decltype(auto) operator()(Compute&& compute) const {
    return compute();
  }
};

// One call under `options`. `cached(compute)` answers from the cache or calls compute() (which
// runs the rest of the chain); `attempt(stop)` makes the call itself, where `stop` is `outer`
// (a std::stop_source or std::stop_token) or, with a timeout, a source the deadline stops and
// that follows `outer`. Every failed attempt is appended to `*failed` when not null.
// Exceptions: what the retry gives up with (options.give_up), sluice::circuit_open,
// sluice::timeout_error for an attempt that ran past its timeout (whatever it returned or
// threw), and a rate-limit wait cut short by `outer` (throw_rate_limit_cancelled).
template <class Result, class Stop, class Cached, class Attempt>
Result guarded_call(const guard_options& options, const Stop& outer, Cached&& cached,
                    Attempt&& attempt, std::vector<std::exception_ptr>* failed) {
  auto timed = [&]() -> Result {
    if (options.timeout.count() <= 0) return attempt(outer);
    std::stop_source attempt_stop;
    const std::stop_callback link(token_of(outer), [&] { attempt_stop.request_stop(); });
    const deadline_guard deadline(attempt_stop, options.timeout);
    auto late = [&] {
      throw timeout_error("sluice: " + std::string(options.who) +
                          ": an attempt ran past its timeout of " +
                          std::to_string(options.timeout.count()) + " ms");
    };
    try {
      if constexpr (std::is_void_v<Result>) {
        attempt(attempt_stop);
        if (deadline.expired()) late();
      } else {
        Result result = attempt(attempt_stop);
        if (deadline.expired()) late();
        return result;
      }
    } catch (const timeout_error&) {
      throw;
    } catch (...) {
      if (deadline.expired()) late();  // it gave up because it was asked to stop
      throw;
    }
  };
  auto breaker = [&]() -> Result {
    if (options.breaker == nullptr) return timed();
    options.breaker->acquire(options.who);
    try {
      if constexpr (std::is_void_v<Result>) {
        timed();
        options.breaker->on_success();
      } else {
        Result result = timed();
        options.breaker->on_success();
        return result;
      }
    } catch (...) {
      options.breaker->on_failure(std::current_exception());
      throw;
    }
  };
  auto limited = [&]() -> Result {
    if (options.rate != nullptr && !acquire(*options.rate, token_of(outer))) {
      throw_rate_limit_cancelled();  // the caller is stopping
    }
    if (options.retry != nullptr) {
      return run_with_retry(*options.retry, token_of(outer), breaker, failed, options.give_up);
    }
    try {
      return breaker();
    } catch (...) {
      if (failed != nullptr) failed->push_back(std::current_exception());
      throw;
    }
  };
  return cached(limited);
}

}  // namespace sluice::detail
