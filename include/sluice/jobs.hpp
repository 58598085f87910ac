// This header defines sluice::job_graph: named jobs with dependencies, `[param]` prototypes,
// reverse dependencies, waves, locks, a cap on running jobs, timeouts and retries, run in
// threads or in worker processes, with a live board on a terminal and a plain log elsewhere
// (docs/jobs.md).
//
// Example:
//   sluice::job_graph g{{.parallel = 4}};
//   g.add("setup", [](sluice::job_context&) { return std::string{"ok"}; });
//   g.add("build::[env]", {.deps = {"setup"}, .locks = {"disk"},
//                          .choices = {{"env", {"dev", "prod"}}}},
//         [](sluice::job_context& ctx) { return "built_" + ctx.arg("env"); });
//   auto names = g.create("build::*");   // {"build::dev", "build::prod"}
//   g.start(names);
//   g.wait_all();
//   std::string r = g.result<std::string>("build::dev");
//
// The model:
// - A name with `[param]` placeholders is a prototype; create() fills it ("build::dev" gives
//   env = "dev"; `::` separates parameters, a parameter never spans a separator). A glob (`*`,
//   `?`) in a parameter's place expands over that parameter's `choices`.
// - Only wanted jobs run: start() wants jobs and, transitively, their dependencies. A dependency
//   is a name, a pattern filled from the job's own args ("fetch::[env]"), a callable returning
//   names, or no_failures. Names that match a prototype are created on the way.
// - `.rdeps = {"deploy::[env]"}` on job J: J is a dependency of every job matching the pattern,
//   created with the args the match gives, whenever such a job is wanted.
//   `when_scheduled("deploy::[env]")` on J: when J is wanted, the matching job is wanted too,
//   and runs after J; wanting only the target leaves J out.
// - A job starts when its dependencies have succeeded (or were skipped), every wanted job of a
//   lower wave has finished (strict waves), none of its locks is held by a running job, and
//   fewer than `parallel` jobs run. A job that waits inside (job_context::wait) frees its slot
//   while it waits; it keeps its locks.
// - A failed dependency fails its dependants, which never run. no_failures: the job fails
//   without running if any job of the graph has failed once its other dependencies are met,
//   or by the time it would start (a wave or a lock may hold it after its deps are met).
//   Throwing sluice::skipped ends a job as skipped, which counts as success.
// - Timeouts: a process job's worker is killed at the deadline. A thread job's call cannot be
//   killed: at the deadline the job fails with sluice::timeout_error, its stop token is
//   requested, and whatever the call returns later is discarded (the destructor waits for it).
//
// Thread safety: every member may be called from many threads at once and from inside jobs.
// Exceptions: misuse (a bad name, glob, option, cycle, wave order) throws std::invalid_argument
//   naming the jobs involved, before anything starts; wait() and result() of failed jobs throw
//   sluice::job_failed.
// Cancellation: cancel() ends every job not yet started as skipped (reason cancelled) and
//   requests a stop from (thread) or kills (process) the running ones, which end failed (reason
//   cancelled). fail_fast does the first part at the first failure; running jobs finish.
// Lifetime: the destructor cancels the jobs still wanted, then waits for every call to return.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sluice/clock.hpp>
#include <sluice/detail/jobs/job_body.hpp>
#include <sluice/execution.hpp>
#include <sluice/job_context.hpp>
#include <sluice/job_events.hpp>
#include <sluice/retry.hpp>

namespace sluice {

// A dependency that holds only while no job of the graph has failed.
struct no_failures_t {
  explicit constexpr no_failures_t() = default;
};
inline constexpr no_failures_t no_failures{};

// One entry of job_options::deps: a job name (or pattern filled from the job's args), a
// callable `(const job_args&) -> std::string or std::vector<std::string>`, or no_failures.
class job_dep {
 public:
  job_dep(const char* name) : name_(name) {}  // NOLINT: implicit, so {"a", "b"} works
  job_dep(std::string name) : name_(std::move(name)) {}
  job_dep(no_failures_t) : no_failures_(true) {}
  template <class F>
    requires std::is_invocable_v<const F&, const job_args&> &&
             (!std::is_convertible_v<F, std::string>)
  job_dep(F f) : names_(detail::dep_function(std::move(f))) {}

  const std::string& name() const noexcept { return name_; }
  bool is_no_failures() const noexcept { return no_failures_; }
  const std::function<std::vector<std::string>(const job_args&)>& names() const noexcept {
    return names_;
  }

 private:
  std::string name_;
  std::function<std::vector<std::string>(const job_args&)> names_;
  bool no_failures_ = false;
};

// A conditional reverse dependency (see the model above).
struct when_scheduled {
  explicit when_scheduled(std::string target_pattern) : pattern(std::move(target_pattern)) {}
  std::string pattern;
};

// One entry of job_options::rdeps: a pattern, or when_scheduled(pattern).
class job_rdep {
 public:
  job_rdep(const char* pattern) : pattern_(pattern) {}  // NOLINT: implicit
  job_rdep(std::string pattern) : pattern_(std::move(pattern)) {}
  job_rdep(when_scheduled w) : pattern_(std::move(w.pattern)), conditional_(true) {}
  const std::string& pattern() const noexcept { return pattern_; }
  bool conditional() const noexcept { return conditional_; }

 private:
  std::string pattern_;
  bool conditional_ = false;
};

// A job's options. Aggregate: g.add("x", {.deps = {"y"}, .timeout = 5s}, f).
struct job_options {
  using choices_type = std::map<std::string, std::vector<std::string>>;

  std::vector<job_dep> deps{};
  std::vector<job_rdep> rdeps{};
  std::vector<std::string> locks{};  // jobs sharing a lock name never run at once
  int wave = 0;                      // lower waves finish first; a dep's wave <= the job's
  std::chrono::milliseconds timeout{0};  // per attempt; 0: none
  choices_type choices{};              // the values a parameter may take (globs expand over them)
  execution mode = execution::thread;  // process: in a worker process (or the graph's mode)
  std::optional<retry_policy> retry{};  // attempts of this job (events show each)
};

// A graph's options. Aggregate: sluice::job_graph g{{.parallel = 4}}.
struct job_graph_options {
  std::size_t parallel = 100;           // running jobs at most; >= 1
  execution mode = execution::thread;   // process: every job in a worker process
  live_output live = live_output::automatic;
  std::FILE* output = stderr;           // where the board or the log is written
  std::function<void(const job_event&)> on_event{};  // every event, one at a time
  bool fail_fast = false;               // after the first failure, cancel what has not started
  const sluice::clock* clock = nullptr;  // nullptr -> sluice::clock::system(); for timeouts,
                                         // retry delays and event times
  std::string separator = "::";         // between a prototype's parameters
};

// A finished job that failed, as job_failed lists it.
struct failed_job {
  std::string name;
  job_reason reason = job_reason::none;
  std::string detail;          // what(), or the dependency that failed
  std::exception_ptr error;    // the exception (null for dependency failures)
};

// wait(), wait_all() or result() met jobs that failed. what() lists each with its reason:
// "sluice: 2 jobs failed: lint (exception: bad style); deploy (dependency failed: lint)".
class job_failed : public std::runtime_error {
 public:
  explicit job_failed(std::vector<failed_job> jobs);
  const std::vector<failed_job>& jobs() const noexcept { return jobs_; }

 private:
  std::vector<failed_job> jobs_;
};

// Everything known about one job.
struct job_info {
  std::string name;
  job_state state = job_state::idle;
  job_reason reason = job_reason::none;
  std::string detail;
  std::exception_ptr error;
  std::size_t attempts = 0;             // calls made
  std::chrono::nanoseconds duration{};  // from its first start to its end
  std::string output;                   // ctx.log() of a thread job; stdout+stderr of a process job
  int wave = 0;
  std::vector<std::string> deps;        // resolved once the job is wanted
};

// What start(names) would run, without running it: layers in the order they may run (a job's
// dependencies are in earlier layers; lower waves first).
struct job_plan {
  struct entry {
    std::string job;
    std::string why;  // "started", "dependency of X", "rdep of X", "when_scheduled by X"
  };
  std::vector<std::vector<entry>> layers;
  std::size_t size() const noexcept;
};

class job_graph {
 public:
  job_graph() : job_graph(job_graph_options{}) {}
  // std::invalid_argument when parallel is 0 or the separator is empty.
  explicit job_graph(job_graph_options options);
  job_graph(const job_graph&) = delete;
  job_graph& operator=(const job_graph&) = delete;
  ~job_graph();

  // Adds a job or (a name with `[param]`) a prototype. f is called as f(ctx), f(ctx, stop_token)
  // or f(); it returns a value (kept for result<T>, crossing by sluice::codec in process mode)
  // or nothing. std::invalid_argument: a name already added, a malformed pattern, a choice key
  // that is not a parameter, invalid options, or a process job whose result has no codec.
  template <class F>
  void add(std::string name, job_options options, F f) {
    add_body(std::move(name), std::move(options), detail::make_job_body(std::move(f)));
  }
  template <class F>
  void add(std::string name, F f) {
    add(std::move(name), job_options{}, std::move(f));
  }

  // The jobs a name or glob denotes, made from prototypes where needed (not started).
  std::vector<std::string> create(std::string_view name_or_glob);
  // Wants the jobs (and what they need); jobs already wanted, running or finished stay as they
  // are. Everything is validated before anything is wanted.
  void start(const std::vector<std::string>& names);
  void start(std::string_view name_or_glob) { start(create(name_or_glob)); }
  void start(std::initializer_list<std::string> names) { start(std::vector<std::string>(names)); }
  std::vector<std::string> run(std::string_view name_or_glob);  // create + start

  // Block until the jobs are final; job_failed if any of them failed. std::invalid_argument
  // for a job that does not exist or was never started (the wait could never end).
  void wait(const std::vector<std::string>& names);
  void wait(std::string_view name) { wait(std::vector<std::string>{std::string{name}}); }
  void wait(std::initializer_list<std::string> names) { wait(std::vector<std::string>(names)); }
  void wait_all();  // every wanted job

  job_state state(std::string_view name) const;
  job_info info(std::string_view name) const;
  std::vector<std::string> jobs() const;  // every job made, in the order made

  template <class T>
  T result(std::string_view name) const {
    return std::any_cast<const T&>(*result_of(name, typeid(T)));
  }

  job_plan plan(const std::vector<std::string>& names);
  // The graph of the jobs made, with each edge's kind (dep, rdep, when_scheduled), each node
  // coloured by its state: GraphViz DOT, and JSON {"nodes": [...], "edges": [...]}.
  std::string to_dot() const;
  std::string to_json() const;

  // Cancels: every wanted job not started ends skipped (reason cancelled); running thread jobs
  // get a stop request, running process jobs are killed (both end failed, reason cancelled).
  void cancel();
  // Wants again the jobs that failed and their dependants that never ran (results of the jobs
  // that succeeded are kept) and starts them. Returns their names.
  std::vector<std::string> retry_failed();

 private:
  void add_body(std::string name, job_options options, detail::job_body body);
  const std::any* result_of(std::string_view name, const std::type_info& type) const;

  std::shared_ptr<detail::job_graph_state> state_;
};

}  // namespace sluice
