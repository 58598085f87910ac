// Internal: the one place that puts resilience options around a call, for a task's options and
// for sluice::resilient alike, in this order:
//   cache -> rate limit -> retry -> (each attempt) circuit breaker -> timeout -> the call
// A cache hit makes no call and takes no token; a call takes one token however many attempts it
// makes; each attempt takes its own turn through the breaker and has its own deadline. The order
// is that of opero, the Python resilience library sluice follows here.
//
// The cache is typed by the call's key and result, so it is composed here, in the template; rate,
// retry, breaker and timeout are not, so they are composed once, in lib/guard.cpp
// (run_guarded), around an attempt handed over as a function reference: every task and every
// resilient callable shares that code instead of instantiating its own.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/circuit_breaker.hpp>
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

// The stop the caller of a guarded call has: a run's std::stop_source or a caller's token (the
// token is made only when a rate wait, a retry wait or a timeout needs it).
struct outer_stop {
  const std::stop_source* source = nullptr;
  const std::stop_token* token = nullptr;
  std::stop_token get() const { return source != nullptr ? source->get_token() : *token; }
};
inline outer_stop outer_stop_of(const std::stop_source& source) { return {&source, nullptr}; }
inline outer_stop outer_stop_of(const std::stop_token& token) { return {nullptr, &token}; }

// One attempt, by reference: called with the attempt's own stop source under a timeout, or with
// nullptr when the attempt follows the caller's stop.
class attempt_ref {
 public:
  template <class F>
  explicit attempt_ref(F& f) noexcept
      : object_(&f), call_([](void* o, const std::stop_source* s) { (*static_cast<F*>(o))(s); }) {}
  void operator()(const std::stop_source* attempt_stop) const { call_(object_, attempt_stop); }

 private:
  void* object_;
  void (*call_)(void*, const std::stop_source*);
};

// Rate limit, retry, breaker and timeout around `attempt` (lib/guard.cpp). Every failed attempt
// is appended to `*failed` when not null.
// Exceptions: what the retry gives up with (options.give_up), sluice::circuit_open,
// sluice::timeout_error for an attempt that ran past its timeout (whatever it returned or
// threw), and a rate-limit wait cut short by `outer` (throw_rate_limit_cancelled).
void run_guarded(const guard_options& options, outer_stop outer, attempt_ref attempt,
                 std::vector<std::exception_ptr>* failed);

// Where the attempt that succeeded leaves its result: a value, a reference, or nothing.
template <class Result>
class result_slot {
 public:
  template <class F>
  void set(F&& f) {
    value_.reset();
    value_.emplace(f());
  }
  Result take() { return std::move(*value_); }

 private:
  std::optional<Result> value_;
};
template <class Result>
class result_slot<Result&> {
 public:
  template <class F>
  void set(F&& f) {
    value_ = &f();
  }
  Result& take() { return *value_; }

 private:
  Result* value_ = nullptr;
};
template <>
class result_slot<void> {
 public:
  template <class F>
  void set(F&& f) {
    f();
  }
  void take() {}
};

// One call under `options`. `cached(compute)` answers from the cache or calls compute() (which
// runs the rest of the chain); `attempt(stop)` makes the call itself, where `stop` is `outer`
// (a std::stop_source or std::stop_token) or, with a timeout, a source the deadline stops and
// that follows `outer`. Exceptions: as run_guarded.
template <class Result, class Stop, class Cached, class Attempt>
Result guarded_call(const guard_options& options, const Stop& outer, Cached&& cached,
                    Attempt&& attempt, std::vector<std::exception_ptr>* failed) {
  return cached([&]() -> Result {
    result_slot<Result> slot;
    auto one = [&](const std::stop_source* attempt_stop) {
      if (attempt_stop != nullptr) {
        slot.set([&]() -> Result { return attempt(*attempt_stop); });
      } else {
        slot.set([&]() -> Result { return attempt(outer); });
      }
    };
    run_guarded(options, outer_stop_of(outer), attempt_ref(one), failed);
    return slot.take();
  });
}

}  // namespace sluice::detail
