// Internal: how a task's calls are made — the seam between a task's worker loop and where its
// callable runs.
//
// A task's workers (task_runtime) take items from the queue, hand each one to the task's call
// executor and pass the result on; they know nothing else of the call. A call executor:
//   - is built once per task and run, from the callable, the task's options and its counters;
//   - call(input, stop) makes one item's call with everything the task's options put around it
//     (resilience), on the calling worker's thread or elsewhere, and returns the result or throws
//     the item's error; it may block (the worker counts as busy meanwhile), it is called by up to
//     `concurrency` workers at once, and it gives up early once `stop` is requested;
//   - leaves `input` intact when the task's on_error or its retry may need it again;
//   - failed_attempts() hands over, on the thread whose call() just threw, every failed attempt
//     of that call, oldest first (empty when the call was made once).
// Optionally, for calls made in other processes (process_calls.hpp):
//   - `remote_calls` (static constexpr bool): the task's workers only wait for the calls, so
//     they run on sluice's spare threads rather than oneTBB's, and take larger batches
//     (remote_batch_limit) since each batch costs a round trip;
//   - `counts_busy`: the executor adds the calls' time to stats().busy itself;
//   - takes_batches() and call_batch(): a whole batch of items in one round trip.
// thread_calls makes the call in the worker's own thread.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/detail/invoke.hpp>
#include <sluice/detail/engine/run.hpp>
#include <sluice/detail/engine/stage.hpp>
#include <sluice/detail/resilience/task_guard.hpp>
#include <sluice/stream.hpp>

namespace sluice::detail {

template <class E, class In>
concept call_executor = requires(E& calls, In& input, const std::stop_source& stop) {
  typename E::result_type;
  { calls.call(input, stop) } -> std::same_as<typename E::result_type>;
  { calls.failed_attempts() } -> std::same_as<std::vector<std::exception_ptr>>;
};

// The failed attempts of the guarded call that just threw on this thread, for the
// failed_attempts() its caller makes next.
inline thread_local std::vector<std::exception_ptr> last_failed_attempts;

// A task's calls in the worker's own thread: fn(input), under the task's resilience options
// (task_guard) when it has any. A task without them pays nothing for them.
template <class Fn, class In>
class thread_calls {
 public:
  using result_type = std::remove_cvref_t<call_result_t<Fn, In&&>>;

  // Exceptions: std::invalid_argument when the task has resilience options but the callable
  // takes its input as an rvalue, or its cache cannot key on In.
  thread_calls(const Fn& fn, const task_config& config, stage_counters& counters)
      : fn_(fn), keeps_input_(static_cast<bool>(config.on_error)), counters_(counters) {
    if (!config.resilience.any()) return;
    if constexpr (callable_with<Fn, In&>) {
      guard_.emplace(config.resilience, config.who);
    } else {
      reject_rvalue_resilience(config.who);
    }
  }

  result_type call(In& input, const std::stop_source& stop) {
    if constexpr (callable_with<Fn, In&>) {
      if (guard_) return call_guarded(input, stop);
    }
    // The input stays intact for failure::input when on_error may want a copy of it.
    if constexpr (std::is_invocable_v<const Fn&, In&> && std::is_copy_constructible_v<In>) {
      if (keeps_input_) return detail::call(fn_, stop, input);
    }
    return detail::call(fn_, stop, std::move(input));
  }

  std::vector<std::exception_ptr> failed_attempts() {
    return guard_ ? std::exchange(last_failed_attempts, {}) : std::vector<std::exception_ptr>{};
  }

 private:
  // Off the plain path. Counts retried attempts; when it throws, leaves every failed attempt in
  // last_failed_attempts.
  result_type call_guarded(In& input, const std::stop_source& stop) {
    std::vector<std::exception_ptr> attempts;
    try {
      result_type result = guard_->call(fn_, input, stop, attempts);
      count_retried(attempts.size());
      report_attempts(attempts, attempts.size());
      // A nested pipeline's outputs are pulled after the guarded call: they follow the run.
      if constexpr (is_stream_v<result_type>) result.link_stop(stop.get_token());
      return result;
    } catch (...) {
      count_retried(attempts.empty() ? 0 : attempts.size() - 1);
      report_attempts(attempts, attempts.empty() ? 0 : attempts.size() - 1);
      last_failed_attempts = std::move(attempts);
      throw;
    }
  }

  // Tells the run's event hook about the first `retried` failed attempts, and about a change of
  // the breaker's state. Only with a hook: a guarded call pays one branch for it otherwise.
  void report_attempts(const std::vector<std::exception_ptr>& attempts, std::size_t retried) {
    run_state& run = *counters_.run;
    if (!run.has_event_hook()) return;
    for (std::size_t i = 0; i < retried; ++i) {
      run.report({.kind = pipeline_event_kind::retried,
                  .task = counters_.name,
                  .attempt = i + 1,
                  .error = attempts[i]});
    }
    run.report_circuit(counters_);
  }

  void count_retried(std::size_t attempts) noexcept {
    if (attempts != 0) counters_.retried.fetch_add(attempts, std::memory_order_relaxed);
  }

  const Fn& fn_;
  bool keeps_input_;
  stage_counters& counters_;
  std::optional<task_guard<Fn, In, result_type>> guard_;
};

}  // namespace sluice::detail
