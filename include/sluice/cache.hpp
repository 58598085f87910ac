// This header defines sluice::cached, which remembers what a call returned for its arguments,
// with a sluice::cache_policy (cache_policy.hpp, also a task's `cache` option): a memory cache
// with LRU eviction and an optional ttl, or a persistent cache on disk that survives restarts.
//
// Example:
//   auto fast = sluice::cached(expensive, {.ttl = 1h, .max_entries = 10'000});
//   auto kept = sluice::cached(expensive, {.directory = "/var/cache/myapp/expensive"});
//   fast(3);  // calls expensive(3)
//   fast(3);  // returns a copy of what it returned
//
// Internal entry point: detail::cache_store<Key, Value> is the whole cache, a typed front of
// detail::cache_core (compiled once, in lib/cache_core.cpp); sluice::cached is a thin wrapper
// that keys it by the call's arguments, and a pipeline task with a `cache` option keys one by the
// task's input, or by what its cache_key projection takes from the input (Key = the decayed input
// or projection result, Value = the task's output; see detail/resilience/cache_slot.hpp). A
// pipeline calls detail::check_cache_policy(policy, who) when it is built, and keeps one
// cache_store per task for as long as the pipeline object lives.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <absl/functional/function_ref.h>
#include <absl/hash/hash.h>

#include <sluice/cache_policy.hpp>
#include <sluice/codec.hpp>
#include <sluice/detail/resilience/cache_core.hpp>
#include <sluice/detail/resilience/stop_token_arg.hpp>

namespace sluice {
namespace detail {

// Throws std::invalid_argument: a directory is set, but `which` ("key", "value", "cache key (the
// result of its cache_key projection)") of `who` has no sluice::codec.
[[noreturn]] void throw_missing_codec(std::string_view which, std::string_view who);

// How cache_core compares, copies and encodes a Key and a Value (cache_core.hpp).
template <class Key, class Value>
struct typed_cache_ops {
  static const Key& key(const void* k) { return *static_cast<const Key*>(k); }
  static bool equal(const void* a, const void* b) { return static_cast<bool>(key(a) == key(b)); }
  static void* copy(const void* k) { return new Key(key(k)); }
  static void release(void* k) noexcept { delete static_cast<Key*>(k); }
  static std::string encode_key(const void* k) { return sluice::encode(key(k)); }
  static std::string encode_value(const void* v) {
    return sluice::encode(*static_cast<const Value*>(v));
  }
  static cached_value decode_value(std::string_view bytes) {
    return std::make_shared<const Value>(sluice::decode<Value>(bytes));
  }
  static void copy_value(const void* value, void* out) {
    static_cast<std::optional<Value>*>(out)->emplace(*static_cast<const Value*>(value));
  }
  static constexpr cache_type_ops make() {
    if constexpr (has_codec<Key> && has_codec<Value>) {
      return {&equal, &copy, &release, &encode_key, &encode_value, &decode_value, &copy_value};
    } else {
      return {&equal, &copy, &release, nullptr, nullptr, nullptr, &copy_value};
    }
  }
};
template <class Key, class Value>
inline constexpr cache_type_ops cache_ops_for = typed_cache_ops<Key, Value>::make();

// The store behind every cache: an LRU of at most max_entries entries in memory, in front of
// the policy's directory when it has one. The typed front of cache_core (cache_core.hpp), which
// keeps the entries; this class only tells it how to compare, copy and encode a Key and a Value.
//
// Thread safety: get_or_compute may be called from many threads at once. Concurrent callers of
// one missing key share one computation.
// Exceptions: the constructor throws std::invalid_argument for a bad policy, or for a directory
// when Key or Value has no sluice::codec (`key_role` names what the key is in that message);
// std::runtime_error when the directory cannot be created or written (sluice: <who> has
// cache_policy.directory "<path>", which cannot be used: <the reason, with the OS error>).
template <class Key, class Value>
class cache_store {
  static_assert(std::is_copy_constructible_v<Value>,
                "sluice: a cached result must be copyable: every hit returns a copy of it");
  static_assert(std::is_invocable_v<absl::Hash<Key>, const Key&> && std::equality_comparable<Key>,
                "sluice: cache keys (a cached call's arguments, a task's input or the result of "
                "its cache_key projection) must be hashable with absl::Hash (give your type an "
                "AbslHashValue) and comparable with ==");

 public:
  cache_store(const cache_policy& policy, std::string_view who, std::string_view key_role = "key")
      : core_(checked(policy, who, key_role), who, cache_ops_for<Key, Value>) {}

  // A copy of the value cached for `key`; on a miss, `compute()` (called outside any lock) gives
  // it. An exception from `compute` reaches this caller and every caller waiting for the same
  // key, and nothing is cached. A caller waiting for another caller's computation whose `stop`
  // is requested stops waiting and calls `compute()` itself, without caching its result.
  template <class Compute>
  Value get_or_compute(const Key& key, Compute&& compute, std::stop_token stop = {}) {
    auto computed = [&]() -> cached_value {
      return std::make_shared<const Value>(std::invoke(compute));
    };
    std::optional<Value> value;
    core_.get_or_compute({absl::Hash<Key>{}(key), &key}, computed, &value, std::move(stop));
    return std::move(*value);
  }

 private:
  static const cache_policy& checked(const cache_policy& policy, std::string_view who,
                                     std::string_view key_role) {
    check_cache_policy(policy, who);
    if (!policy.directory.empty()) {
      if constexpr (!has_codec<Key>) throw_missing_codec(key_role, who);
      if constexpr (!has_codec<Value>) throw_missing_codec("value", who);
    }
    return policy;
  }

  cache_core core_;
};

template <class... Ts>
struct argument_types {};

// The parameter types of a callable with one signature: a function (pointer), or a class with
// one non-template operator() (lambdas, std::function, function objects).
template <class F>
struct parameters_of {
  static constexpr bool known = false;
};
template <class R, class... A>
struct parameters_of<R(A...)> {
  static constexpr bool known = true;
  using type = argument_types<A...>;
};
template <class R, class... A>
struct parameters_of<R(A...) noexcept> : parameters_of<R(A...)> {};
template <class R, class... A>
struct parameters_of<R (*)(A...)> : parameters_of<R(A...)> {};
template <class R, class... A>
struct parameters_of<R (*)(A...) noexcept> : parameters_of<R(A...)> {};
template <class M>
struct member_parameters {
  static constexpr bool known = false;
};
template <class R, class C, class... A>
struct member_parameters<R (C::*)(A...)> : parameters_of<R(A...)> {};
template <class R, class C, class... A>
struct member_parameters<R (C::*)(A...) const> : parameters_of<R(A...)> {};
template <class R, class C, class... A>
struct member_parameters<R (C::*)(A...) noexcept> : parameters_of<R(A...)> {};
template <class R, class C, class... A>
struct member_parameters<R (C::*)(A...) const noexcept> : parameters_of<R(A...)> {};
template <class F>
requires std::is_class_v<F> && requires { &F::operator(); }
struct parameters_of<F> : member_parameters<decltype(&F::operator())> {};

// A cached callable: what sluice::cached returns.
template <class F, class... Args>
class cached_fn {
  static constexpr std::size_t arity = sizeof...(Args);
  static constexpr bool stoppable = ends_with_stop_token<Args...>;
  static constexpr std::size_t key_arity = stoppable ? arity - 1 : arity;

  template <std::size_t... I>
  static auto key_type_of(std::index_sequence<I...>)
      -> std::tuple<std::decay_t<std::tuple_element_t<I, std::tuple<Args...>>>...>;

 public:
  using key_type = decltype(key_type_of(std::make_index_sequence<key_arity>{}));
  static_assert(std::is_invocable_v<F&, Args...>,
                "sluice: the callable given to sluice::cached cannot be called with the "
                "argument types named for it");
  using value_type = std::decay_t<std::invoke_result_t<F&, Args...>>;
  static_assert(!std::is_void_v<value_type>,
                "sluice: sluice::cached needs a callable that returns a value to remember");

  cached_fn(F f, cache_policy policy) : state_(std::make_shared<state>(std::move(f), policy)) {}

  value_type operator()(Args... args) const {
    state& s = *state_;
    auto call = [&]() -> value_type { return std::invoke(s.f, std::forward<Args>(args)...); };
    auto all = std::forward_as_tuple(args...);
    return s.store.get_or_compute(make_key(all, std::make_index_sequence<key_arity>{}), call,
                                  stop_token_of(args...));
  }

 private:
  struct state {
    state(F fn, cache_policy policy)
        : f(std::move(fn)), store(std::move(policy), "sluice::cached") {}
    F f;
    cache_store<key_type, value_type> store;
  };

  template <class Tuple, std::size_t... I>
  static key_type make_key(const Tuple& all, std::index_sequence<I...>) {
    return key_type{std::get<I>(all)...};
  }

  std::shared_ptr<state> state_;
};

template <class F, class... A>
cached_fn<F, A...> make_cached(F f, cache_policy policy, argument_types<A...>) {
  return cached_fn<F, A...>(std::move(f), std::move(policy));
}

}  // namespace detail

// Wraps `f` so that a call with arguments it has seen returns a copy of what `f` returned then,
// without calling `f`. Keys are the arguments (a trailing std::stop_token excluded), as a
// std::tuple of their decayed types: hashable with absl::Hash, and with a sluice::codec for a
// directory. The argument types are deduced from a function or a class with one non-template
// operator(); for a generic lambda, name them: `sluice::cached<int, std::string>(f, policy)`.
//
// Example:
//   auto fast = sluice::cached(geocode, {.ttl = 1h});
//   auto any  = sluice::cached<int, std::string>([](auto id, auto name) { ... }, {});
// Thread safety: the returned callable may be called from many threads at once; concurrent
// calls with the same missing key call `f` once and all return its result (no stampede). Copies
// share one cache.
// Exceptions: an exception from `f` reaches every caller waiting for that call and is never
// cached. Construction throws std::invalid_argument for a bad policy, or for a directory when the
// arguments or the result have no sluice::codec; std::runtime_error for a directory that cannot
// be created or written (sluice: sluice::cached has cache_policy.directory "<path>", which
// cannot be used: <the reason, with the OS error>). A disk entry that cannot be written is kept
// in memory only; one that is unreadable, corrupt or expired is a miss, and replaced.
// Cancellation: a trailing std::stop_token argument is passed on to `f`; when it is stopped, a
// call waiting for another call's result of the same key stops waiting and calls `f` itself.
// Lifetime: `f` is stored in the returned callable; `policy.clock` must outlive it.
template <class... Args, class F>
auto cached(F f, cache_policy policy) {
  if constexpr (sizeof...(Args) > 0) {
    return detail::cached_fn<F, Args...>(std::move(f), std::move(policy));
  } else {
    static_assert(detail::parameters_of<F>::known,
                  "sluice: cannot deduce the arguments of this callable (a generic lambda, or an "
                  "overloaded operator()); name them: sluice::cached<int, std::string>(f, policy)");
    if constexpr (detail::parameters_of<F>::known) {
      return detail::make_cached(std::move(f), std::move(policy),
                                 typename detail::parameters_of<F>::type{});
    }
  }
}

}  // namespace sluice
