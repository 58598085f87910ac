// This header defines sluice::circuit_breaker, which stops calling a service that keeps failing
// (calls fail fast with sluice::circuit_open) and lets a few trial calls through after a pause,
// in the style of resilience4j and Polly; sluice::breaker_policy, its options; and
// sluice::with_breaker.
//
// Example:
//   sluice::circuit_breaker breaker{{.consecutive_failures = 3, .open_for = 10s}};
//   auto guarded = breaker.wrap(call_api);  // or sluice::with_breaker(call_api, breaker)
//   guarded(request);                       // throws sluice::circuit_open while open
//
// States: closed (calls go through; failures are counted), open (calls fail fast with
// sluice::circuit_open, without calling), half_open (after `open_for`: up to
// `half_open_probes` trial calls go through; when all of them succeed the breaker closes, when
// one fails it opens again).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include <sluice/clock.hpp>
#include <sluice/errors.hpp>

namespace sluice {

// When a circuit breaker opens and how it recovers. An aggregate, used with designated
// initializers: {.consecutive_failures = 3, .open_for = 10s}.
//
// Invalid values (failure_rate outside [0, 1], window 0 with a failure_rate, a negative open_for,
// half_open_probes 0, or both ways of opening off) are rejected with std::invalid_argument.
// Lifetime: `clock`, when set, must outlive the breaker and its copies.
struct breaker_policy {
  // Opens after this many counted failures in a row; 0: off.
  std::size_t consecutive_failures = 5;
  // Opens when counted failures / calls over the last `window` calls reach it, once `window`
  // calls were seen since the breaker last closed; 0: off.
  double failure_rate = 0.0;
  std::size_t window = 20;
  // How long the breaker stays open before it lets trial calls through (half-open).
  std::chrono::milliseconds open_for{30'000};
  // Trial calls let through while half-open; all must succeed to close, any failure reopens.
  std::size_t half_open_probes = 1;
  // Which failures count; empty: all. A failure it rejects is ignored: it is neither a success
  // nor a failure. It may be called from many threads at once; if it throws, the failure counts.
  std::function<bool(std::exception_ptr)> counts_if{};
  const sluice::clock* clock = nullptr;  // nullptr -> sluice::clock::system()
};

enum class circuit_state { closed, open, half_open };

// What a breaker has seen since it was made (all copies together).
struct breaker_stats {
  std::uint64_t calls = 0;      // calls let through by acquire()
  std::uint64_t rejected = 0;   // calls refused with sluice::circuit_open
  std::uint64_t successes = 0;  // on_success() reports
  std::uint64_t failures = 0;   // on_failure() reports that counted
  std::uint64_t ignored = 0;    // on_failure() reports that counts_if rejected
  std::uint64_t opened = 0;     // times the breaker opened
};

namespace detail {

class breaker_core;  // lib/circuit_breaker.cpp

// Throws std::invalid_argument ("sluice: <who>: breaker_policy.<field> is <value>; ...") when
// `policy` is invalid. `who` names the user: a task's description, or "" for a breaker alone.
void check_breaker_policy(const breaker_policy& policy, std::string_view who);

template <class F>
class breaker_wrapped;

}  // namespace detail

// A circuit breaker. Copies share one state, so one breaker can guard several callables (all
// calls to one service) and be handed to tasks and wrappers by value.
//
// Example:
//   sluice::circuit_breaker breaker{{.consecutive_failures = 3, .open_for = 10s}};
//   auto guarded = breaker.wrap(call_api);
//   if (breaker.state() == sluice::circuit_state::open) ...;
// Thread safety: every member may be called from many threads at once, on any copy.
// Exceptions: the constructor throws std::invalid_argument for an invalid policy.
// Lifetime: the state lives as long as the last copy (wrappers hold one).
class circuit_breaker {
 public:
  explicit circuit_breaker(breaker_policy policy = {});

  // The state now; an open breaker whose open_for has passed reports (and becomes) half_open.
  circuit_state state() const;
  breaker_stats stats() const;

  // A callable with `f`'s signature that asks this breaker before each call of `f` (as const)
  // and reports the call's outcome to it.
  // Exceptions: sluice::circuit_open while the breaker refuses calls (f is not called);
  // otherwise what `f` throws, unchanged.
  template <class F>
  detail::breaker_wrapped<F> wrap(F f) const {
    return detail::breaker_wrapped<F>(std::move(f), *this);
  }

  // The low-level protocol (used by wrap(), task pipelines and sluice::resilient): acquire()
  // before a call, then exactly one of on_success() / on_failure(error) after it.
  //
  // acquire() lets the call through or throws sluice::circuit_open, whose what() names `who`
  // (when not empty), why the breaker is open and when it half-opens. Outcomes are attributed
  // to the state the breaker is in when they are reported.
  void acquire(std::string_view who) const;
  void on_success() const;
  void on_failure(std::exception_ptr error) const;

 private:
  std::shared_ptr<detail::breaker_core> core_;
};

namespace detail {

// The callable circuit_breaker::wrap returns; copies share the breaker.
template <class F>
class breaker_wrapped {
 public:
  breaker_wrapped(F f, circuit_breaker breaker) : f_(std::move(f)), breaker_(std::move(breaker)) {}

  template <class... Args>
  requires std::invocable<const F&, Args...> std::invoke_result_t<const F&, Args...>
  operator()(Args&&... args) const {
    using result = std::invoke_result_t<const F&, Args...>;
    breaker_.acquire("");
    if constexpr (std::is_void_v<result>) {
      call(std::forward<Args>(args)...);
      breaker_.on_success();
    } else {
      result r = call(std::forward<Args>(args)...);
      breaker_.on_success();
      if constexpr (std::is_reference_v<result>) {
        return std::forward<result>(r);
      } else {
        return r;
      }
    }
  }

 private:
  template <class... Args>
  std::invoke_result_t<const F&, Args...> call(Args&&... args) const {
    try {
      return std::invoke(f_, std::forward<Args>(args)...);
    } catch (...) {
      breaker_.on_failure(std::current_exception());
      throw;
    }
  }

  F f_;
  circuit_breaker breaker_;
};

}  // namespace detail

// The same as `breaker.wrap(f)`.
//
// Example:
//   auto guarded = sluice::with_breaker(call_api, breaker);
template <class F>
auto with_breaker(F f, circuit_breaker breaker) {
  return breaker.wrap(std::move(f));
}

}  // namespace sluice
