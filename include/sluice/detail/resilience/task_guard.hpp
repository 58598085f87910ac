// Internal: a task's resilience options as one run uses them, and the guard that puts them
// around each item's call (guard.hpp composes them, in the order given there).
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
#include <sluice/detail/resilience/cache_slot.hpp>
#include <sluice/detail/resilience/guard.hpp>
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
    guard_.rate = options_.rate ? &*options_.rate : nullptr;
    guard_.retry = options_.retry ? &*options_.retry : nullptr;
    guard_.breaker = options_.breaker ? &*options_.breaker : nullptr;
    guard_.timeout = options_.timeout;
    // A task's retry that runs out throws the last attempt's own exception: it becomes
    // failure::error (== failure::attempts.back()), or the run's error without on_error.
    guard_.give_up = give_up_with::last_error;
    guard_.who = who_;
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
  task_guard(const task_guard&) = delete;
  task_guard& operator=(const task_guard&) = delete;

  // One item's call. Every failed attempt's exception is appended to `failed`, oldest first.
  // Exceptions: when its attempts fail, the last attempt's own exception (failed.back()), also
  // after a retry: the task adds no sluice::all_failed wrapper.
  Result call(const Fn& fn, In& input, const std::stop_source& run_stop,
              std::vector<std::exception_ptr>& failed) const {
    auto attempt = [&](const auto& stop) -> Result { return detail::call(fn, stop, input); };
    auto cached = [&](auto&& compute) -> Result {
      if constexpr (cacheable<In, Result>) {
        if (store_ != nullptr) return store_->get_or_compute(input, compute);
      }
      return compute();
    };
    return guarded_call<Result>(guard_, run_stop, cached, attempt, &failed);
  }

 private:
  const task_resilience& options_;
  std::string who_;
  guard_options guard_;  // points into options_ and who_
  std::conditional_t<cacheable<In, Result>, cache_store<In, Result>*, void*> store_ = nullptr;
};

}  // namespace sluice::detail
