// The resilience chain without its cache: rate limit -> retry -> (each attempt) breaker ->
// timeout -> the attempt (see detail/resilience/guard.hpp).
#include <exception>
#include <stop_token>
#include <string>
#include <vector>

#include <sluice/detail/resilience/deadline.hpp>
#include <sluice/detail/resilience/guard.hpp>
#include <sluice/errors.hpp>

namespace sluice::detail {
namespace {

[[noreturn]] void throw_late(const guard_options& options) {
  throw timeout_error("sluice: " + std::string(options.who) +
                      ": an attempt ran past its timeout of " +
                      std::to_string(options.timeout.count()) + " ms");
}

// The attempt under its deadline: a stop request on its own source at the deadline (and when
// the caller stops); past the deadline, whatever it returned or threw becomes timeout_error.
void timed(const guard_options& options, const outer_stop& outer, const attempt_ref& attempt) {
  if (options.timeout.count() <= 0) {
    attempt(nullptr);
    return;
  }
  std::stop_source attempt_stop;
  const std::stop_callback link(outer.get(), [&] { attempt_stop.request_stop(); });
  const deadline_guard deadline(attempt_stop, options.timeout);
  try {
    attempt(&attempt_stop);
  } catch (const timeout_error&) {
    throw;
  } catch (...) {
    if (deadline.expired()) throw_late(options);  // it gave up because it was asked to stop
    throw;
  }
  if (deadline.expired()) throw_late(options);
}

void with_breaker(const guard_options& options, const outer_stop& outer,
                  const attempt_ref& attempt) {
  if (options.breaker == nullptr) {
    timed(options, outer, attempt);
    return;
  }
  options.breaker->acquire(options.who);
  try {
    timed(options, outer, attempt);
  } catch (...) {
    options.breaker->on_failure(std::current_exception());
    throw;
  }
  options.breaker->on_success();
}

}  // namespace

void run_guarded(const guard_options& options, outer_stop outer, attempt_ref attempt,
                 std::vector<std::exception_ptr>* failed) {
  if (options.rate != nullptr && !acquire(*options.rate, outer.get())) {
    throw_rate_limit_cancelled();  // the caller is stopping
  }
  if (options.retry != nullptr) {
    run_with_retry(
        *options.retry, outer.get(), [&] { with_breaker(options, outer, attempt); }, failed,
        options.give_up);
    return;
  }
  try {
    with_breaker(options, outer, attempt);
  } catch (...) {
    if (failed != nullptr) failed->push_back(std::current_exception());
    throw;
  }
}

}  // namespace sluice::detail
