// Internal: how pmap, opmap, thread_pool and process_pool::imap walk an input on the pipeline
// engine.
//
//   sized random-access input:  producer of index chunks -> task(run a chunk, concurrency =
//                               workers) -> caller waits for the end; each output written in
//                               place. This pipeline knows f only through chunk_runner, so it
//                               is one type, built once in lib/parallel_map.cpp (run_chunks).
//   any other input:            producer of elements -> task(f, concurrency = workers, ordered)
//                               -> caller collects the outputs from the stream
//   in worker processes (opmap, process_pool::imap): as any other input, with the task marked
//                               sluice::process (each element crosses to a worker process and
//                               back by sluice::codec). pmap and process_pool::map do without
//                               the engine there (process_map.hpp).
//
// A chunk is an amount of positions to claim. Chunks shrink as the input runs out (guided
// scheduling: a chunk is 1/(8 × workers) of what is left, at least 1), so a long input costs a
// few hundred queue hops, not one per item, and the last chunks are small enough to balance.
// A worker claims a chunk's positions in blocks from one shared cursor, so the positions claimed
// are always a prefix of the input: a drain (map_config::drain) stops the claiming, the blocks
// claimed finish, and the output is that prefix.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <semaphore>
#include <stop_token>
#include <string_view>
#include <string>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/cache.hpp>
#include <sluice/circuit_breaker.hpp>
#include <sluice/codec.hpp>
#include <sluice/detail/failure.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/pools/map_common.hpp>
#include <sluice/errors.hpp>
#include <sluice/generator.hpp>
#include <sluice/progress.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/result.hpp>
#include <sluice/retry.hpp>
#include <sluice/sinks.hpp>
#include <sluice/stream.hpp>
#include <sluice/task.hpp>

namespace sluice::detail {

// A thread_pool's shared part: its size, and the slots every call of f made through it holds.
struct pool_state {
  explicit pool_state(std::size_t n) : workers(n), slots(static_cast<std::ptrdiff_t>(n)) {}
  const std::size_t workers;
  std::counting_semaphore<> slots;
};

// The pools in whose slot the calling thread is running a call of f, innermost first: one frame
// per pool_slot alive on this thread.
struct slot_frame {
  const pool_state* pool;
  const slot_frame* outer;
};
inline thread_local const slot_frame* held_slots = nullptr;

// Whether the calling thread is inside a call of f made through `pool`, and so holds (or
// borrows) one of its slots. A map called there must not wait for a slot of its own: its caller
// holds one, and every other one may be held by a caller waiting the same way.
inline bool holds_slot_of(const pool_state& pool) noexcept {
  for (const slot_frame* frame = held_slots; frame != nullptr; frame = frame->outer) {
    if (frame->pool == &pool) return true;
  }
  return false;
}

// Holds one of a pool's slots for its lifetime (nothing without a pool), and marks the thread
// as holding it. A `borrowed` slot is the caller's, lent to a map nested in its call: nothing is
// acquired, the thread is only marked. Lives on the stack of the thread that calls f.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
// g++ 12 at -O2 sees the address of a pool_slot on the caller's stack stored in a thread_local;
// the destructor takes it out again before the slot goes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
class pool_slot {
 public:
  pool_slot(pool_state* pool, bool borrowed) : pool_(pool), borrowed_(borrowed) {
    if (pool_ == nullptr) return;
    if (!borrowed_) pool_->slots.acquire();
    frame_ = {pool_, held_slots};
    held_slots = &frame_;
  }
  pool_slot(const pool_slot&) = delete;
  pool_slot& operator=(const pool_slot&) = delete;
  ~pool_slot() {
    if (pool_ == nullptr) return;
    held_slots = frame_.outer;
    if (!borrowed_) pool_->slots.release();
  }

 private:
  pool_state* pool_;
  bool borrowed_;
  slot_frame frame_{};
};
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif

// The callable of the per-item task: f under a pool slot. Owned (imap keeps a copy of f) or
// borrowed (the eager calls). It takes a trailing stop_token only when f does, so the engine
// makes a token only for such an f (see detail::call).
template <class F, bool Owned>
struct item_call {
  std::conditional_t<Owned, F, const F*> fn;
  std::shared_ptr<pool_state> pool{};
  bool borrowed = false;  // see map_config::borrowed

  const F& target() const noexcept {
    if constexpr (Owned) {
      return fn;
    } else {
      return *fn;
    }
  }

  template <class X>
  requires(std::is_invocable_v<const F&, X&&> &&
           !std::is_invocable_v<const F&, X&&, std::stop_token>)
  auto operator()(X&& x) const {
    return run([&]() -> decltype(auto) { return std::invoke(target(), std::forward<X>(x)); });
  }

  template <class X>
  requires std::is_invocable_v<const F&, X&&, std::stop_token>
  auto operator()(X&& x, std::stop_token stop) const {
    return run([&]() -> decltype(auto) {
      return std::invoke(target(), std::forward<X>(x), std::move(stop));
    });
  }

 private:
  template <class Call>
  auto run(Call&& call) const {
    pool_slot slot(pool.get(), borrowed);
    if constexpr (std::is_void_v<decltype(call())>) {
      call();
      return no_value{};
    } else {
      return call();
    }
  }
};

// ---- where outputs go ------------------------------------------------------------------------

// One cell per position, written by whichever worker computed it. std::vector<R> directly when
// R can be default-made and assigned; otherwise optional cells, moved into a vector at the end.
// (Never std::vector<bool>: neighbouring bits cannot be written from two threads.)
template <class R>
class output_cells {
  static constexpr bool direct = std::is_default_constructible_v<R> &&
                                 std::is_move_assignable_v<R> && !std::is_same_v<R, bool>;

 public:
  explicit output_cells(std::size_t n) : cells_(n) {}
  template <class V>
  void put(std::size_t at, V&& value) {
    if constexpr (direct) {
      cells_[at] = std::forward<V>(value);
    } else {
      cells_[at].emplace(std::forward<V>(value));
    }
  }
  // The first `count` cells, each written.
  std::vector<R> take(std::size_t count) && {
    if constexpr (direct) {
      cells_.resize(count);
      return std::move(cells_);
    } else {
      std::vector<R> out;
      out.reserve(count);
      for (std::size_t i = 0; i < count; ++i) out.push_back(std::move(*cells_[i]));
      return out;
    }
  }

 private:
  std::conditional_t<direct, std::vector<R>, std::vector<std::optional<R>>> cells_;
};

// f returns void: nothing to keep.
template <>
class output_cells<void> {
 public:
  explicit output_cells(std::size_t /*n*/) {}
  void take(std::size_t /*count*/) && {}
};

// ---- the chunked path: sized random-access inputs ---------------------------------------------

struct index_span {
  std::size_t begin = 0;
  std::size_t end = 0;
};

// Runs one chunk of a map: a type-independent handle on a chunk_call, so that the pipeline that
// hands out the chunks is one type for every map, compiled once (lib/parallel_map.cpp).
struct chunk_runner {
  void (*run)(const void* call, index_span chunk, const std::stop_token& stop);
  const void* call;

  template <class Call>
  static chunk_runner of(const Call& call) {
    return {[](const void* c, index_span chunk, const std::stop_token& stop) {
              (*static_cast<const Call*>(c))(chunk, stop);
            },
            &call};
  }
};

// Runs `runner` on chunks that cover positions [0, n), on config.workers workers of a pipeline
// named config.where (its producer "<where> input"): a producer of guided chunks, a branch task
// that passes nothing on, and the caller waiting for the run's end. Rethrows the first exception
// a chunk throws; a drain (config.drain) ends the producer.
void run_chunks(std::size_t n, const map_config& config, chunk_runner runner);

template <class Range>
inline constexpr bool chunkable =
    std::ranges::random_access_range<std::remove_reference_t<Range>> &&
    std::ranges::sized_range<std::remove_reference_t<Range>>;

// Runs the chunks run_chunks gives it: f on each position, output in place; a progress bar is
// advanced by the workers. A chunk's positions are claimed from `cursor` in blocks, and the
// map's stop (the first failure, or the caller's exception) and its drain are checked before each
// claim; a block doubles while it takes under 20 us and halves past 100 us, so quick calls run in
// tight loops and a slow call (a sleep, I/O) is checked before every item: no new item starts
// more than ~100 us of work after the stop. The block size a chunk ends with is where the next
// chunk starts (`block_hint`, shared by the workers): each claim is a read-modify-write of the
// cursor's cache line, which the other worker takes back at its next claim, so a map's claims
// are kept near one per block of the final size, not a ramp from 1 in every chunk.
template <class F, class Range, class Cells>
struct chunk_call {
  const F* f;
  std::ranges::iterator_t<std::remove_reference_t<Range>> first;
  Cells* cells;  // output_cells<R>
  const map_config* config;
  map_progress* progress;
  std::atomic<std::size_t>* cursor;  // the next position to claim; the chunks sum to the input
  std::atomic<std::size_t>* block_hint;  // the block size a chunk starts with; 1 at first

  void operator()(index_span chunk, const std::stop_token& stop) const {
    using namespace std::chrono_literals;
    pool_slot slot(config->pool.get(), config->borrowed);
    const std::size_t first_block = block_hint->load(std::memory_order_relaxed);
    std::size_t block = first_block;
    for (std::size_t left = chunk.end - chunk.begin; left != 0;) {
      if (stop.stop_requested() || config->drain.stop_requested()) break;
      const std::size_t take = std::min(left, block);
      const std::size_t at = cursor->fetch_add(take, std::memory_order_relaxed);
      const std::size_t end = at + take;
      left -= take;
      const auto start = std::chrono::steady_clock::now();
      call_range(at, end, stop);
      const auto spent = std::chrono::steady_clock::now() - start;
      if (spent < 20us && block < kMaxBlock) {
        block *= 2;
      } else if (spent > 100us && block > 1) {
        block /= 2;
      }
      progress->advance(take);
    }
    if (block != first_block) block_hint->store(block, std::memory_order_relaxed);
  }

 private:
  using range_t = std::remove_reference_t<Range>;
  using lvalue_t = std::ranges::range_reference_t<range_t>;
  static constexpr bool owned = !std::is_lvalue_reference_v<Range>;
  // With worker_error, f gets an lvalue even from an owned range whenever it takes one, so the
  // input is still intact to render when f throws.
  static constexpr bool lvalue_callable =
      std::is_lvalue_reference_v<lvalue_t> && callable_with<F, lvalue_t>;

  // The 20 us rule stops a block's growth for any f that does work (65536 calls of 1 ns take
  // 65 us); the cap bounds a block of calls that do nothing. A smaller cap makes the two
  // workers' claims alternate in small blocks (docs/performance.md, "Decisions": map blocks).
  static constexpr std::size_t kMaxBlock = 65536;

  void call_range(std::size_t begin, std::size_t end, const std::stop_token& stop) const {
    std::size_t i = begin;
    try {
      for (; i < end; ++i) {
        auto it = first + static_cast<std::ranges::range_difference_t<range_t>>(i);
        if constexpr (!owned) {
          store(i, *it, stop);
        } else if (lvalue_callable && config->errors == map_errors::worker_error) {
          if constexpr (lvalue_callable) store(i, *it, stop);
        } else {
          store(i, std::ranges::iter_move(it), stop);
        }
      }
    } catch (...) {
      if (config->errors == map_errors::original) throw;
      auto it = first + static_cast<std::ranges::range_difference_t<range_t>>(i);
      throw worker_error(config->where, std::current_exception(), i, render(*it));
    }
  }

  template <class X>
  void store(std::size_t i, X&& x, const std::stop_token& stop) const {
    if constexpr (std::is_same_v<Cells, output_cells<void>>) {
      call(*f, stop, std::forward<X>(x));
    } else {
      cells->put(i, call(*f, stop, std::forward<X>(x)));
    }
  }
};

template <class F, class Range>
auto map_in_chunks(const F& f, Range&& items, const map_config& config) {
  using R = map_result_t<F, element_arg_t<Range&&>>;
  const std::size_t n = std::ranges::size(items);
  output_cells<R> cells(n);
  std::atomic<std::size_t> claimed{0};
  std::atomic<std::size_t> block_hint{1};
  if (n != 0) {
    map_progress progress(config.progress, n);
    const chunk_call<F, Range&&, output_cells<R>> call{&f,      std::ranges::begin(items),
                                                       &cells,  &config,
                                                       &progress, &claimed, &block_hint};
    run_chunks(n, config, chunk_runner::of(call));
  }
  // Every worker has returned: the claimed positions, a prefix, are all written.
  return std::move(cells).take(claimed.load(std::memory_order_relaxed));
}

// ---- the per-item path: any input range ----------------------------------------------------------

// A branch producer's range as the elements' queued type (only for std::pair<const K, V>).
template <class Q, class Range>
generator<Q> as_queued(Range& items) {
  for (auto&& element : items) co_yield Q(std::forward<decltype(element)>(element));
}

// The producer's callable: the run's own copy of the range (moved in as the producer's
// argument), or the caller's range, borrowed. A borrowed range is read through const iterators
// when it has them (its elements are copied into the queue); a single-pass one is consumed.
template <class Range>
struct borrowed_source {
  Range* items;
  auto operator()() const {
    using V = std::ranges::range_value_t<Range>;
    if constexpr (!std::is_same_v<queued_t<V>, V>) {
      if constexpr (std::ranges::input_range<const Range>) {
        return as_queued<queued_t<V>>(std::as_const(*items));
      } else {
        return as_queued<queued_t<V>>(*items);
      }
    } else if constexpr (std::ranges::input_range<const Range>) {
      const Range& all = *items;
      return borrowed_range<decltype(std::ranges::begin(all)), decltype(std::ranges::end(all))>{
          std::ranges::begin(all), std::ranges::end(all)};
    } else {
      return borrowed_range<decltype(std::ranges::begin(*items)),
                            decltype(std::ranges::end(*items))>{std::ranges::begin(*items),
                                                                std::ranges::end(*items)};
    }
  }
};
struct owned_source {
  template <class Range>
  auto operator()(Range&& items) const {
    using V = std::ranges::range_value_t<Range>;
    if constexpr (!std::is_same_v<queued_t<V>, V>) {
      return owned_queued<queued_t<V>>(std::move(items));
    } else {
      return Range(std::move(items));
    }
  }

 private:
  template <class Q, class Range>
  static generator<Q> owned_queued(Range items) {
    for (auto&& element : items) co_yield Q(std::move(element));
  }
};

// The per-item pipeline's task options.
// `o` may come with opmap's resilience options set.
inline task_options item_options(const map_config& config, task_options o = {}) {
  o.name = config.where;
  o.concurrency = config.workers;
  o.ordered = config.ordered;
  if (config.errors == map_errors::worker_error) {
    o.on_error = [where = std::string(config.where)](const failure& f) {
      throw worker_error(where, f.error, f.sequence, f.input_text);
    };
  }
  return o;
}

// The stream of f's outputs over `items`: borrowed (an lvalue, for the eager calls) or owned;
// f called in threads, or in worker processes.
template <bool Owned, bool InProcesses = false, class Fn, class Range>
auto item_stream(Fn fn, Range&& items, task_options options, const map_config& config) {
  using V = std::ranges::range_value_t<std::remove_reference_t<Range>>;
  static_assert(Owned || std::is_copy_constructible_v<V> ||
                    !std::ranges::input_range<const std::remove_reference_t<Range>>,
                "sluice: pmap / opmap / thread_pool: this range is not random-access, so its "
                "elements travel through a queue and would be copied out of it, but they cannot be "
                "copied; pass the range as an rvalue (std::move) to move them");
  const std::string input_name = std::string(config.where) + " input";
  auto calls = [&] {
    if constexpr (InProcesses) {
      return task(std::move(fn), process, std::move(options));
    } else {
      return task(std::move(fn), std::move(options));
    }
  };
  if constexpr (Owned) {
    auto p = task(owned_source{}, branch, {.name = input_name}) | calls();
    return p(std::forward<Range>(items));
  } else {
    auto p = task(borrowed_source<std::remove_reference_t<Range>>{&items}, branch,
                  {.name = input_name}) |
             calls();
    return p();
  }
}

// item_stream for f, in threads or (InProcesses) in worker processes.
template <bool Owned, bool InProcesses, class F, bool OwnsF, class Range>
auto calls_stream(item_call<F, OwnsF> call, Range&& items, task_options options,
                  const map_config& config) {
  if constexpr (InProcesses) call.pool = nullptr;  // a worker process has no slot to take
  return item_stream<Owned, InProcesses>(std::move(call), std::forward<Range>(items),
                                         std::move(options), config);
}

template <class F, class Range>
auto map_items(const F& f, Range&& items, const map_config& config) {
  using R = map_result_t<F, queued_t<std::ranges::range_value_t<std::remove_reference_t<Range>>>&&>;
  map_progress progress(config.progress, size_if_known(items));
  auto outputs = calls_stream<!std::is_lvalue_reference_v<Range>, false>(
      item_call<F, false>{&f, config.pool, config.borrowed}, std::forward<Range>(items),
      item_options(config), config);
  outputs.link_drain(config.drain);  // the producer stops: the elements emitted are a prefix
  if constexpr (std::is_void_v<R>) {
    while (outputs.next()) progress.advance(1);
  } else {
    std::vector<R> all;
    if (auto n = size_if_known(items)) all.reserve(*n);
    while (auto x = outputs.next()) {
      all.push_back(std::move(*x));
      progress.advance(1);
    }
    return all;
  }
}

// ---- the entry points ----------------------------------------------------------------------------

// pmap and thread_pool::map, in threads: std::vector<R> in input order (see
// map_config::ordered), or void.
template <class F, class Range>
auto parallel_map(const F& f, Range&& items, const map_config& config) {
  check_map_callable<F, element_arg_t<Range&&>>();
  if constexpr (chunkable<Range>) {
    return map_in_chunks(f, std::forward<Range>(items), config);
  } else {
    return map_items(f, std::forward<Range>(items), config);
  }
}

// thread_pool::imap and (InProcesses) process_pool::imap: a lazy stream of f's outputs in
// input order; owns f and the range.
template <bool InProcesses, class F, class Range>
auto lazy_map(F&& f, Range&& items, map_config config) {
  using Fn = std::decay_t<F>;
  using Items = std::decay_t<Range>;
  using V = queued_t<std::ranges::range_value_t<Items>>;
  check_map_callable<Fn, V&&>();
  static_assert(!std::is_void_v<map_result_t<Fn, V&&>>,
                "sluice: thread_pool::imap: f returns void, so there is nothing to stream; use map");
  config.ordered = true;
  return calls_stream<true, InProcesses>(
      item_call<Fn, true>{Fn(std::forward<F>(f)), config.pool, config.borrowed},
      Items(std::forward<Range>(items)), item_options(config), config);
}

// opmap: one result per element, in input order; a failed item holds its failure.
template <class F, class Range>
auto parallel_map_in_place(const F& f, Range&& items, map_config config,
                           task_options resilience) {
  using V = queued_t<std::ranges::range_value_t<std::remove_reference_t<Range>>>;
  check_map_callable<F, V&&>();
  using R = map_result_t<F, V&&>;

  // Failures arrive from the workers; an item's failure is reported before any later item's
  // output leaves the ordered task, so the outputs and failures merge in input order.
  std::mutex mu;
  std::map<std::uint64_t, failure> failed;  // guarded by mu
  config.ordered = true;
  task_options options = item_options(config, std::move(resilience));
  options.on_error = [&](const failure& why) {
    std::lock_guard lock(mu);
    failed.emplace(why.sequence, why);
  };

  map_progress progress(config.progress, size_if_known(items));
  std::vector<result<R>> all;
  if (auto n = size_if_known(items)) all.reserve(*n);
  auto take_failures = [&](bool every) {
    std::lock_guard lock(mu);
    for (auto it = failed.begin();
         it != failed.end() && (every || it->first == all.size()); it = failed.erase(it)) {
      all.emplace_back(std::move(it->second));
      progress.advance(1);
    }
  };
  auto collect = [&](auto outputs) {
    outputs.link_drain(config.drain);  // the producer stops: the elements emitted are a prefix
    while (auto x = outputs.next()) {
      take_failures(false);
      if constexpr (std::is_void_v<R>) {
        all.emplace_back();
      } else {
        all.emplace_back(std::move(*x));
      }
      progress.advance(1);
    }
  };
  constexpr bool owned = !std::is_lvalue_reference_v<Range>;
  item_call<F, false> call{&f, config.pool, config.borrowed};
  if (!config.in_processes) {
    collect(calls_stream<owned, false>(call, std::forward<Range>(items), std::move(options),
                                       config));
  } else if constexpr (crosses_processes<V, R>) {
    collect(calls_stream<owned, true>(call, std::forward<Range>(items), std::move(options),
                                      config));
  } else {
    reject_process_mode(config.where, typeid(V), typeid(R));
  }
  take_failures(true);
  return all;
}

}  // namespace sluice::detail
