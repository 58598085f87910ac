// This header defines sluice::rate_limit, a token bucket that spaces calls out in time (also
// task_options::rate), and sluice::rate_limited, which makes every call of a callable wait for a
// token from such a bucket.
//
// Example:
//   auto slow = sluice::rate_limited(call_api, sluice::rate_limit{5.0});  // 5 calls per second
//   auto burst = sluice::rate_limit{.per_second = 50, .burst = 5};        // 5 at once, then 50/s
//
// A call waits for a token rather than failing. Waiting callers are served first come, first
// served: each reserves the next free slot of the schedule and sleeps until it, so no caller
// starves however many threads call at once.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sluice/clock.hpp>
#include <sluice/detail/resilience/stop_token_arg.hpp>

namespace sluice {
namespace detail {

// The schedule behind a rate_limit (the generic cell rate algorithm): slots are `1/per_second`
// apart, and a caller may run up to `burst - 1` slots ahead of the schedule, so a bucket that has
// been idle holds `burst` tokens (it starts full). Intervals are rounded to the clock's tick.
//
// Thread safety: acquire() may be called from many threads at once.
class token_bucket {
 public:
  // Exceptions: std::invalid_argument ("sluice: rate_limit.per_second is 0; ...") naming the bad
  // field: per_second must be finite and at least one call a year, burst at least 1.
  token_bucket(double per_second, std::size_t burst, const sluice::clock* clock);
  token_bucket(const token_bucket&) = delete;
  token_bucket& operator=(const token_bucket&) = delete;

  // Reserves the next slot, first come first served, and waits until it comes. Returns false,
  // taking no token, when `stop` is requested before the slot comes (a stop requested already
  // refuses even a token that is there).
  bool acquire(std::stop_token stop);

  // What the bucket was made from.
  double per_second() const noexcept { return per_second_; }
  std::size_t burst() const noexcept { return burst_; }
  const sluice::clock* configured_clock() const noexcept { return configured_clock_; }

 private:
  const double per_second_;
  const std::size_t burst_;
  const sluice::clock* const configured_clock_;  // as given: nullptr means the system clock
  const sluice::clock& clock_;
  const sluice::clock::duration interval_;   // between two slots
  const sluice::clock::duration tolerance_;  // how far ahead of the schedule a call may go
  std::mutex mu_;                            // guards next_
  // The theoretical time of the next call; min() until the first call.
  sluice::clock::time_point next_ = sluice::clock::time_point::min();
};

}  // namespace detail

// A token bucket: `per_second` tokens a second, at most `burst` at once. An aggregate:
//   sluice::rate_limit{5.0}, sluice::rate_limit{50.0, 5}, {.per_second = 5, .burst = 2}
//
// The bucket is made, full, when the rate_limit is made, from the fields before it; copies share
// it, so every wrapper and task using copies of one rate_limit draws from one bucket. Setting a
// field after that does not change the bucket: make a new rate_limit instead (using one whose
// fields no longer match its bucket is rejected with std::invalid_argument).
// Exceptions: std::invalid_argument, when made, for a per_second that is not a finite number of
// at least one call a year, or a burst of 0.
// Thread safety: copies may be used from many threads at once.
// Lifetime: `clock`, when set, must outlive the rate_limit, its copies and their users.
struct rate_limit {
  double per_second = 1.0;               // tokens per second; > 0 and finite
  std::size_t burst = 1;                 // tokens at most, and at the start; >= 1
  const sluice::clock* clock = nullptr;  // nullptr -> sluice::clock::system()
  // Internal, leave defaulted: the bucket, made from the fields above and shared by copies.
  std::shared_ptr<detail::token_bucket> bucket =
      std::make_shared<detail::token_bucket>(per_second, burst, clock);
};

namespace detail {

// Throws std::invalid_argument ("sluice: <who>: rate_limit.<field> is <value>; ...") when a
// field of `limit` is invalid, or no longer matches its bucket. `who` names the user: a task's
// description ("task 'fetch' (task#2)") when a pipeline is built, or "" for rate_limited().
void check_rate_limit(const rate_limit& limit, std::string_view who);

// Waits for a token of `limit`'s bucket (see token_bucket::acquire); false when `stop` ended the
// wait, and no token was taken. `limit` must have passed check_rate_limit.
bool acquire(const rate_limit& limit, std::stop_token stop);

// Throws the error of a rate-limited call whose wait was cancelled: std::runtime_error
// "sluice: rate-limited call cancelled while waiting for a token; it was not made".
[[noreturn]] void throw_rate_limit_cancelled();

// The callable rate_limited returns; copies share the bucket.
template <class F>
class rate_limited_fn {
 public:
  rate_limited_fn(F f, rate_limit limit) : f_(std::move(f)), limit_(std::move(limit)) {}

  template <class... Args>
  requires std::invocable<const F&, Args...>
  decltype(auto) operator()(Args&&... args) const {
    if (!acquire(limit_, stop_token_of(args...))) throw_rate_limit_cancelled();
    return std::invoke(f_, std::forward<Args>(args)...);
  }

 private:
  F f_;
  rate_limit limit_;
};

}  // namespace detail

// Wraps `f` in a callable with the same signature whose every call first waits for a token of
// `limit` (one token per call).
//
// Example:
//   auto slow = sluice::rate_limited(call_api, sluice::rate_limit{5.0});
//   for (auto& id : ids) slow(id);  // 5 calls a second, from any number of threads
// Thread safety: the returned callable may be called from many threads at once (`f` is then
// called concurrently, as const); waiting callers get their tokens in the order they came.
// Copies of the wrapper, and every other user of a copy of `limit`, share one bucket.
// Exceptions: std::invalid_argument at once for an invalid `limit`; from a call, what `f` throws,
// or std::runtime_error ("sluice: rate-limited call cancelled ...") when the wait was cancelled.
// Cancellation: when the last argument is a std::stop_token (it is passed on to `f`), a stop
// request ends the wait for a token; `f` is then not called, and the call throws as above.
// Lifetime: `limit.clock` must outlive the wrapper and its copies.
template <class F>
auto rate_limited(F f, rate_limit limit) {
  detail::check_rate_limit(limit, "");
  return detail::rate_limited_fn<F>(std::move(f), std::move(limit));
}

}  // namespace sluice
