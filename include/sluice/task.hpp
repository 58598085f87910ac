// This header defines sluice::task, the options of a task, and the flags that change what a
// task's callable receives or returns.
//
// Example:
//   auto p = sluice::task(read_rows, sluice::branch)            // each row flows on alone
//          | sluice::task(parse, {.concurrency = 8, .ordered = true})
//          | sluice::task(running_total, sluice::join);          // pulls the whole upstream
//
// A task's callable may be a function, a lambda (generic ones too), a function object, a
// std::function, or a pipeline (run once per item: without sluice::branch it passes on a
// std::vector of the inner run's outputs, with sluice::branch they flow on one by one). It is
// called from several worker threads at once when concurrency > 1, so it must be callable as
// const. A callable that takes a trailing std::stop_token gets one that is stopped when the run
// is cancelled or fails.
//
// A task's `cache` option keys its cache by the whole input item. `.cache_key(proj)` returns the
// same task with its cache keyed by std::invoke(proj, item) instead: items with the same key
// share one result, computed once (concurrent misses of a key wait for one call), so use it when
// the callable's result depends on the key alone.
//
//   auto enrich = sluice::task(lookup_customer, {.concurrency = 16,
//                                                .cache = sluice::cache_policy{.ttl = 1h}})
//                     .cache_key(&Order::customer);  // a member pointer or any callable
//
// `proj` is called as const, from several workers at once, once per item. Checked when the
// pipeline is instantiated (p(args...)), each a static_assert naming the task's position: the
// projection is callable with the task's input (as const In&), its result (decayed: the key) is
// hashable with absl::Hash, comparable with == and copyable, and the task's result is copyable.
// A cache on disk (cache_policy::directory) needs a sluice::codec for the key, not for the item.
// When the pipeline is called, a task with a cache_key but no `cache` option throws
// std::invalid_argument naming it. Without a cache_key, an input that cannot be a key is found
// then too (the cache is an option): std::invalid_argument naming the task.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/cache.hpp>
#include <sluice/circuit_breaker.hpp>
#include <sluice/codec.hpp>
#include <sluice/detail/engine/chain.hpp>
#include <sluice/detail/engine/diagnostics.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/engine/stage.hpp>
#include <sluice/detail/engine/task_runtime.hpp>
#include <sluice/detail/process/process_calls.hpp>
#include <sluice/detail/resilience/cache_key_checks.hpp>
#include <sluice/detail/resilience/cache_slot.hpp>
#include <sluice/detail/resilience/task_guard.hpp>
#include <sluice/errors.hpp>
#include <sluice/pipeline.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/retry.hpp>
#include <sluice/stream.hpp>

namespace sluice {

// The bound of a task's output queue when task_options::capacity is 0. There is no unbounded
// mode. See docs/architecture.md for how far a producer can get ahead of its sink.
inline constexpr std::size_t default_capacity = 1024;

// The most calls of one task (or workers of a pool or parallel map) in flight at once. Each call
// that may block holds a thread of its own, so a task of concurrency n may make up to n threads,
// but only for items that wait: a worker starts for an item only while none is idle. A larger
// value is rejected with std::invalid_argument naming the task.
inline constexpr std::size_t max_concurrency = 10'000;

// The largest bound of a task's output queue: a larger task_options::capacity (SIZE_MAX, say,
// for "as large as it gets") is clamped to it, not rejected. No run can hold 2^40 items in
// memory, so the clamp changes nothing a run can show, while every count of a queue's free room
// stays far from the limit of the signed 64-bit counter it is kept in. Whatever the bound, a
// queue's storage (and an ordered task's window) is allocated as items arrive, not up front.
inline constexpr std::size_t max_capacity = std::size_t{1} << 40;

// Compile-time flags: they change the types a task takes or gives, so they are tags, combined
// with `|`.
template <unsigned Bits>
struct task_flags {
  static constexpr unsigned bits = Bits;
  template <unsigned Other>
  friend constexpr task_flags<Bits | Other> operator|(task_flags, task_flags<Other>) noexcept {
    return {};
  }
};

// The callable returns a range (a std::vector, a sluice::generator, any input range); each
// element flows on as its own item.
inline constexpr task_flags<1> branch{};
// The callable receives the whole upstream as sluice::stream<In>& and pulls from it; with
// concurrency > 1 the workers share the upstream.
inline constexpr task_flags<2> join{};
// The callable runs in worker processes, forked from this one, one call per item: a crash or a
// timeout kills one worker and fails one item (docs/processes.md). The input and the result
// cross by sluice::codec. Not for a producer or a sluice::join task.
inline constexpr task_flags<4> process{};

// A task's runtime options, used with designated initializers:
//   sluice::task(fetch, {.name = "fetch", .concurrency = 20, .on_error = sluice::skip})
struct task_options {
  std::string name{};           // "" -> "task#<position>"; shown in errors and stats
  std::size_t concurrency = 1;  // calls of the callable in flight at once; 1..max_concurrency
  std::size_t capacity = 0;     // bound of this task's output queue; 0 -> default_capacity,
                                // above max_capacity -> max_capacity
  bool ordered = false;         // emit outputs in input order even when concurrency > 1
  // Resilience, around each item's call in this order: cache, rate, retry, and in each attempt
  // breaker, then timeout (docs/resilience.md).
  // Attempts per item. When they run out, the item fails with its last attempt's own exception
  // (its type unchanged, no sluice::all_failed): that is failure::error, and failure::attempts
  // lists every attempt; without on_error it is the exception the run rethrows.
  std::optional<retry_policy> retry{};
  std::optional<rate_limit> rate{};          // a token per call (a cache hit takes none); copies
                                             // of a rate_limit share its bucket
  std::optional<cache_policy> cache{};       // keyed by the input, or by the task's cache_key
                                             // projection of it (see the header comment); lives
                                             // as long as the pipeline object, so a second run
                                             // hits it. A directory that cannot be used throws
                                             // std::runtime_error naming the task when the
                                             // pipeline is called
  std::chrono::milliseconds timeout{0};      // per attempt; 0 -> none. A callable that takes a
                                             // trailing std::stop_token is asked to stop at the
                                             // deadline; the attempt fails with timeout_error.
                                             // Too long for the clock (milliseconds::max()):
                                             // the deadline saturates and never passes
  std::optional<circuit_breaker> breaker{};  // shared with every copy of the breaker
  std::function<void(const failure&)> on_error{};  // empty -> the first error stops the run
};

namespace detail {

template <class Pipeline>
struct collect_runs;

// The pipeline a task's callable runs per item when it is one (itself, a runnable's, or the one
// collect_runs wraps); nullptr for any other callable.
template <class Fn>
std::nullptr_t nested_pipeline(const Fn&) noexcept {
  return nullptr;
}
template <class... S>
const pipeline<S...>* nested_pipeline(const pipeline<S...>& p) noexcept {
  return &p;
}
template <class P, class Sink>
auto nested_pipeline(const runnable<P, Sink>& r) noexcept {
  return nested_pipeline(r.source());
}
template <class P>
auto nested_pipeline(const collect_runs<P>& c) noexcept {
  return nested_pipeline(c.inner);
}

// A task's options as the copies of its stage share them, with the task's cache when it has one
// (shared by the copies of the pipeline object and so by all their runs). Made and copied in the
// library (lib/options.cpp): a user's translation unit does not compile task_options' copies.
struct task_settings {
  task_options options;
  std::shared_ptr<cache_slot> cache;  // when options.cache
};

// Keeps `options` for a task's stage, with a new cache when the options ask for one.
std::shared_ptr<const task_settings> keep_task_options(task_options&& options);
// The same options with a new cache of their own (for a task given a cache_key).
std::shared_ptr<const task_settings> with_own_cache(const task_settings& settings);

// Builds a task_config for the task at `position`, throwing std::invalid_argument naming the
// task when an option is out of range.
task_config resolve_task(std::size_t position, const task_settings& settings, bool producer,
                         bool join);

// task_options::capacity as a run uses it.
constexpr std::size_t resolved_capacity(std::size_t capacity) noexcept {
  return capacity == 0 ? default_capacity : std::min(capacity, max_capacity);
}

// A task as a stage of a pipeline. Its cache, when it has one, is keyed by std::invoke(key, item):
// the whole item unless the task has a cache_key.
template <class Fn, unsigned Bits, class Proj = whole_item>
struct task_stage {
  Fn fn;
  std::shared_ptr<const task_settings> settings;  // never null
  Proj key;

  static constexpr std::size_t positions = 1;
  static constexpr bool can_produce = true;
  static constexpr bool is_branch = (Bits & branch.bits) != 0;
  static constexpr bool is_join = (Bits & join.bits) != 0;
  static constexpr bool is_process = (Bits & process.bits) != 0;
  static constexpr bool one_to_one = !is_branch && !is_join;  // what zip branches need
  static constexpr bool has_cache_key = !std::is_same_v<Proj, whole_item>;

  // The same task with its cache keyed by std::invoke(proj, item), and a cache of its own.
  template <class P>
  task_stage<Fn, Bits, P> with_cache_key(P proj) const {
    return {fn, with_own_cache(*settings), std::move(proj)};
  }

  // What the callable returns for input In (through a stream for a join). Only the form the
  // flags ask for is instantiated.
  template <class In, bool Join = is_join>
  struct call_of {
    using type = call_result_t<Fn, In&&>;
  };
  template <class In>
  struct call_of<In, true> {
    using type = call_result_t<Fn, stream<In>&>;
  };
  template <class In>
  using call_t = typename call_of<In>::type;

  // The item type after a call that returned R, checking the branch and void rules.
  template <class R, std::size_t Pos>
  struct result_typing {
    static constexpr bool callable = !std::is_same_v<R, invalid>;
    static constexpr bool not_void = check_not_void < Pos, !callable || !std::is_void_v < R >> ();
    static constexpr bool ranged = check_branch_range < Pos,
                          !is_branch || !callable || std::is_void_v<R> ||
                              !std::is_same_v < element_t<R>,
                          invalid >> ();
    using item = std::conditional_t<is_branch, element_t<R>, std::remove_cvref_t<R>>;
    using type = std::conditional_t<callable && not_void && ranged, item, invalid>;
  };

  // A process task needs a codec for its input and its result, and a call per item.
  template <class In, std::size_t Pos, bool UpstreamOk>
  static constexpr bool process_checks() {
    if constexpr (!is_process || !UpstreamOk) {
      return true;
    } else if constexpr (!check_process_per_item<Pos, !is_join>()) {
      return false;
    } else if constexpr (!check_process_input_codec<Pos, In, has_codec<In>>()) {
      return false;
    } else {
      using R = std::remove_cvref_t<call_t<In>>;
      return std::is_same_v<R, invalid> || check_process_result_codec<Pos, R, has_codec<R>>();
    }
  }

  // A task with a cache_key: the projection takes the input, its result can be a key, and the
  // callable's result can be copied out of the cache. Checked only for a task that takes its
  // input (`Checked`), so that one mistake gives one error. A join is not called per item, and
  // is rejected at run time when it has a cache.
  template <class In, std::size_t Pos, bool Checked>
  static constexpr bool cache_key_checks() {
    if constexpr (!has_cache_key || is_join || !Checked) {
      return true;
    } else if constexpr (!check_cache_key_callable<Pos,
                                                   std::is_invocable_v<const Proj&, const In&>>()) {
      return false;
    } else if constexpr (!check_cache_key_hashable<Pos, cache_key_t<Proj, In>,
                                                   cache_key_type<cache_key_t<Proj, In>>>()) {
      return false;
    } else {
      using R = std::remove_cvref_t<call_t<In>>;
      return std::is_void_v<R> ||
             check_cached_result_copyable<Pos, R, std::is_copy_constructible_v<R>>();
    }
  }

  template <class In, std::size_t Pos>
  struct typing {
    static constexpr bool upstream_ok = !std::is_same_v<In, invalid>;
    static constexpr bool local = process_checks<In, Pos, upstream_ok>();
    using called = std::conditional_t<upstream_ok, call_t<In>, invalid>;
    static constexpr bool takes = !upstream_ok || !std::is_same_v<called, invalid>;
    // Only the check of this task's kind is instantiated (a ?: would instantiate both, and a
    // plain task that cannot take its input would also be told it is marked sluice::join).
    static constexpr bool accepted = [] {
      if constexpr (is_join) {
        return check_join_signature<Pos, takes>();
      } else {
        return check_accepts_input<Pos, takes>();
      }
    }();
    static constexpr bool key_checked = upstream_ok && local && accepted && takes;
    static constexpr bool keyed = cache_key_checks<In, Pos, key_checked>();
    using type = std::conditional_t<upstream_ok && local && accepted && keyed,
                                    typename result_typing<called, Pos>::type, invalid>;
  };

  // A join producer has no upstream, so it has no output type: the run is rejected at run
  // time with std::invalid_argument, see validate_producer().
  template <class... Args>
  struct producer_typing {
    using called = std::conditional_t<is_join, invalid, call_result_t<Fn, Args&&...>>;
    static constexpr bool local = check_process_per_item<1, !is_process>();
    static constexpr bool callable = check_producer_args < 1, is_join || !std::is_same_v < called,
                          invalid >> ();
    using type = std::conditional_t<local && callable && !is_join,
                                    typename result_typing<called, 1>::type, invalid>;
  };

  // Throws std::invalid_argument when this task cannot be a producer.
  void validate_producer() const { (void)config(1, true, build_ctx_free{}); }

  // Throw std::invalid_argument when an option of this task, or of a pipeline it runs per item,
  // is out of range, as building it would (at Pos fed with In; as the producer called with
  // Args...); build nothing. For the stages of a nested pipeline (chain.hpp, validate_chain).
  template <class In, std::size_t Pos>
  void validate() const {
    const task_config c = config(Pos, false, build_ctx_free{});
    const task_options& options = settings->options;
    if (options.cache) check_cache_policy(*options.cache, c.who);
    if constexpr (!is_join) {
      if (options.cache) check_task_cache<In, std::remove_cvref_t<call_t<In>>, Proj>(c.who);
      if constexpr (!callable_with<Fn, In&>) {
        if (c.resilience.any()) reject_rvalue_resilience(c.who);
      }
      validate_nested<In>(Pos);
    }
  }
  template <class... Args>
  void validate_as_producer() const {
    (void)config(1, true, build_ctx_free{});  // throws for a join
    if constexpr (!is_join) validate_nested<Args...>(1);
  }

  // When the callable is a pipeline, validates it as called with Args...: its runs are built
  // per item, so an option out of range must show when the run of this task is built, and the
  // message names this task as well as the inner stage.
  template <class... Args>
  void validate_nested(std::size_t position) const {
    if constexpr (!std::is_null_pointer_v<decltype(nested_pipeline(fn))>) {
      try {
        nested_pipeline(fn)->template validate<Args...>();
      } catch (const std::invalid_argument& inner) {
        reject_nested(position, settings->options.name, inner);
      }
    }
  }

  std::size_t out_capacity() const noexcept {
    return resolved_capacity(settings->options.capacity);
  }

  struct build_ctx_free {
    bool in_zip = false;
  };
  template <class Ctx>
  task_config config(std::size_t position, bool producer, const Ctx& ctx) const {
    task_config c = resolve_task(position, *settings, producer, is_join);
    if constexpr (has_cache_key) {
      if (!settings->options.cache) reject_cache_key_without_cache(c.who);
    }
    c.in_zip = ctx.in_zip;
    return c;
  }

  template <class In, std::size_t Pos, class Out>
  port<In>& build(build_ctx& ctx, port<Out>& out, std::size_t in_capacity) const {
    task_config c = config(Pos, false, ctx);
    if constexpr (is_join) {
      return ctx.run
          .template make<join_runtime<Fn, In, Out, is_branch>>(ctx.run, fn, std::move(c),
                                                               in_capacity, out)
          .input();
    } else {
      validate_nested<In>(Pos);
      // Before the runtime, whose guard looks the cache up.
      if (settings->cache) {
        prepare_task_cache<In, std::remove_cvref_t<call_t<In>>>(*settings->cache, key, c.who);
      }
      using calls = std::conditional_t<is_process, process_calls<Fn, In>, thread_calls<Fn, In>>;
      return ctx.run
          .template make<task_runtime<Fn, In, Out, is_branch, calls>>(ctx.run, fn, std::move(c),
                                                                      in_capacity, out)
          .input();
    }
  }

  template <class Out, class... Args>
  void build_producer(build_ctx& ctx, port<Out>& out, std::tuple<Args...> args) const {
    task_config c = config(1, true, ctx);  // throws for a join or concurrency > 1
    if constexpr (!is_join) {
      validate_nested<Args...>(1);
      ctx.run.template make<producer_runtime<Fn, Out, is_branch, Args...>>(
          ctx.run, fn, std::move(c), out, std::move(args));
    }
  }
};

// A pipeline used as a task without sluice::branch: each item runs it once and passes on a
// std::vector of its outputs.
template <class Pipeline>
struct collect_runs {
  using is_sluice_pipeline = void;
  Pipeline inner;
  template <class... Args>
  auto operator()(Args&&... args) const {
    auto outputs = inner(std::forward<Args>(args)...);
    return detail::drain_to_vector(outputs);
  }
  // The inner run is cancelled when `stop` is (see detail::call).
  template <class... Args>
  auto call_linked(std::stop_token stop, Args&&... args) const {
    auto outputs = inner.call_linked(std::move(stop), std::forward<Args>(args)...);
    return detail::drain_to_vector(outputs);
  }
};

template <class Fn, unsigned Bits>
auto make_task(Fn&& fn, task_options&& options) {
  using F = std::decay_t<Fn>;
  if constexpr (is_pipeline_v<F> && (Bits & branch.bits) == 0) {
    using stage = task_stage<collect_runs<F>, Bits>;
    return pipeline<stage>(std::tuple<stage>(stage{collect_runs<F>{std::forward<Fn>(fn)},
                                                   keep_task_options(std::move(options)),
                                                   whole_item{}}));
  } else {
    using stage = task_stage<F, Bits>;
    return pipeline<stage>(std::tuple<stage>(
        stage{std::forward<Fn>(fn), keep_task_options(std::move(options)), whole_item{}}));
  }
}

}  // namespace detail

// A one-task pipeline; see the header comment.
template <class Fn>
auto task(Fn&& fn, task_options options = {}) {
  return detail::make_task<Fn, 0>(std::forward<Fn>(fn), std::move(options));
}
template <class Fn, unsigned Bits>
auto task(Fn&& fn, task_flags<Bits>, task_options options = {}) {
  return detail::make_task<Fn, Bits>(std::forward<Fn>(fn), std::move(options));
}

}  // namespace sluice
