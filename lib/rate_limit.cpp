// The token bucket of sluice/rate_limit.hpp: checking its fields, and the schedule of slots.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include <sluice/rate_limit.hpp>

#include "messages.hpp"

namespace sluice::detail {
namespace {

using seconds_f = std::chrono::duration<double>;

// The slowest rate accepted, and the furthest a burst may run ahead of the schedule: beyond
// these, time points would overflow the clock's 64-bit nanoseconds.
constexpr seconds_f longest_interval = std::chrono::hours{24 * 365};
constexpr seconds_f longest_tolerance = std::chrono::hours{24 * 365 * 100};

void check_fields(double per_second, std::size_t burst, std::string_view who) {
  if (!std::isfinite(per_second) || per_second <= 0) {
    throw std::invalid_argument(message_prefix(who) + "rate_limit.per_second is " +
                                number_text(per_second) +
                                "; it counts tokens per second and must be positive and finite");
  }
  if (seconds_f{1.0 / per_second} > longest_interval) {
    throw std::invalid_argument(message_prefix(who) + "rate_limit.per_second is " +
                                number_text(per_second) +
                                "; a rate slower than one call a year is not supported");
  }
  if (burst == 0) {
    throw std::invalid_argument(message_prefix(who) +
                                "rate_limit.burst is 0; it counts the tokens the bucket holds "
                                "and must be at least 1");
  }
}

clock::duration interval_of(double per_second) {
  // At least one tick: a rate faster than the clock's resolution is limited to one call a tick.
  return std::max(clock::duration{1},
                  std::chrono::round<clock::duration>(seconds_f{1.0 / per_second}));
}

clock::duration tolerance_of(clock::duration interval, std::size_t burst) {
  const seconds_f ahead =
      std::chrono::duration_cast<seconds_f>(interval) * static_cast<double>(burst - 1);
  return std::chrono::round<clock::duration>(std::min(ahead, longest_tolerance));
}

}  // namespace

token_bucket::token_bucket(double per_second, std::size_t burst, const sluice::clock* clock)
    : per_second_((check_fields(per_second, burst, ""), per_second)),
      burst_(burst),
      configured_clock_(clock),
      clock_(clock_or_system(clock)),
      interval_(interval_of(per_second)),
      tolerance_(tolerance_of(interval_, burst)) {}

bool token_bucket::acquire(std::stop_token stop) {
  if (stop.stop_requested()) return false;
  clock::time_point reserved;
  clock::time_point slot;
  {
    std::lock_guard lock(mu_);
    const clock::time_point now = clock_.now();
    reserved = std::max(next_, now);  // an idle bucket restarts the schedule now: it is full
    next_ = reserved + interval_;
    slot = reserved - tolerance_;
    if (slot <= now) return true;
  }
  if (clock_.sleep_until(slot, stop)) return true;
  // Cancelled: give the slot back when no later caller reserved one after it (otherwise it is
  // lost, which only makes the bucket slower than asked, never faster).
  std::lock_guard lock(mu_);
  if (next_ == reserved + interval_) next_ = reserved;
  return false;
}

void check_rate_limit(const rate_limit& limit, std::string_view who) {
  check_fields(limit.per_second, limit.burst, who);
  const token_bucket* bucket = limit.bucket.get();
  if (bucket == nullptr) {
    throw std::invalid_argument(message_prefix(who) +
                                "rate_limit.bucket is empty; leave it defaulted, so that the "
                                "rate_limit makes its bucket from the fields before it");
  }
  const auto changed = [&](const std::string& what) {
    throw std::invalid_argument(
        message_prefix(who) + what +
        "; a rate_limit makes its bucket (shared by its copies) when it is made, so make a new "
        "rate_limit instead of changing a field, e.g. sluice::rate_limit{.per_second = 5, "
        ".burst = 2}");
  };
  if (limit.per_second != bucket->per_second()) {
    changed("rate_limit.per_second is " + number_text(limit.per_second) +
            " but its bucket was made with " + number_text(bucket->per_second()));
  }
  if (limit.burst != bucket->burst()) {
    changed("rate_limit.burst is " + std::to_string(limit.burst) +
            " but its bucket was made with " + std::to_string(bucket->burst()));
  }
  if (limit.clock != bucket->configured_clock()) {
    changed("rate_limit.clock is not the clock its bucket was made with");
  }
}

bool acquire(const rate_limit& limit, std::stop_token stop) {
  return limit.bucket->acquire(std::move(stop));
}

void throw_rate_limit_cancelled() {
  throw std::runtime_error(
      "sluice: rate-limited call cancelled while waiting for a token; it was not made");
}

}  // namespace sluice::detail
