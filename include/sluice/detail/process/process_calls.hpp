// Internal: the call executor of a task marked sluice::process (call_executor.hpp says what a
// call executor is). Each call encodes the item with sluice::codec, runs it in one of the
// task's worker processes (worker_set.hpp) and decodes the result. Without per-item resilience
// options it also takes a whole batch of items in one call (call_batch), which the task's
// worker loop uses (task_runtime.hpp, in_batches()).
//
// One worker_set per task and run, with `concurrency` workers, forked at the first item. The
// task's resilience options act in the caller's process around each round trip, in their usual
// order (cache, rate, retry, breaker), except the timeout: the worker set enforces it by killing
// the worker that runs past it. A failed round trip throws what the worker set answered
// (remote_error, worker_crashed, timeout_error, codec_error), so retry and on_error treat it as
// any failure. When the run stops, its calls in flight return at once: the workers are killed.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/codec.hpp>
#include <sluice/detail/engine/call_executor.hpp>
#include <sluice/detail/engine/stage.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/process/batch_answers.hpp>
#include <sluice/detail/process/worker_set.hpp>
#include <sluice/detail/resilience/task_guard.hpp>

namespace sluice::detail {

template <class Fn, class In>
class process_calls {
 public:
  using result_type = std::remove_cvref_t<call_result_t<Fn, In&&>>;

  // Whether each item makes its own round trip: when a resilience option that acts around each
  // call (retry, rate, cache, breaker) is set. The timeout is the worker set's.
  static bool per_item(const task_config& config) noexcept {
    const task_resilience& r = config.resilience;
    return r.retry || r.rate || r.cache || r.breaker;
  }

  // The calls run in other processes (call_executor.hpp).
  static constexpr bool remote_calls = true;

  process_calls(const Fn& fn, const task_config& config, stage_counters& counters)
      : workers_({.who = config.who,
                  .workers = config.concurrency,
                  .timeout = config.resilience.timeout,
                  .window = 1024,
                  .busy_ns = &counters.busy_ns},
                 serve_calls_of<Fn, In, result_type>(fn)),
        resilience_(config.resilience),
        counters_(counters) {
    resilience_.timeout = {};  // the worker set's: it kills the worker
    if (per_item(config)) guard_.emplace(resilience_, config.who);
  }

  result_type call(In& input, const std::stop_source& stop) {
    link(stop);
    if (!guard_) return round_trip(input);
    std::vector<std::exception_ptr> attempts;
    try {
      result_type result = guard_->call(remote{this}, input, stop, attempts);
      count_retried(attempts.size());
      return result;
    } catch (...) {
      count_retried(attempts.empty() ? 0 : attempts.size() - 1);
      last_failed_attempts = std::move(attempts);
      throw;
    }
  }

  // stats().busy is the time the worker processes spend in the calls, which the worker set
  // counts, not the time the task's callers wait for them.
  static constexpr bool counts_busy = true;

  // Whether call_batch() may be used: not when each item makes its own round trip.
  bool takes_batches() const noexcept { return !guard_; }

  // The calls of `count` items at once (takes_batches()): answers each on this thread, in
  // order and as soon as it and the items before it are answered, with
  // on_result(k, result_type&&) or on_error(k, const std::exception_ptr&). Calls sent() once
  // the inputs are encoded and on their way, and before_wait() after each run of answered
  // items, before it may wait for the next.
  template <class Sent, class OnResult, class OnError, class BeforeWait>
  void call_batch(In* const* inputs, std::size_t count, const std::stop_source& stop,
                  Sent&& sent, OnResult&& on_result, OnError&& on_error,
                  BeforeWait&& before_wait) {
    link(stop);
    process_batch batch;
    for (std::size_t k = 0; k < count; ++k) encode_into(batch, *inputs[k]);
    awaited_batch answers(count, workers_);
    workers_.submit(batch, answers);
    sent();
    const batch_scope scope(workers_, answers);
    for (std::size_t k = 0; k < count;) {
      if (k != 0) before_wait();
      for (const std::size_t end = answers.wait_from(k); k < end; ++k) {
        if (const std::exception_ptr& error = answers.error(k)) {
          on_error(k, error);
          continue;
        }
        std::optional<result_type> result;
        try {
          result.emplace(sluice::decode<result_type>(answers.result(k)));
        } catch (...) {
          on_error(k, std::current_exception());
          continue;
        }
        on_result(k, std::move(*result));
      }
    }
  }

  std::vector<std::exception_ptr> failed_attempts() {
    return guard_ ? std::exchange(last_failed_attempts, {}) : std::vector<std::exception_ptr>{};
  }

 private:
  // One attempt as the resilience guard calls it.
  struct remote {
    process_calls* self;
    result_type operator()(In& input) const { return self->round_trip(input); }
  };

  struct canceller {
    worker_set* workers;
    void operator()() const noexcept { workers->cancel(); }
  };

  result_type round_trip(const In& input) {
    process_batch batch;
    encode_into(batch, input);
    awaited_batch answer(1, workers_);
    workers_.submit(batch, answer);
    answer.wait_from(0);
    answer.wait_done();
    if (answer.error(0)) std::rethrow_exception(answer.error(0));
    return sluice::decode<result_type>(answer.result(0));
  }

  // Cancels the worker set when the run stops (from the first call on).
  void link(const std::stop_source& stop) {
    std::call_once(linked_, [&] { stop_link_.emplace(stop.get_token(), canceller{&workers_}); });
  }

  void count_retried(std::size_t attempts) noexcept {
    if (attempts != 0) counters_.retried.fetch_add(attempts, std::memory_order_relaxed);
  }

  worker_set workers_;
  task_resilience resilience_;
  stage_counters& counters_;
  std::optional<task_guard<remote, In, result_type>> guard_;
  std::once_flag linked_;
  std::optional<std::stop_callback<canceller>> stop_link_;
};

}  // namespace sluice::detail
