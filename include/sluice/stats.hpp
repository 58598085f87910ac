// This header defines sluice::task_stats, the counters of one task, batch or shape in a live
// snapshot of a run (see stream::stats()), and sluice::stage_kind, which of them a row is.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sluice/circuit_breaker.hpp>

namespace sluice {

// What a row of stream::stats() counts: a task (sluice::task, a nested pipeline, a sink's
// task), a sluice::batch, or one of the shapes that move items between branches.
enum class stage_kind { task, batch, fan_out, route, zip, in_order };

// Counters of one task of a running pipeline. A snapshot is taken with relaxed reads while the
// run goes on, so counters of different tasks may be a few items apart.
// A shape's row (kind fan_out, route, zip or in_order) counts what passes through it: items_in,
// items_out, queued (zip: inputs waiting for the rest of their tuple; in_order: outputs waiting
// in its window; fan_out, route: 0), and for a zip `dropped`, for a route `branches`. Its
// failed, retried, in_flight, busy and blocked stay 0: a shape runs no calls of its own.
struct task_stats {
  std::string name{};
  std::uint64_t items_in = 0;       // items the task took from its input queue
  std::uint64_t items_out = 0;      // items it emitted downstream
  std::uint64_t failed = 0;         // items whose call failed (dropped by on_error, or fatal)
  std::uint64_t retried = 0;        // attempts that were retried
  std::size_t in_flight = 0;        // calls running now
  // Items waiting for the task: made upstream and not yet handed to one of its calls, wherever
  // they wait (its input queue, held back by the task before it, or taken in a batch by one of
  // its workers; an ordered task counts a batch as waiting until every item of it was called).
  std::size_t queued = 0;
  // Time spent inside the task's calls, summed over its workers (so it may exceed the run's
  // length); not the time spent waiting to pass outputs on (`blocked`).
  std::chrono::nanoseconds busy{};
  std::optional<circuit_state> circuit{};  // the state of the task's breaker, when it has one
  // Time the task's workers waited for room downstream to pass outputs on (backpressure),
  // summed over its workers: a stage upstream of the bottleneck shows it growing while its
  // `busy` stays at the time its calls take. Counted when a worker's batch ends.
  std::chrono::nanoseconds blocked{};
  stage_kind kind = stage_kind::task;
  // zip: inputs whose tuple was dropped because a branch dropped its part (an on_error handler);
  // 0 for every other row.
  std::uint64_t dropped = 0;
  // route: the items its selector sent to each branch, in branch order; empty for every other
  // row.
  std::vector<std::uint64_t> branches{};
};

}  // namespace sluice
