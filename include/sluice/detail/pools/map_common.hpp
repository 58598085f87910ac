// Internal: what every parallel map shares (pmap, opmap, thread_pool, process_pool) — how a call
// is configured, how f is called on an element and what it returns, what an element travels
// as, and the progress bar. parallel_map.hpp walks an input in threads, process_map.hpp in
// worker processes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ranges>
#include <stop_token>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <sluice/codec.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/progress.hpp>

namespace sluice::detail {

struct pool_state;  // a thread_pool's slots (parallel_map.hpp)

// Throws std::invalid_argument naming `who` ("pmap", "thread_pool") when `workers` exceeds
// sluice::max_concurrency (lib/options.cpp).
void check_workers(std::size_t workers, std::string_view who);

// `workers`, or the core count for 0. Exceptions: as check_workers.
inline std::size_t workers_or_default(std::size_t workers, std::string_view who) {
  check_workers(workers, who);
  if (workers != 0) return workers;
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

enum class map_errors {
  original,      // pmap: the first exception, unchanged
  worker_error,  // thread_pool: wrapped in sluice::worker_error (position, input text)
};

struct map_config {
  const char* where = "sluice::pmap";  // names the call in errors, stats and failures
  std::size_t workers = 1;
  bool ordered = true;
  bool progress = false;
  map_errors errors = map_errors::original;
  std::shared_ptr<pool_state> pool{};  // a thread_pool's, or none
  bool borrowed = false;  // called inside a call of f of `pool`: runs in the caller's slot
  bool in_processes = false;  // opmap: f runs in worker processes (docs/processes.md)
  // Once stopped, no new element starts; the call returns the outputs of the elements started,
  // a prefix of the input (pmap_options::drain).
  std::stop_token drain{};
};

// ---- calling f --------------------------------------------------------------------------------

// The element of Range as f gets it: moved out of an rvalue range, else as the range yields it.
template <class Range>
using element_arg_t = std::conditional_t<std::is_lvalue_reference_v<Range>,
                                         std::ranges::range_reference_t<std::remove_reference_t<Range>>,
                                         std::ranges::range_rvalue_reference_t<Range>>;

// What f returns for an element passed as X (void when f returns void); f is called through
// detail::call, as a task's callable is: f(x), or f(x, stop_token) when it takes one.
template <class F, class X>
using map_result_t = std::remove_cvref_t<call_result_t<F, X>>;

template <class F, class X>
constexpr void check_map_callable() {
  static_assert(callable_with<F, X>,
                "sluice: pmap / opmap / thread_pool: f cannot be called with an element of the "
                "range; it is called as a const callable (from several threads at once) as "
                "f(element) or f(element, std::stop_token)");
}

// What an item's output stands for when f returns void.
struct no_value {};

}  // namespace sluice::detail

// Nothing to send back from a worker process for an f that returns void.
template <>
struct sluice::codec<sluice::detail::no_value> {
  static void encode(const detail::no_value&, writer&) noexcept {}
  static detail::no_value decode(reader&) noexcept { return {}; }
};

namespace sluice::detail {

// Whether elements of type V and f's results R can cross to worker processes and back.
template <class V, class R>
inline constexpr bool crosses_processes = has_codec<V> && (std::is_void_v<R> || has_codec<R>);

// pmap's and opmap's mode is a value, so a type without a codec shows when the call is made:
// throws std::invalid_argument naming the call and both types.
[[noreturn]] void reject_process_mode(std::string_view where, const std::type_info& element,
                                      const std::type_info& result);

// A progress bar when the call asked for one.
class map_progress {
 public:
  map_progress(bool wanted, std::optional<std::uint64_t> total) {
    if (wanted) bar_.emplace(progress_options{.total = total});
  }
  void advance(std::uint64_t count) noexcept {
    if (bar_) bar_->advance(count);
  }

 private:
  std::optional<progress_bar> bar_;
};

template <class Range>
std::optional<std::uint64_t> size_if_known(Range& items) {
  if constexpr (std::ranges::sized_range<Range>) {
    return static_cast<std::uint64_t>(std::ranges::size(items));
  } else {
    return std::nullopt;
  }
}

// What an element travels through a queue as: itself, or for a map's std::pair<const K, V> a
// std::pair<K, V> (a queue slot must be assignable); f taking the pair by const reference still
// binds to it.
template <class V>
struct queued {
  using type = V;
};
template <class K, class T>
struct queued<std::pair<const K, T>> {
  using type = std::pair<K, T>;
};
template <class V>
using queued_t = typename queued<V>::type;


}  // namespace sluice::detail
