// This header defines sluice::pipeline_event, what a run tells a hook set with
// stream::on_event() (or runnable::with_events()) as it happens: retried attempts, failed
// items, circuit breaker state changes, and a drain stopping the producer.
//
// Example:
//   auto rows = pipeline(path);
//   rows.on_event([&log](const sluice::pipeline_event& e) {
//     if (e.kind == sluice::pipeline_event_kind::failed) log.warn(e.task, e.error);
//   });
//
// Threads: the hook is called on the run's worker threads, by the worker that saw the event,
//   from several at once when several workers see events: it must be thread-safe, and quick
//   (a worker waits for it, and so do the items behind it). A hook that throws stops the run
//   with that exception, as an on_error handler that throws does.
// Lifetime: the event and what it refers to (task, error) are valid during the call only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>

#include <sluice/circuit_breaker.hpp>

namespace sluice {

enum class pipeline_event_kind {
  retried,          // an attempt of a call failed and was retried
  failed,           // an item's call failed for good (dropped by on_error, or fatal)
  circuit_changed,  // a task's breaker changed state
  drained,          // drain() stopped the producer (task: its name); what it made flows on
};

struct pipeline_event {
  pipeline_event_kind kind = pipeline_event_kind::failed;
  std::string_view task{};      // task_stats::name of the task it happened in
  // failed: the item's position in the producer's output (failure::sequence); else 0.
  std::uint64_t sequence = 0;
  // retried: the attempt that failed (1-based), reported once the call is over; else 0.
  std::size_t attempt = 0;
  std::exception_ptr error{};   // retried, failed: the exception; else nullptr
  // circuit_changed: the breaker's new state, as a worker saw it after a call (a change undone
  // before any call of the task ends is not seen); else empty.
  std::optional<circuit_state> circuit{};
};

}  // namespace sluice
