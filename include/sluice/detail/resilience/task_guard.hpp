// Internal: a task's resilience options as one run uses them, and the guard that puts them
// around each item's call (guard.hpp composes them, in the order given there). A task's cache is
// keyed by its input, or by what its cache_key projection takes from the input: the task's
// stage makes the typed cache when it builds a run (prepare_task_cache), and the guard, which
// knows the input and result types but not the projection, finds it there.
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

// Whether a task's cache can key items of type In by `Proj` and hand out copies of its results.
template <class In, class Result, class Proj>
concept keyable = std::is_invocable_v<const Proj&, const In&> &&
                  cache_key_type<cache_key_t<Proj, In>> && std::is_copy_constructible_v<Result>;

// Throws std::invalid_argument naming the task (`who`) when its cache cannot key items of type
// In by `Proj`: only a task without a cache_key can get here (whole_item on an input without
// absl::Hash, == or a copy), since a cache_key projection is checked when the pipeline is
// instantiated.
template <class In, class Result, class Proj>
void check_task_cache(const std::string& who) {
  if constexpr (!keyable<In, Result, Proj>) {
    throw std::invalid_argument("sluice: " + who +
                                " has a cache, but its input type cannot be a cache key (it "
                                "needs absl::Hash, == and a copy) or its result cannot be "
                                "copied out of the cache; give the task a cache_key that takes "
                                "a key from the input: sluice::task(f, options).cache_key(&T::id)");
  }
}

// Makes the task's cache in `slot` for items of type In, keyed by std::invoke(proj, item),
// unless a run made it before. Called when a run of the task is built, before its guard looks
// the cache up (made_items()). Throws as check_task_cache and cache_store's constructor.
template <class In, class Result, class Proj>
void prepare_task_cache(cache_slot& slot, const Proj& proj, const std::string& who) {
  check_task_cache<In, Result, Proj>(who);
  if constexpr (keyable<In, Result, Proj>) {
    constexpr bool projected = !std::is_same_v<Proj, whole_item>;
    slot.template items<In, Result>(who, [&] {
      return std::make_shared<keyed_cache<In, Result, Proj>>(
          proj, slot.policy(), who,
          projected ? "cache key (the result of its cache_key projection)"
                    : "cache key (its input)");
    });
  }
}

// Throws std::invalid_argument: the task `who` has a cache_key but no cache (lib/options.cpp).
[[noreturn]] void reject_cache_key_without_cache(const std::string& who);
// Throws std::logic_error: the task `who`'s cache was not made for its input type before its run
// started (lib/options.cpp).
[[noreturn]] void reject_unmade_cache(const std::string& who);

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
    cache_ = options_.cache->template made_items<In, Result>(who_);
    if (cache_ == nullptr) reject_unmade_cache(who_);
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
      if (cache_ != nullptr) return cache_->get_or_compute(input, compute);
      return compute();
    };
    return guarded_call<Result>(guard_, run_stop, cached, attempt, &failed);
  }

 private:
  const task_resilience& options_;
  std::string who_;
  guard_options guard_;                      // points into options_ and who_
  item_cache<In, Result>* cache_ = nullptr;  // the task's, in options_.cache; keeps the key
};

}  // namespace sluice::detail
