// Internal: the call executor of a task marked sluice::process (call_executor.hpp says what a
// call executor is). Each call encodes the item with sluice::codec, runs it in one of the
// task's worker processes (worker_set.hpp) and decodes the result.
//
// One worker_set per task and run, with `concurrency` workers, forked at the first item. The
// task's resilience options act in the caller's process around each round trip, in their usual
// order (cache, rate, retry, breaker), except the timeout: the worker set enforces it by killing
// the worker that runs past it. A failed round trip throws what the worker set answered
// (remote_error, worker_crashed, timeout_error, codec_error), so retry and on_error treat it as
// any failure. When the run stops, its calls in flight return at once: the workers are killed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/codec.hpp>
#include <sluice/detail/engine/call_executor.hpp>
#include <sluice/detail/engine/stage.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/process/worker_set.hpp>
#include <sluice/detail/resilience/task_guard.hpp>

namespace sluice::detail {

// Waits for one item's answer from a worker set.
class awaited_outcome final : public process_reply {
 public:
  void done(process_outcome outcome) noexcept override {
    std::lock_guard lock(mu_);
    outcome_ = std::move(outcome);
    ready_ = true;
    answered_.notify_one();
  }

  process_outcome get() {
    std::unique_lock lock(mu_);
    answered_.wait(lock, [&] { return ready_; });
    return std::move(outcome_);
  }

 private:
  std::mutex mu_;
  std::condition_variable answered_;
  bool ready_ = false;
  process_outcome outcome_;
};

// What a worker process does with one item of a task: decode, call, encode.
template <class Fn, class In, class Result>
serve_function serve_calls_of(const Fn& fn) {
  return [&fn](std::string_view input, std::string& output) {
    In item = sluice::decode<In>(input);
    const std::stop_source never_stopped;
    writer out(output);
    out.write(static_cast<const Result&>(detail::call(fn, never_stopped, item)));
  };
}

template <class Fn, class In>
class process_calls {
 public:
  using result_type = std::remove_cvref_t<call_result_t<Fn, In&&>>;

  process_calls(const Fn& fn, const task_config& config, stage_counters& counters)
      : workers_({.who = config.who,
                  .workers = config.concurrency,
                  .timeout = config.resilience.timeout,
                  .window = 64},
                 serve_calls_of<Fn, In, result_type>(fn)),
        resilience_(config.resilience),
        counters_(counters) {
    resilience_.timeout = {};  // the worker set's: it kills the worker
    if (resilience_.any()) guard_.emplace(resilience_, config.who);
  }

  result_type call(In& input, const std::stop_source& stop) {
    std::call_once(linked_, [&] {
      stop_link_.emplace(stop.get_token(), canceller{&workers_});
    });
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
    awaited_outcome answer;
    workers_.submit(sluice::encode(input), answer);
    process_outcome outcome = answer.get();
    if (outcome.error) std::rethrow_exception(outcome.error);
    return sluice::decode<result_type>(outcome.result);
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
