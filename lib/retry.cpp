// The non-template parts of sluice/retry.hpp: checking a retry_policy, and what happens after a
// failed attempt (the backoff delay, jitter, the wait, and giving up).
#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <sluice/detail/saturate.hpp>
#include <sluice/retry.hpp>

#include "messages.hpp"

namespace sluice::detail {
namespace {

[[noreturn]] void reject(std::string_view who, std::string_view field, const std::string& value,
                         std::string_view rule) {
  std::string message = "sluice: ";
  message += who;
  message += " has retry_policy.";
  message += field;
  message += ' ';
  message += value;
  message += "; ";
  message += rule;
  throw std::invalid_argument(message);
}

std::string as_text(std::chrono::milliseconds value) {
  return std::to_string(value.count()) + "ms";
}

// Whether an empty retry_if retries `error`: anything derived from std::exception.
bool is_std_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception&) {
    return true;
  } catch (...) {
    return false;
  }
}

// The delay before attempt made + 1: min(max_delay, min_delay * backoff^(made - 1)). A delay
// longer than the clock can hold (about 292 years) is the longest it can.
clock::duration backoff_delay(const retry_policy& policy, std::size_t made) {
  using nanos = std::chrono::duration<double, std::nano>;
  const nanos cap = policy.max_delay;
  // pow() may overflow to infinity for many attempts; the comparison still caps it.
  const nanos delay =
      nanos{policy.min_delay} * std::pow(policy.backoff, static_cast<double>(made - 1));
  if (!(delay < cap)) return saturating_cast<clock::duration>(policy.max_delay);
  if (!(delay < nanos{clock::duration::max()})) return clock::duration::max();
  return std::chrono::round<clock::duration>(delay);
}

// A uniform draw in [0, delay]. Each thread has its own generator, so callers never contend.
clock::duration jittered(clock::duration delay) {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uniform_int_distribution<clock::duration::rep> draw(0, delay.count());
  return clock::duration{draw(engine)};
}

[[noreturn]] void give_up(std::vector<std::exception_ptr>& errors, give_up_with how) {
  if (how == give_up_with::last_error || errors.size() == 1) std::rethrow_exception(errors.back());
  throw all_failed("retry", std::move(errors));
}

}  // namespace

void check_retry_policy(const retry_policy& policy, std::string_view who) {
  if (policy.max_attempts == 0) {
    reject(who, "max_attempts", "0",
           "it counts calls, the first one included, and must be at least 1");
  }
  if (!(policy.backoff >= 1.0) || !std::isfinite(policy.backoff)) {
    reject(who, "backoff", number_text(policy.backoff),
           "it multiplies the delay after each attempt and must be a finite number >= 1");
  }
  if (policy.min_delay < std::chrono::milliseconds::zero()) {
    reject(who, "min_delay", as_text(policy.min_delay), "a delay must not be negative");
  }
  if (policy.max_delay < policy.min_delay) {
    reject(who, "max_delay", as_text(policy.max_delay),
           "it caps every delay and must not be less than min_delay (" + as_text(policy.min_delay) +
               ")");
  }
}

bool retry_allows(const retry_policy& policy, const std::exception_ptr& error) {
  return policy.retry_if ? policy.retry_if(error) : is_std_exception(error);
}

clock::duration retry_delay(const retry_policy& policy, std::size_t made) {
  const clock::duration delay = backoff_delay(policy, made);
  return policy.jitter ? jittered(delay) : delay;
}

void after_failed_attempt(const retry_policy& policy, const std::stop_token& stop, std::size_t made,
                          std::exception_ptr error, std::vector<std::exception_ptr>& errors,
                          std::vector<std::exception_ptr>* failed, give_up_with how) {
  if (failed != nullptr) failed->push_back(error);
  errors.push_back(std::move(error));
  if (made >= policy.max_attempts) give_up(errors, how);
  if (!retry_allows(policy, errors.back()) || stop.stop_requested()) give_up(errors, how);

  const clock::duration delay = retry_delay(policy, made);
  const clock& time = clock_or_system(policy.clock);
  if (!time.sleep_until(saturating_add(time.now(), delay), stop)) give_up(errors, how);
}

}  // namespace sluice::detail
