// This header defines sluice::job_context, what a job of a sluice::job_graph (sluice/jobs.hpp)
// receives: its name and `[param]` values, its dependencies' results, a stop token, a log of its
// own, and the graph's create / start / run / wait for jobs started from inside a job;
// sluice::job_args, the `[param]` values by name; and sluice::skipped, which a job throws to
// end as skipped.
//
// Example:
//   g.add("build::[env]", {.deps = {"fetch::[env]"}}, [](sluice::job_context& ctx) {
//     auto src = ctx.result<std::string>("fetch::" + ctx.arg("env"));
//     ctx.log() << "building " << src << '\n';
//     if (ctx.arg("env") == "none") throw sluice::skipped{};
//     return compile(src, ctx.stop_token());
//   });
//
// In a process job (execution::process) the same calls work: create, start, run, wait and
// result travel to the graph over the worker's pipe, and results cross by sluice::codec.
// Thread safety: a context belongs to its job's call; use it from that call's thread.
// Exceptions: result() of a job that failed throws sluice::job_failed; of an unknown job, of a
//   job that has not succeeded, or with the wrong type, std::invalid_argument naming the job.
//   create, start, run and wait throw what job_graph's members of those names throw.
#pragma once

#include <any>
#include <functional>
#include <initializer_list>
#include <map>
#include <ostream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <sluice/codec.hpp>

namespace sluice {

// A job's `[param]` values by parameter name ("env" -> "dev").
using job_args = std::map<std::string, std::string, std::less<>>;

// Thrown by a job to end as job_state::skipped, which counts as success for its dependants.
struct skipped : std::exception {
  const char* what() const noexcept override { return "sluice: job skipped"; }
};

class job_context;

namespace detail {

// What a context asks of the graph that runs its job: the graph itself for a thread job, the
// pipe to the graph's process for a process job.
class job_host {
 public:
  virtual ~job_host() = default;
  virtual std::vector<std::string> create(std::string_view name_or_glob) = 0;
  virtual void start(const std::vector<std::string>& names) = 0;
  virtual void wait(const std::vector<std::string>& names) = 0;
  // The result of `name` (which must have succeeded) as `type`: a pointer to the value in this
  // process, or its codec bytes in `bytes` (process jobs); throws as job_context::result says.
  virtual const std::any* result(std::string_view name, const std::type_info& type,
                                 std::string& bytes) = 0;
};

}  // namespace detail

class job_context {
 public:
  job_context(detail::job_host& host, const std::string& name, const job_args& args,
              std::stop_token stop, std::ostream& log) noexcept
      : host_(&host), name_(&name), args_(&args), stop_(std::move(stop)), log_(&log) {}
  job_context(const job_context&) = delete;
  job_context& operator=(const job_context&) = delete;

  const std::string& name() const noexcept { return *name_; }
  // The value of `[key]`; std::invalid_argument naming the job when it has no such parameter.
  const std::string& arg(std::string_view key) const;
  const job_args& params() const noexcept { return *args_; }

  // The value job `name` returned; it must have succeeded (a dependency has, when this job runs).
  template <class T>
  T result(std::string_view name) {
    std::string bytes;
    if (const std::any* value = host_->result(name, typeid(T), bytes)) {
      return std::any_cast<const T&>(*value);
    }
    if constexpr (has_codec<T>) {
      return sluice::decode<T>(bytes);
    } else {
      throw std::invalid_argument("sluice: job '" + std::string{name} +
                                  "': its result cannot reach a process job: its type has no "
                                  "sluice::codec");
    }
  }

  // As job_graph's members: from inside a job, a job may make and start others and wait for
  // them. A job blocked in wait() does not hold one of the graph's `parallel` slots; when its
  // attempt is stopped (timeout, cancel) the wait ends at once by throwing. A wait that could
  // never end (for itself, a job that needs it, a higher wave, a lock it holds) throws
  // std::invalid_argument.
  std::vector<std::string> create(std::string_view name_or_glob) { return host_->create(name_or_glob); }
  void start(const std::vector<std::string>& names) { host_->start(names); }
  void start(std::string_view name) { host_->start(create(name)); }
  void start(std::initializer_list<std::string> names) {
    host_->start(std::vector<std::string>(names));
  }
  std::vector<std::string> run(std::string_view name_or_glob) {
    auto names = create(name_or_glob);
    host_->start(names);
    return names;
  }
  void wait(const std::vector<std::string>& names) { host_->wait(names); }
  void wait(std::string_view name) { host_->wait({std::string{name}}); }
  void wait(std::initializer_list<std::string> names) {
    host_->wait(std::vector<std::string>(names));
  }

  // Requested when the job times out or the graph is cancelled: a job that checks it can stop.
  std::stop_token stop_token() const noexcept { return stop_; }
  // The job's own output, kept with it and shown with its failure (a process job's stdout and
  // stderr are kept too).
  std::ostream& log() noexcept { return *log_; }

 private:
  detail::job_host* host_;
  const std::string* name_;
  const job_args* args_;
  std::stop_token stop_;
  std::ostream* log_;
};

}  // namespace sluice
