// Internal: deadlines from user durations that cannot overflow. A deadline is `now + after`
// where `after` is a user's duration (a timeout, a ttl, a retry delay, a batch's max_wait); at
// std::chrono::milliseconds::max() or 1000 years that sum overflows the clock's 64-bit
// nanoseconds (undefined behaviour, in practice a deadline in the past). These saturate at the
// time point's limits instead: a deadline too far to represent is "never".
#pragma once

#include <chrono>

namespace sluice::detail {

// `d` as a To (truncated, as duration_cast does), clamped to [To::min(), To::max()] instead of
// overflowing; NaN gives To::max(). Exact for the standard durations, whose ratios to one
// another are whole multiples or fractions.
template <class To, class Rep, class Period>
constexpr To saturating_cast(std::chrono::duration<Rep, Period> d) noexcept {
  // In long double (64-bit mantissa on x86-64) the conversion neither overflows nor, by
  // monotonic rounding, lets a value past the limit look inside it.
  using wide = std::chrono::duration<long double, typename To::period>;
  const long double value = std::chrono::duration_cast<wide>(d).count();
  if (!(value < static_cast<long double>(To::max().count()))) return To::max();
  if (!(value > static_cast<long double>(To::min().count()))) return To::min();
  return std::chrono::duration_cast<To>(d);
}

// `at + after`, or the time point's max() (min() for a negative `after`) when the sum does not
// fit: the deadline of a wait of `after` from `at`.
template <class Clock, class Duration, class Rep, class Period>
constexpr std::chrono::time_point<Clock, Duration> saturating_add(
    std::chrono::time_point<Clock, Duration> at,
    std::chrono::duration<Rep, Period> after) noexcept {
  using point = std::chrono::time_point<Clock, Duration>;
  const Duration step = saturating_cast<Duration>(after);
  const Duration since = at.time_since_epoch();
  if (step > Duration::zero() && since > Duration::max() - step) return point::max();
  if (step < Duration::zero() && since < Duration::min() - step) return point::min();
  return at + step;
}

}  // namespace sluice::detail
