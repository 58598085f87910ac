// Internal: a cache whose key and value types are known only when it is first used: a task's
// cache (made when the task is, typed when a run builds it) and sluice::resilient's (typed by
// the first call).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

#include <sluice/cache.hpp>

namespace sluice::detail {

// Holds one cache_store<Key, Value>, made on first use from `policy`.
//
// Thread safety: store() may be called from many threads at once; after the first call it
// costs one atomic load and a type comparison.
class cache_slot {
 public:
  explicit cache_slot(cache_policy policy) : policy_(std::move(policy)) {}

  // The store; `who` names its user in errors. Throws std::invalid_argument when the slot was
  // first used with other types (one cache holds one key type).
  template <class Key, class Value>
  cache_store<Key, Value>& store(std::string_view who) {
    using typed = cache_store<Key, Value>;
    if (const std::type_info* type = type_.load(std::memory_order_acquire); type != nullptr) {
      if (*type == typeid(typed)) return *static_cast<typed*>(store_.get());
      mismatch(who);
    }
    std::lock_guard lock(mu_);
    if (type_.load(std::memory_order_relaxed) == nullptr) {
      store_ = std::make_shared<typed>(policy_, who);
      type_.store(&typeid(typed), std::memory_order_release);  // publishes store_
    } else if (*type_.load(std::memory_order_relaxed) != typeid(typed)) {
      mismatch(who);
    }
    return *static_cast<typed*>(store_.get());
  }

 private:
  [[noreturn]] static void mismatch(std::string_view who) {
    throw std::invalid_argument("sluice: " + std::string(who) +
                                " has a cache and was called with other argument types than "
                                "before; one cache holds one key type");
  }

  std::mutex mu_;  // serialises the first use
  cache_policy policy_;
  std::shared_ptr<void> store_;  // written once, before type_ is published
  std::atomic<const std::type_info*> type_{nullptr};
};

}  // namespace sluice::detail
