// Internal to lib/: the state of one job graph and its scheduler (docs/architecture.md, "Job
// graphs").
//
// One mutex guards everything below; there is no scheduler thread. Every state change (start,
// an attempt's end, a timer, a cancel) happens under the mutex and ends with dispatch(), which
// starts every job that may start now; waiters sleep on one condition variable that each final
// state wakes. An attempt's call runs outside the mutex: on a spare thread (thread jobs), or in a
// forked worker served by a spare thread (process jobs).
//
// A job's life (job_events.hpp has the events):
//   idle ──start──► wanted ──dispatch──► running ──► succeeded | failed | skipped
//                    │                     │ ▲
//                    │                     └─┘ retry: timer, then another attempt
//                    └──► failed (dependency failed, run aborted) | skipped (cancelled)
// Invariants, under the mutex:
//   - a wanted job's `pending` is the number of its deps that are not final, and it is in
//     `ready_` exactly when pending is 0, it is not failed by a dep, and it has not started;
//   - `unfinished_by_wave_[w]` counts the wanted and running jobs of wave w (no zero entries);
//   - `running_slots_` counts running jobs that are not blocked in job_context::wait;
//   - every lock name in `held_locks_` is held by exactly one running job;
//   - `calls_live_` counts attempt calls that have not returned, abandoned ones included.
#pragma once

#include <any>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sluice/jobs.hpp>

#include "job_names.hpp"

namespace sluice::detail {

// What add() was given: a job or a prototype.
struct job_spec {
  name_pattern pattern;
  job_options options;
  job_body body;
  execution mode = execution::thread;  // the job's own, or the graph's when that is process
};

enum class edge_kind { dep, rdep, when_scheduled };
std::string_view to_string(edge_kind kind) noexcept;

struct job_rec;
struct job_edge {
  job_rec* job = nullptr;  // the dependency
  edge_kind kind = edge_kind::dep;
};

class job_attempt;

struct job_rec {
  std::string name;
  std::size_t order = 0;                 // creation index
  std::shared_ptr<const job_spec> spec;  // shared with its prototype
  job_args args;

  job_state state = job_state::idle;
  job_reason reason = job_reason::none;
  std::string detail;
  std::exception_ptr error;
  std::any value;
  std::size_t attempts = 0;
  std::optional<clock::time_point> first_start;
  clock::time_point end{};
  std::string output;

  // Once wanted:
  std::vector<job_edge> deps;
  std::vector<job_rec*> dependants;
  std::size_t pending = 0;
  bool no_failures = false;
  std::string why;

  // While running:
  std::shared_ptr<job_attempt> current;  // the attempt whose end counts
  bool holds_slot = false;               // counted in running_slots_
  std::size_t waiting = 0;               // calls of job_context::wait blocked now
  std::size_t watchers = 0;              // calls of wait() blocked on this job now

  int wave() const noexcept { return spec->options.wave; }
  bool final() const noexcept {
    return state == job_state::succeeded || state == job_state::failed ||
           state == job_state::skipped;
  }
};

// How an attempt ended.
struct attempt_outcome {
  std::any value;
  std::exception_ptr error;  // null: success
  std::string output;        // what the attempt wrote (ctx.log(), or a worker's stdout+stderr)
};

// One call of a job. The graph keeps it while the job runs; its runner keeps it while the call
// runs (a timed-out or cancelled attempt is abandoned: it outlives its job's running state, and
// whatever it returns is discarded).
class job_attempt : public job_host {
 public:
  job_attempt(job_graph_state& graph, job_rec& job, std::size_t number)
      : graph_(&graph), job_(&job), number_(number) {}

  job_rec& job() const noexcept { return *job_; }
  std::size_t number() const noexcept { return number_; }
  job_graph_state& graph() const noexcept { return *graph_; }
  std::stop_token stop_token() const noexcept { return stop_.get_token(); }

  // Under the graph's mutex: the call's result will be discarded; requests a stop and, for a
  // process job, kills the worker.
  void abandon();
  bool abandoned() const noexcept { return abandoned_; }  // under the graph's mutex
  // A process job's runner sets how to kill its worker (under the graph's mutex).
  void set_kill(std::function<void()> kill);

  // job_host, for the job's context: forwarded to the graph on behalf of this job.
  std::vector<std::string> create(std::string_view name_or_glob) override;
  void start(const std::vector<std::string>& names) override;
  void wait(const std::vector<std::string>& names) override;
  const std::any* result(std::string_view name, const std::type_info& type,
                         std::string& bytes) override;

 private:
  job_graph_state* graph_;  // outlives every call: its shut_down() waits for them
  job_rec* job_;
  std::size_t number_;
  std::stop_source stop_;
  bool abandoned_ = false;
  std::function<void()> kill_;
};

// Runs a thread job's attempt on a spare thread, or a process job's in a forked worker.
void run_thread_attempt(std::shared_ptr<job_attempt> attempt);
void run_process_attempt(std::shared_ptr<job_attempt> attempt);

class job_graph_state {
 public:
  explicit job_graph_state(job_graph_options options);
  ~job_graph_state();

  void add(std::string name, job_options options, job_body body);
  std::vector<std::string> create(std::string_view name_or_glob);
  void start(const std::vector<std::string>& names);
  // Blocks until the jobs are final. `caller`: the job waiting from inside, whose `stop`
  // (its attempt's) ends the wait early with an exception.
  void wait(const std::vector<std::string>& names, job_rec* caller,
            const std::stop_token& stop = {});
  void wait_all();
  job_info info(std::string_view name) const;
  std::vector<std::string> jobs() const;
  // The value of `name`, which must have succeeded with a result of the type whose
  // std::type_info::name() is `type`; with `bytes`, its codec bytes are written there too.
  const std::any* result(std::string_view name, std::string_view type, std::string* bytes);
  job_plan plan(const std::vector<std::string>& names);
  std::string to_dot() const;
  std::string to_json() const;
  void cancel();
  std::vector<std::string> retry_failed();
  // Cancels, then waits until every call has returned and the timer thread has ended.
  void shut_down();

  // An attempt's call returned (thread or process runner); `attempt` may be abandoned. The
  // runner's last touch of the graph: once the last call has returned, shut_down() may end.
  void attempt_ended(std::shared_ptr<job_attempt> attempt, attempt_outcome outcome);

  const job_graph_options& options() const noexcept { return options_; }
  const sluice::clock& clock() const noexcept { return clock_; }

 private:
  // What start() would want: the jobs, their resolved deps, why each is in.
  struct closure {
    std::vector<job_rec*> order;  // newly wanted, in discovery order
    std::map<job_rec*, std::vector<job_edge>> deps;
    std::map<job_rec*, bool> no_failures;
    std::map<job_rec*, std::string> why;
    std::vector<std::pair<job_rec*, job_edge>> extra;  // edges onto jobs wanted before
    bool contains(job_rec* j) const { return deps.count(j) != 0; }
  };

  struct timer_entry {
    job_rec* job;
    std::size_t attempt;
    bool retry;  // false: the attempt's timeout
  };

  // All under mu_.
  job_rec* find(std::string_view name) const;
  job_rec& make_job(std::string name, std::shared_ptr<const job_spec> spec, job_args args);
  std::vector<job_rec*> resolve(std::string_view name_or_glob, std::string_view needed_by);
  job_rec* resolve_one(const std::string& name, std::string_view needed_by);
  void collect(closure& c, const std::vector<job_rec*>& roots, const std::string& why);
  void validate(const closure& c) const;
  // What start(names) would want, collected and validated (nothing changed yet).
  closure validated_closure(const std::vector<std::string>& names);
  void commit(closure& c);
  void become_ready(job_rec& job);
  void dispatch();
  bool may_start(const job_rec& job) const;
  void launch_attempt(job_rec& job);
  void finish(job_rec& job, job_state state, job_reason reason, std::string detail,
              std::exception_ptr error);
  void cancel_pending();
  void attempt_failed(job_rec& job, std::exception_ptr error);
  void add_timer(clock::time_point at, timer_entry entry);
  void timer_loop();
  void emit(job_rec& job, job_event_kind kind, std::string detail = {},
            std::exception_ptr error = nullptr);
  std::chrono::nanoseconds since_start() const;
  void unlink(job_rec& job);

  const job_graph_options options_;
  const sluice::clock& clock_;
  const clock::time_point created_;

  mutable std::mutex mu_;
  // Notified when a job that a wait() watches ends, when the last unfinished job ends while
  // wait_all() waits, and when the last call returns.
  std::condition_variable_any changed_;
  std::size_t all_waiters_ = 0;  // wait_all() calls blocked now
  std::vector<std::shared_ptr<const job_spec>> protos_;
  std::vector<std::shared_ptr<const job_spec>> rdep_declarers_;  // specs with rdeps
  std::map<std::string, std::unique_ptr<job_rec>, std::less<>> jobs_;
  std::vector<job_rec*> by_order_;
  std::set<std::pair<std::pair<int, std::size_t>, job_rec*>> ready_;  // by (wave, order)
  std::map<int, std::size_t> unfinished_by_wave_;
  std::set<std::string, std::less<>> held_locks_;
  std::size_t running_slots_ = 0;
  std::size_t wanted_total_ = 0;  // jobs ever wanted (the board's total)
  std::size_t calls_live_ = 0;
  std::string first_failed_;      // the first job that failed (for run_aborted)
  std::uint64_t seq_ = 0;

  std::multimap<clock::time_point, timer_entry> timers_;
  std::thread timer_thread_;
  std::stop_source timer_wake_;  // stops the timer thread's sleep: a sooner entry, shutdown
  std::condition_variable timer_cv_;
  bool shutting_down_ = false;

  // The live output: the board or the plain log (or neither), fed under mu_.
  std::unique_ptr<plain_log> log_;
  std::unique_ptr<terminal_board> board_;
  bool run_open_ = false;  // jobs were wanted since the last summary was written
  std::thread ticker_;
  std::condition_variable ticker_cv_;
};

}  // namespace sluice::detail
