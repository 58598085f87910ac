// Internal: a task's resilience options around each item's call, in the order of opero (the
// Python resilience library sluice follows here), with the breaker and the deadline inside each
// attempt:
//   cache -> rate limit -> retry -> (each attempt) circuit breaker -> timeout -> the call
// A cache hit makes no call and takes no token; each attempt of a retry takes its own turn
// through the breaker and its own deadline.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/cache.hpp>
#include <sluice/circuit_breaker.hpp>
#include <sluice/detail/cache_slot.hpp>
#include <sluice/detail/deadline.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/errors.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/retry.hpp>

namespace sluice::detail {

// The resilience options of one task, as one run uses them.
struct task_resilience {
  std::optional<retry_policy> retry{};
  std::optional<rate_limit> rate{};
  std::shared_ptr<cache_slot> cache{};  // shared by the copies of the pipeline object
  std::chrono::milliseconds timeout{0};
  std::optional<circuit_breaker> breaker{};

  bool any() const noexcept { return retry || rate || cache || timeout.count() > 0 || breaker; }
};

template <class In, class Result>
concept cacheable = std::is_invocable_v < absl::Hash<In>,
const In& > &&std::equality_comparable<In>&& std::is_copy_constructible_v<In>&&
                std::is_copy_constructible_v<Result>;

// One task's calls under its resilience options. `Fn` is called as fn(input) with the input as
// an lvalue (an attempt may be repeated), plus a trailing std::stop_token when it takes one.
template <class Fn, class In, class Result>
class task_guard {
 public:
  task_guard(const task_resilience& options, std::string who)
      : options_(options), who_(std::move(who)) {
    if (!options_.cache) return;
    if constexpr (cacheable<In, Result>) {
      store_ = &options_.cache->template store<In, Result>(who_);
    } else {
      throw std::invalid_argument("sluice: " + who_ +
                                  " has a cache, but its input type cannot be a cache key (it "
                                  "needs absl::Hash, == and a copy) or its result cannot be "
                                  "copied out of the cache");
    }
  }

  // One item's call. Every failed attempt's exception is appended to `failed`, oldest first.
  // Exceptions: when its attempts fail, the last attempt's own exception (failed.back()), also
  // after a retry: the task adds no sluice::all_failed wrapper.
  Result call(const Fn& fn, In& input, const std::stop_source& run_stop,
              std::vector<std::exception_ptr>& failed) const {
    if constexpr (cacheable<In, Result>) {
      if (store_ != nullptr) {
        return store_->get_or_compute(input, [&] { return limited(fn, input, run_stop, failed); });
      }
    }
    return limited(fn, input, run_stop, failed);
  }

 private:
  Result limited(const Fn& fn, In& input, const std::stop_source& run_stop,
                 std::vector<std::exception_ptr>& failed) const {
    if (options_.rate && !acquire(*options_.rate, run_stop.get_token())) {
      throw_rate_limit_cancelled();  // the run is stopping: nobody sees this error
    }
    if (options_.retry) {
      // A task's retry that runs out throws the last attempt's own exception: it becomes
      // failure::error (== failure::attempts.back()), or the run's error without on_error.
      return run_with_retry(
          *options_.retry, run_stop.get_token(), [&] { return attempt(fn, input, run_stop); },
          &failed, give_up_with::last_error);
    }
    try {
      return attempt(fn, input, run_stop);
    } catch (...) {
      failed.push_back(std::current_exception());
      throw;
    }
  }

  Result attempt(const Fn& fn, In& input, const std::stop_source& run_stop) const {
    if (!options_.breaker) return timed(fn, input, run_stop);
    options_.breaker->acquire(who_);
    try {
      Result result = timed(fn, input, run_stop);
      options_.breaker->on_success();
      return result;
    } catch (...) {
      options_.breaker->on_failure(std::current_exception());
      throw;
    }
  }

  Result timed(const Fn& fn, In& input, const std::stop_source& run_stop) const {
    if (options_.timeout.count() <= 0) return detail::call(fn, run_stop, input);
    std::stop_source attempt_stop;
    const std::stop_callback link(run_stop.get_token(), [&] { attempt_stop.request_stop(); });
    const deadline_guard deadline(attempt_stop, options_.timeout);
    try {
      Result result = detail::call(fn, attempt_stop, input);
      if (deadline.expired()) throw_late();
      return result;
    } catch (const timeout_error&) {
      throw;
    } catch (...) {
      if (deadline.expired()) throw_late();  // it gave up because it was asked to stop
      throw;
    }
  }

  [[noreturn]] void throw_late() const {
    throw timeout_error("sluice: " + who_ + ": an attempt ran past its timeout of " +
                        std::to_string(options_.timeout.count()) + " ms");
  }

  const task_resilience& options_;
  std::string who_;
  std::conditional_t<cacheable<In, Result>, cache_store<In, Result>*, void*> store_ = nullptr;
};

}  // namespace sluice::detail
