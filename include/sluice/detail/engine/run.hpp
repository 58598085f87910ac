// Internal: the state of one run of a pipeline — stop flag, drain flag, first error, the
// executor its stages' activations run on, and the nodes (stages, queues) it owns.
//
// Drain: drain() sets a flag that only the producer (producer_runtime) reads: before its call,
// and before it advances a branch task's range. A producer that sees it ends as if its input
// were exhausted (mark_drained()), so the close travels down the stages as at a normal end and
// every item already emitted is processed and delivered. Nothing else reads the flag; nothing
// is woken.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <sluice/detail/engine/activation.hpp>
#include <sluice/detail/engine/backoff.hpp>
#include <sluice/pipeline_event.hpp>
#include <sluice/stats.hpp>

namespace sluice {
class circuit_breaker;
namespace detail {

class run_state;
class executor;
class shape_row;

// Counters of one task, updated by its workers with relaxed atomics (they are statistics: no
// other memory is published through them).
struct stage_counters {
  std::string name;
  stage_kind kind = stage_kind::task;
  std::atomic<std::uint64_t> items_in{0};
  std::atomic<std::uint64_t> items_out{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> retried{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> unstarted{0};  // taken from the input, not yet handed to a call
  std::atomic<std::int64_t> busy_ns{0};     // inside calls (task_stats::busy)
  std::atomic<std::int64_t> blocked_ns{0};  // waiting for room downstream (task_stats::blocked)
  std::size_t (*queued)(const void*) = nullptr;  // reads what waits in the input queue
  const void* queue = nullptr;
  const circuit_breaker* breaker = nullptr;  // the task's, when it has one
  // The breaker's state when a worker last looked (circuit_state as int; -1: not yet), so that
  // a change is reported once (pipeline_event_kind::circuit_changed).
  std::atomic<int> circuit_seen{-1};
  run_state* run = nullptr;  // the run these count for, to report events to
};

// The time this thread has waited for room in a queue downstream (backpressure) during the
// stretch a busy_timer measures, in nanoseconds. A queue adds to it each time a push finds no
// room and waits (channel::wait_for_room); busy_timer zeroes it when it starts and takes it out
// of busy when it stops. Thread-local, so the hot path touches no shared line for it.
inline std::int64_t& blocked_here() noexcept {
  thread_local std::int64_t ns = 0;
  return ns;
}

// Records a failure or a cancellation and wakes everything; joins all workers. Non-template
// code lives in lib/run.cpp.
class run_state {
 public:
  run_state();
  run_state(const run_state&) = delete;
  run_state& operator=(const run_state&) = delete;
  ~run_state();  // stops the run if it is still going and joins every worker

  // ---- building (single-threaded, before start) ----
  template <class Node, class... Args>
  Node& make(Args&&... args) {
    auto owned = std::make_unique<Node>(std::forward<Args>(args)...);
    Node& ref = *owned;
    nodes_.push_back(std::move(owned));
    return ref;
  }
  // Registers a stage's workers on the flow graph; `workers` is the most threads it may block.
  void add_target(activation_target& target, std::size_t workers);
  // A stage started when the run starts, with `count` activations (producers, join workers).
  void add_starter(activation_target& target, std::size_t count);
  // The counters of the task at 1-based `position`.
  stage_counters& counters(std::size_t position, std::string name);
  // A shape's row (shape_stats.hpp); it must outlive the run's stats() calls (a node does).
  void add_shape(shape_row& row);
  // After the last stage is built, before start: names the shapes' rows and puts every row in
  // pipeline order (depth first, a shape before its branches, an in_order after them).
  void finish_build();

  // ---- running ----
  void start();  // starts the starters' activations; idempotent
  bool started() const noexcept { return started_; }
  // Start: hands an activation of `target` (its slot claimed) to the executor.
  void enqueue(activation_target& target);
  // One more live activation (started, not yet done); returns the live count.
  std::size_t add_live();
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  // Called by a worker after each batch, which took `spent`: gives up its core for a moment
  // - while an activation this run enqueued still waits for its thread to run. A thread woken
  //   for it is just runnable; while busy workers hold every core, the kernel lets it run only
  //   at the end of a slice, and oneTBB wakes its workers in a chain, each woken one waking the
  //   next two (docs/performance.md, "Decisions": yield while starting). One relaxed load of a
  //   line that changes only when an activation is enqueued or begins;
  // - in a run with a task of more workers than cores (calls that block), after each 100 us of
  //   quick calls (`share`, the worker's own; see core_share).
  void between_batches(std::chrono::nanoseconds spent, core_share& share) const noexcept {
    if (starting_.load(std::memory_order_relaxed) != 0) {
      std::this_thread::yield();
    } else if (blocking_ && share.after(spent)) {
      std::this_thread::yield();
    }
  }
  // Records `error` and stops the run; the first error wins. Once the run is stopping (an
  // earlier error, a cancel, the stream dropped) errors are consequences of the stop: ignored.
  void fail(std::exception_ptr error) noexcept;
  void cancel() noexcept;  // stops the run without an error; later errors are ignored
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
  // Asks the producer to emit nothing more (see the header comment). Async-signal-safe: one
  // lock-free store. Idempotent; no effect once the producer is done.
  void drain() noexcept { draining_.store(true, std::memory_order_release); }
  bool draining() const noexcept { return draining_.load(std::memory_order_acquire); }
  // Called by the producer when it stopped early because of drain(): records it and reports a
  // pipeline_event_kind::drained to the event hook.
  void mark_drained() noexcept;
  bool drained() const noexcept { return drained_.load(std::memory_order_acquire); }
  // Drains this run when `token` is stopped (at once if it is already). May be called before or
  // after start(), from the thread that owns the run.
  void drain_with(std::stop_token token);
  // Cancels this run when `token` is stopped (at once if it is already): a nested run follows
  // the call of the outer run it is made in. May be called before or after start().
  void stop_with(std::stop_token token);
  void join() noexcept;                          // waits for every activation to return
  // join(), unless the run is cancelled before every activation has returned (also while it
  // waits): then returns false at once and a later join() waits. True once joined.
  bool join_unless_cancelled() noexcept;
  void shutdown() noexcept;                      // cancel() and join() unless already joined
  std::exception_ptr error() const noexcept;     // valid after join()
  const std::stop_source& stop_source() const noexcept { return stop_; }
  std::vector<task_stats> stats() const;
  // The hook of stream::on_event(); set before start() (the workers read it unguarded).
  void set_event_hook(std::function<void(const pipeline_event&)> hook) {
    event_hook_ = std::move(hook);
  }
  bool has_event_hook() const noexcept { return static_cast<bool>(event_hook_); }
  // Calls the hook, when there is one; one that throws stops the run with its exception.
  void report(const pipeline_event& event) noexcept;
  // Reports the breaker's state when it differs from the last state reported for `counters`.
  void report_circuit(stage_counters& counters) noexcept;
  // The counters of the task or batch named `name` (task_stats::name), or nullptr.
  const stage_counters* find_counters(const std::string& name) const noexcept;

 private:
  void stop() noexcept;
  void activation_done() noexcept;
  friend class activation_target;

  // Declared before the nodes, which count into them until they are destroyed.
  std::vector<std::unique_ptr<stage_counters>> counters_;  // by position - 1
  std::vector<shape_row*> shapes_;  // in pipeline order after finish_build()
  // Every row in pipeline order, a task's as its position - 1, a shape's as its index in
  // shapes_ + counters_.size(); empty before finish_build() (then: the tasks by position).
  std::vector<std::size_t> rows_;
  std::vector<std::unique_ptr<node>> nodes_;
  std::vector<activation_target*> targets_;
  std::vector<std::pair<activation_target*, std::size_t>> starters_;
  std::size_t demand_ = 0;  // threads the stages may block at once
  std::size_t near_ = 0;    // slots of the engine's near tier
  bool started_ = false;
  bool joined_ = false;
  bool blocking_ = false;  // a task has more workers than the machine has cores
  std::unique_ptr<executor> engine_;  // gives activations their threads (lib/executor.hpp)

  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> drained_{false};
  // Activations enqueued on the engine whose thread has not begun them yet.
  alignas(64) std::atomic<std::size_t> starting_{0};
  std::exception_ptr error_{};  // written once, by the first fail(), before stopping_ is set
  std::function<void(const pipeline_event&)> event_hook_{};  // set before start()
  std::stop_source stop_{};

  // std::mutex rather than absl::Mutex wherever ThreadSanitizer must check us: Debian's abseil
  // is not built with TSan, so TSan cannot see absl::Mutex synchronise anything.
  std::mutex live_mu_;
  std::condition_variable live_cv_;
  std::size_t live_ = 0;  // activations started and not yet done; guarded by live_mu_

  struct canceller {
    run_state* run;
    void operator()() const noexcept { run->cancel(); }
  };
  struct drainer {
    run_state* run;
    void operator()() const noexcept { run->drain(); }
  };
  // Last: destroyed first, so that no outer stop or drain reaches a run being torn down (a
  // callback in progress is waited for).
  std::list<std::stop_callback<drainer>> drain_links_;
  std::list<std::stop_callback<canceller>> links_;
};

// Throws std::logic_error: stream::on_event() after the run started.
[[noreturn]] void reject_late_hook();

// The items_out counter of the task named `task` in `run` (progress_options::count_task).
// Throws std::invalid_argument naming the task and listing the run's tasks when there is none
// of that name, or when `run` is null (the stream a join task reads).
const std::atomic<std::uint64_t>& items_out_of(const run_state* run, const std::string& task);

}  // namespace detail
}  // namespace sluice
