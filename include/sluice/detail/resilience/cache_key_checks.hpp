// Internal: the static_assert sentences for a task's cache_key projection, naming the task's
// position as the type checks of engine/diagnostics.hpp do. They are checked when the pipeline
// is instantiated (p(args...)), in task_stage's typing, each only when the ones before it pass,
// so a mistake gives one error: its sentence.
#pragma once

#include <cstddef>

#include <sluice/detail/engine/diagnostics.hpp>

namespace sluice::detail {

// Each function returns Ok, and fails to compile with a sentence naming task #Pos when !Ok.
template <std::size_t Pos, bool Ok>
constexpr bool check_cache_key_callable() {
#define SLUICE_DETAIL_CHECK(n)                                                                   \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                              \
                                "'s cache_key projection cannot be called with its input (as "   \
                                "const In&); give a pointer to a member of the input type or a " \
                                "callable that takes the input");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task's cache_key projection cannot be called with its input (as "
                "const In&)");
  return Ok;
}

// Key, in the template arguments the compiler prints with the error, is the key type.
template <std::size_t Pos, class Key, bool Ok>
constexpr bool check_cache_key_hashable() {
#define SLUICE_DETAIL_CHECK(n)                                                                   \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                              \
                                "'s cache key (the result of its cache_key projection) must be " \
                                "hashable with absl::Hash (give the type an AbslHashValue), "    \
                                "comparable with == and copyable");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task's cache key (the result of its cache_key projection) must be "
                "hashable with absl::Hash, comparable with == and copyable");
  return Ok;
}

// Result is the type the task's callable returns.
template <std::size_t Pos, class Result, bool Ok>
constexpr bool check_cached_result_copyable() {
#define SLUICE_DETAIL_CHECK(n)                                                             \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                        \
                                " has a cache_key, so its results are kept in its cache; " \
                                "the type its callable returns must be copyable: every "   \
                                "hit passes on a copy");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task has a cache_key, so the type its callable returns must be "
                "copyable");
  return Ok;
}

}  // namespace sluice::detail
