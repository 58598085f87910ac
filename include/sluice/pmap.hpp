// This header defines sluice::pmap, a parallel map over any input range, and sluice::opmap, the
// same with resilience options (retry, cache, rate, timeout, breaker) and errors kept in place.
//
// Example:
//   std::vector<Image> small = sluice::pmap(resize, images, {.workers = 8, .progress = true});
//   auto pages = sluice::opmap(fetch, urls, {.workers = 16, .retry = sluice::retry_policy{}});
//   for (const auto& page : pages) if (!page.ok()) log(page.error().input_text);
//
// Both run on the pipeline engine: a producer walks the input and a task at
// `concurrency = workers` calls f. For a sized random-access input (a vector, an array, a span,
// iota) pmap hands out chunks of positions that shrink towards the end (guided scheduling) and
// writes each output in its place, so nothing is copied through a queue; any other input (a
// generator, a list, an input view) flows item by item through bounded queues, so memory stays
// flat however long the input is.
//
// f is called as f(element): with the element as an lvalue when `items` is an lvalue, moved
// when `items` is an rvalue (so move-only elements work); a call may also take a trailing
// std::stop_token, stopped when the map stops. f is called from several threads at once.
// pmap returns std::vector<R> (R the decayed result of f; void when f returns void).
// Exceptions: pmap rethrows the first exception f throws, unchanged, once every worker has
//   stopped; after the first failure no new item starts. opmap throws only for invalid options:
//   an item whose call failed (after its retries) holds its sluice::failure in its result.
//   std::invalid_argument for an option out of range (e.g. a retry with max_attempts 0).
// Drain: `.drain` (a std::stop_token) is the graceful stop: once stopped, no new element starts,
//   the elements started finish, and the call returns their results, a prefix of the input.
// Lifetime: items and f are borrowed for the duration of the call.
// In worker processes (`.mode = sluice::execution::process`): each element is sent to one of
//   `workers` worker processes forked for the call and its result sent back, by sluice::codec
//   (an element or result type without one throws std::invalid_argument when the call is made);
//   a worker's crash fails that element with sluice::worker_crashed, an exception arrives as
//   sluice::remote_error (docs/processes.md). pmap reads any input in batches of elements
//   (never more than a few batches per worker ahead of the results) and keeps input order;
//   pmap's first failure in input order is thrown once the workers are gone. opmap's elements
//   go through the engine's queues, one round trip each, under its resilience options.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <ranges>
#include <stop_token>
#include <utility>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <sluice/cache.hpp>
#include <sluice/circuit_breaker.hpp>
#include <sluice/detail/pools/parallel_map.hpp>
#include <sluice/detail/pools/process_map.hpp>
#include <sluice/execution.hpp>
#include <sluice/rate_limit.hpp>
#include <sluice/result.hpp>
#include <sluice/retry.hpp>

namespace sluice {

struct pmap_options {
  std::size_t workers = 0;  // calls of f in flight at once; 0 -> std::thread::hardware_concurrency()
  bool ordered = true;      // outputs in input order; false: in the order they finish (a
                            // random-access input keeps input order anyway: it costs nothing)
  bool progress = false;    // a progress bar on stderr (sluice/progress.hpp): a line every 5 s
                            // when stderr is not a terminal
  execution mode = execution::thread;  // process: f runs in `workers` worker processes
  // The graceful stop: once requested, no new element starts, the elements started finish, and
  // pmap returns their outputs, which are a prefix of the input (in input order when ordered):
  // a result shorter than the input says the call was drained. In process mode, elements
  // already sent to the workers (at most workers + 2 batches of 1024) are part of the prefix.
  // An f returning void: check the token. sluice::graceful_shutdown::drain_token() turns Ctrl-C
  // into one (sluice/shutdown.hpp).
  std::stop_token drain{};
};

struct opmap_options {
  std::size_t workers = 0;  // calls of f in flight at once; 0 -> std::thread::hardware_concurrency()
  // Around each item's call, in this order: cache, rate, retry, and in each attempt breaker,
  // then timeout (docs/resilience.md).
  std::optional<retry_policy> retry{};
  std::optional<cache_policy> cache{};  // keyed by the element; lives for this call (a memory
                                        // cache) or on disk (a directory: across calls and runs)
  std::optional<rate_limit> rate{};     // a token per call; copies share the bucket
  std::chrono::milliseconds timeout{0};  // per attempt; 0 -> none
  std::optional<circuit_breaker> breaker{};
  bool progress = false;  // a progress bar on stderr (a line every 5 s off a terminal)
  execution mode = execution::thread;  // process: f runs in `workers` worker processes, and the
                                       // options act around each round trip (the timeout kills)
  // The graceful stop, as pmap_options::drain: once requested, no new element starts, and opmap
  // returns one result per element started (its value or its failure), a prefix of the input.
  std::stop_token drain{};
};

// Calls f on every element of `items` with up to `options.workers` calls at once.
template <class F, std::ranges::input_range Range>
auto pmap(F&& f, Range&& items, const pmap_options& options = {}) {
  detail::map_config config;
  config.where = "sluice::pmap";
  config.workers = detail::workers_or_default(options.workers, config.where);
  config.ordered = options.ordered;
  config.progress = options.progress;
  config.errors = detail::map_errors::original;
  config.drain = options.drain;
  if (options.mode == execution::process) {
    using V = detail::queued_t<std::ranges::range_value_t<std::remove_reference_t<Range>>>;
    using R = detail::map_result_t<F, detail::element_arg_t<Range&&>>;
    detail::check_map_callable<F, detail::element_arg_t<Range&&>>();
    if constexpr (detail::crosses_processes<V, R>) {
      return detail::process_map(f, std::forward<Range>(items), config);
    } else {
      detail::reject_process_mode(config.where, typeid(V), typeid(R));
    }
  }
  return detail::parallel_map(f, std::forward<Range>(items), config);
}

// Calls f on every element like pmap, under the resilience options, and returns one
// sluice::result per element in input order: the value, or the item's sluice::failure (task
// "sluice::opmap", sequence = the element's position, every attempt, the input and its text).
template <class F, std::ranges::input_range Range>
auto opmap(F&& f, Range&& items, const opmap_options& options = {}) {
  detail::map_config config;
  config.where = "sluice::opmap";
  config.workers = detail::workers_or_default(options.workers, config.where);
  config.progress = options.progress;
  config.in_processes = options.mode == execution::process;
  config.drain = options.drain;
  task_options each{.retry = options.retry,
                    .rate = options.rate,
                    .cache = options.cache,
                    .timeout = options.timeout,
                    .breaker = options.breaker};
  return detail::parallel_map_in_place(f, std::forward<Range>(items), config, std::move(each));
}

}  // namespace sluice
