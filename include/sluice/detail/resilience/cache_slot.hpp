// Internal: a cache whose key and value types are known only when it is first used: a task's
// cache (made when the task is, typed when a run builds it) and sluice::resilient's (typed by
// the first call); and item_cache, the face a task's cache shows its guard: the result for an
// item, under whatever key the task takes from the item.
#pragma once

#include <atomic>
#include <concepts>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <absl/functional/function_ref.h>
#include <absl/hash/hash.h>

#include <sluice/cache.hpp>

namespace sluice::detail {

// The key projection of a task without a cache_key: the whole item is the key.
struct whole_item {
  template <class T>
  const T& operator()(const T& item) const noexcept {
    return item;
  }
};

// The key a projection takes from an item of type In, as the cache keeps it.
template <class Proj, class In>
using cache_key_t = std::decay_t<std::invoke_result_t<const Proj&, const In&>>;

// What a cache_store needs of a key.
template <class Key>
concept cache_key_type = std::is_invocable_v<absl::Hash<Key>, const Key&> &&
                         std::equality_comparable<Key> && std::is_copy_constructible_v<Key>;

// A task's cache as its guard uses it, for items of type In and results of type Result.
//
// Thread safety: get_or_compute may be called from many threads at once (see cache_store).
template <class In, class Result>
class item_cache {
 public:
  virtual ~item_cache() = default;
  // A copy of the result cached under the item's key; on a miss, compute()'s, which is then
  // cached (cache_store::get_or_compute).
  virtual Result get_or_compute(const In& item, absl::FunctionRef<Result()> compute) = 0;
};

// An item_cache keyed by std::invoke(proj, item). `proj` is called as const, from many threads
// at once, once per call of get_or_compute.
template <class In, class Result, class Proj>
class keyed_cache final : public item_cache<In, Result> {
 public:
  using key_type = cache_key_t<Proj, In>;

  // Exceptions: as cache_store's constructor; `key_role` names the key in its messages.
  keyed_cache(Proj proj, cache_policy policy, std::string_view who, std::string_view key_role)
      : proj_(std::move(proj)), store_(std::move(policy), who, key_role) {}

  Result get_or_compute(const In& item, absl::FunctionRef<Result()> compute) override {
    return store_.get_or_compute(std::invoke(proj_, item), compute);
  }

 private:
  const Proj proj_;
  cache_store<key_type, Result> store_;
};

// Holds one cache (a cache_store<Key, Value>, or a task's item_cache<In, Result>), made on first
// use from `policy`.
//
// Thread safety: store() and items() may be called from many threads at once; after the first
// call they cost one atomic load and a type comparison.
class cache_slot {
 public:
  explicit cache_slot(cache_policy policy) : policy_(std::move(policy)) {}

  const cache_policy& policy() const noexcept { return policy_; }

  // The store; `who` names its user in errors. Throws std::invalid_argument when the slot was
  // first used with other types (one cache holds one key type).
  template <class Key, class Value>
  cache_store<Key, Value>& store(std::string_view who) {
    return held<cache_store<Key, Value>>(
        who, [&] { return std::make_shared<cache_store<Key, Value>>(policy_, who); });
  }

  // A task's cache for items of type In: made by make() (a std::shared_ptr to an
  // item_cache<In, Result>) on first use. Throws as store().
  template <class In, class Result, class Make>
  item_cache<In, Result>& items(std::string_view who, Make&& make) {
    return held<item_cache<In, Result>>(who, std::forward<Make>(make));
  }

  // The cache that items<In, Result>(who, make) made, or nullptr when none was made yet.
  // Throws as store() when the slot holds another type.
  template <class In, class Result>
  item_cache<In, Result>* made_items(std::string_view who) const {
    const std::type_info* type = type_.load(std::memory_order_acquire);
    if (type == nullptr) return nullptr;
    if (*type != typeid(item_cache<In, Result>)) mismatch(who);
    return static_cast<item_cache<In, Result>*>(store_.get());
  }

 private:
  template <class T, class Make>
  T& held(std::string_view who, Make&& make) {
    if (const std::type_info* type = type_.load(std::memory_order_acquire); type != nullptr) {
      if (*type == typeid(T)) return *static_cast<T*>(store_.get());
      mismatch(who);
    }
    std::lock_guard lock(mu_);
    if (type_.load(std::memory_order_relaxed) == nullptr) {
      std::shared_ptr<T> made = make();
      store_ = std::move(made);
      type_.store(&typeid(T), std::memory_order_release);  // publishes store_
    } else if (*type_.load(std::memory_order_relaxed) != typeid(T)) {
      mismatch(who);
    }
    return *static_cast<T*>(store_.get());
  }

  // Throws std::invalid_argument naming `who` (lib/cache_core.cpp).
  [[noreturn]] static void mismatch(std::string_view who);

  std::mutex mu_;  // serialises the first use
  cache_policy policy_;
  std::shared_ptr<void> store_;  // written once, before type_ is published
  std::atomic<const std::type_info*> type_{nullptr};
};

}  // namespace sluice::detail
