// Internal: what every stage runtime shares — its resolved options, its counters, its input
// queue and outlet (input_stage), and how a failed call becomes an on_error call or the run's
// error.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/detail/engine/activation.hpp>
#include <sluice/detail/engine/channel.hpp>
#include <sluice/detail/failure.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/engine/run.hpp>
#include <sluice/detail/resilience/task_guard.hpp>
#include <sluice/errors.hpp>

namespace sluice::detail {

// A task's options as one run uses them: defaults filled in and checked.
struct task_config {
  std::string name;          // "task#<position>" unless the user named it
  std::size_t position = 0;  // 1-based
  std::size_t concurrency = 1;
  std::size_t capacity = 0;  // of the task's output queue
  bool ordered = false;
  std::function<void(const failure&)> on_error;
  bool in_zip = false;  // dropped items leave a tombstone for the zip
  std::string who;      // "task 'name' (task#2)" or "task#2", for messages
  task_resilience resilience{};

  // Compiled once, in the library (lib/options.cpp), not in each translation unit that builds
  // a pipeline: a config holds strings, a std::function and the resilience options.
  task_config();
  task_config(const task_config&);
  task_config(task_config&&) noexcept;
  task_config& operator=(const task_config&);
  task_config& operator=(task_config&&) noexcept;
  ~task_config();
};

// Throws std::invalid_argument for an option out of range inside a pipeline that the task at
// `position` (`name`: its task_options::name, "" when unnamed) runs per item: `inner`'s message
// with the task in front ("sluice: task#3 (a nested pipeline): its task#2 has concurrency 0").
[[noreturn]] void reject_nested(std::size_t position, const std::string& name,
                                const std::invalid_argument& inner);

// Throws std::invalid_argument: `who` has resilience options, which call the callable again with
// the same input, but the callable takes its input as an rvalue.
[[noreturn]] void reject_rvalue_resilience(const std::string& who);

// Reports a failed call: on_error when set (the item is dropped; a handler that throws stops
// the run), otherwise the run fails with the error. Nothing once the run is stopping: a call that
// fails then (a wait for a rate-limit token cut short, a call that gives up when asked to stop)
// fails because of the stop, and a stopped run reports nothing that follows its stop.
// `input` is null or points to the failed item, whose type `fill` knows (lib/failure.cpp).
void report_failed_call(run_state& run, const task_config& config, stage_counters& counters,
                        std::uint64_t sequence, std::exception_ptr error, const void* input,
                        failure_input fill, std::vector<std::exception_ptr> attempts);
template <class In>
void report_failure(run_state& run, const task_config& config, stage_counters& counters,
                    std::uint64_t sequence, std::exception_ptr error, const In* input,
                    std::vector<std::exception_ptr> attempts = {}) {
  report_failed_call(run, config, counters, sequence, std::move(error), input,
                     &fill_failure_input<In>, std::move(attempts));
}

// A stage with an input queue and an outlet (a task, a join, a batch): the plumbing each of them
// needs, made once. Registers the stage with the run (and as a starter, run once when the run
// starts, when `starts_with_run`). The queue wakes the stage's workers through notify() unless
// the stage's workers block on the queue themselves (`wakes_on_push` false).
template <class In, class Out>
class input_stage : public activation_target {
 public:
  port<In>& input() noexcept { return in_; }

 protected:
  struct plumbing {
    std::size_t position = 0;  // 1-based, for the stage's counters
    std::string name;          // as task_stats shows it
    std::size_t concurrency = 1;
    std::size_t in_capacity = 0;
    bool serial_outlet = false;  // one worker at a time offers: outputs may be held (port.hpp)
    bool wakes_on_push = true;
    bool starts_with_run = false;
  };

  input_stage(run_state& run, const plumbing& p, port<Out>& out)
      : activation_target(run, p.concurrency),
        in_(run.make<channel<In>>(run, p.in_capacity, p.wakes_on_push ? this : nullptr)),
        out_(out, p.serial_outlet),
        counters_(run.counters(p.position, p.name)) {
    counters_.queued = &channel<In>::waiting_in;
    counters_.queue = &in_;
    run.add_target(*this, p.concurrency);
    if (p.starts_with_run) run.add_starter(*this, p.concurrency);
  }

  channel<In>& in_;
  outlet<Out> out_;
  stage_counters& counters_;
};

// Measures a stretch of work (a worker's batch: its calls and the offers of their outputs) and
// splits it: the time the thread waited for room downstream (blocked_here()) goes to
// task_stats::blocked, the rest to task_stats::busy, unless told not to count busy (when the
// calls' time is counted elsewhere). Two clock reads per stretch, none per item: the queue reads
// the clock only when a push has to wait. Stretches nest (a nested pipeline's run inside a
// call): the inner one's waits count as the outer call's busy time.
class busy_timer {
 public:
  explicit busy_timer(stage_counters& counters, bool counted = true)
      : counters_(counters),
        counted_(counted),
        outer_(std::exchange(blocked_here(), 0)),
        start_(std::chrono::steady_clock::now()) {}
  busy_timer(const busy_timer&) = delete;
  busy_timer& operator=(const busy_timer&) = delete;
  ~busy_timer() {
    if (!stopped_) stop();
  }
  // Counts the stretch; returns its whole length (busy and blocked). Once.
  std::chrono::nanoseconds stop() {
    stopped_ = true;
    return count(std::chrono::steady_clock::now(), outer_);
  }
  // Counts the stretch so far and goes on with a new one: a stretch as long as a whole run (the
  // producer's) shows in stats() while it lasts.
  void lap() {
    const auto now = std::chrono::steady_clock::now();
    count(now, 0);
    start_ = now;
  }

 private:
  std::chrono::nanoseconds count(std::chrono::steady_clock::time_point now, std::int64_t then) {
    const auto spent = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_);
    const std::int64_t blocked = std::min(std::exchange(blocked_here(), then), spent.count());
    if (blocked != 0) counters_.blocked_ns.fetch_add(blocked, std::memory_order_relaxed);
    if (counted_) counters_.busy_ns.fetch_add(spent.count() - blocked, std::memory_order_relaxed);
    return spent;
  }

  stage_counters& counters_;
  bool counted_;
  bool stopped_ = false;
  std::int64_t outer_;  // the enclosing stretch's blocked time so far, restored by stop()
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sluice::detail
