// The job graph's scheduler: names to jobs, the closure of what start() wants, validation, and
// the life of each job (job_graph_state.hpp states the invariants).
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

#include <sluice/detail/saturate.hpp>
#include <sluice/errors.hpp>

#include "job_graph_state.hpp"

namespace sluice::detail {

std::string_view to_string(edge_kind kind) noexcept {
  switch (kind) {
    case edge_kind::dep: return "dep";
    case edge_kind::rdep: return "rdep";
    case edge_kind::when_scheduled: return "when_scheduled";
  }
  return "dep";
}

// --- construction -------------------------------------------------------------------------------

job_graph_state::job_graph_state(job_graph_options options)
    : options_(std::move(options)),
      clock_(clock_or_system(options_.clock)),
      created_(clock_.now()) {
  if (options_.parallel == 0) misuse("job_graph_options.parallel is 0; at least 1 job must run");
  if (options_.separator.empty()) misuse("job_graph_options.separator is empty");
  live_output live = options_.live;
  if (options_.output == nullptr) live = live_output::off;
  if (live == live_output::automatic) {
    live = ::isatty(::fileno(options_.output)) != 0 ? live_output::board : live_output::log;
  }
  if (live == live_output::log) log_ = std::make_unique<plain_log>(options_.output);
  if (live == live_output::board) {
    board_ = std::make_unique<terminal_board>(options_.output);
    ticker_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!shutting_down_) {
        ticker_cv_.wait_for(lock, std::chrono::milliseconds(100));
        if (board_ && !shutting_down_) board_->tick(since_start());
      }
    });
  }
}

job_graph_state::~job_graph_state() = default;

void job_graph_state::add(std::string name, job_options options, job_body body) {
  auto spec = std::make_shared<job_spec>(job_spec{name_pattern{name}, std::move(options),
                                                  std::move(body), execution::thread});
  const job_options& o = spec->options;
  spec->mode = options_.mode == execution::process ? execution::process : o.mode;
  for (const auto& [key, values] : o.choices) {
    const auto& params = spec->pattern.params();
    if (std::find(params.begin(), params.end(), key) == params.end()) {
      misuse("job " + quoted(name) + " has choices for " + quoted(key) +
             ", which is not one of its parameters");
    }
    if (values.empty()) misuse("job " + quoted(name) + " has no choices for " + quoted(key));
  }
  if (o.timeout.count() < 0) misuse("job " + quoted(name) + " has a negative timeout");
  if (o.retry) check_retry_policy(*o.retry, "job " + quoted(name));
  if (spec->mode == execution::process && *spec->body.type != typeid(void) &&
      spec->body.encode == nullptr) {
    misuse("job " + quoted(name) + " runs in a worker process but its result type (" +
           demangled_name(*spec->body.type) + ") has no sluice::codec to cross back with");
  }
  for (const auto& r : o.rdeps) name_pattern{r.pattern()};  // rejects a malformed pattern now

  std::lock_guard lock(mu_);
  if (jobs_.count(name) != 0) misuse("job " + quoted(name) + " was added twice");
  for (const auto& p : protos_) {
    if (p->pattern.text() == name) misuse("job " + quoted(name) + " was added twice");
  }
  if (!o.rdeps.empty()) rdep_declarers_.push_back(spec);
  if (spec->pattern.has_params()) {
    protos_.push_back(std::move(spec));
  } else {
    make_job(std::move(name), std::move(spec), {});
  }
}

job_rec* job_graph_state::find(std::string_view name) const {
  auto it = jobs_.find(name);
  return it == jobs_.end() ? nullptr : it->second.get();
}

job_rec& job_graph_state::make_job(std::string name, std::shared_ptr<const job_spec> spec,
                                   job_args args) {
  auto rec = std::make_unique<job_rec>();
  rec->name = name;
  rec->order = by_order_.size();
  rec->spec = std::move(spec);
  rec->args = std::move(args);
  job_rec& out = *rec;
  by_order_.push_back(&out);
  jobs_.emplace(std::move(name), std::move(rec));
  return out;
}

// --- names to jobs ------------------------------------------------------------------------------

// The jobs `name_or_glob` denotes: an existing job; else the prototype it matches (exactly one),
// expanded over choices where it holds globs; else, for a glob, the existing jobs it matches.
std::vector<job_rec*> job_graph_state::resolve(std::string_view query, std::string_view needed_by) {
  const std::string by = needed_by.empty() ? "" : " (needed by " + quoted(needed_by) + ")";
  if (job_rec* j = find(query)) return {j};
  if (query.find('[') != std::string_view::npos) {
    misuse("job name " + quoted(query) + by + " still has a [param] placeholder");
  }
  const std::shared_ptr<const job_spec>* match = nullptr;
  job_args values;
  for (const auto& p : protos_) {
    auto args = p->pattern.match(query, options_.separator);
    if (!args) continue;
    if (match != nullptr) {
      misuse("job name " + quoted(query) + by + " matches two prototypes: " +
             quoted((*match)->pattern.text()) + " and " + quoted(p->pattern.text()));
    }
    match = &p;
    values = std::move(*args);
  }
  std::vector<job_rec*> out;
  if (match == nullptr) {
    if (has_glob(query)) {
      for (job_rec* j : by_order_) {
        if (glob_match(query, j->name)) out.push_back(j);
      }
      if (out.empty()) misuse("glob " + quoted(query) + by + " matches no job");
      return out;
    }
    misuse("unknown job " + quoted(query) + by + ": no job or prototype has that name");
  }
  const job_spec& proto = **match;
  // Each parameter's candidate values: its glob expanded over the choices, or its value checked.
  std::vector<std::pair<std::string, std::vector<std::string>>> candidates;
  // In the pattern's order, so the product varies the last parameter fastest.
  for (const auto& param : proto.pattern.params()) {
    const std::string& value = values.at(param);
    auto choices = proto.options.choices.find(param);
    const bool glob = has_glob(value);
    if (glob && choices == proto.options.choices.end()) {
      misuse("glob " + quoted(query) + by + " is in the place of parameter " + quoted(param) +
             " of prototype " + quoted(proto.pattern.text()) + ", which has no choices");
    }
    std::vector<std::string> picked;
    if (choices == proto.options.choices.end()) {
      picked.push_back(value);
    } else {
      for (const auto& c : choices->second) {
        if (glob ? glob_match(value, c) : c == value) picked.push_back(c);
      }
      if (!glob && picked.empty()) {
        std::string list;
        for (const auto& c : choices->second) list += (list.empty() ? "" : ", ") + c;
        misuse("job " + quoted(query) + by + ": " + quoted(value) + " is not a choice of " +
               quoted(param) + " (" + list + ")");
      }
    }
    if (picked.empty()) misuse("glob " + quoted(query) + by + " matches no job");
    candidates.emplace_back(param, std::move(picked));
  }
  // The cartesian product, in the order of the choices.
  std::vector<job_args> combos{job_args{}};
  for (const auto& [param, picked] : candidates) {
    std::vector<job_args> next;
    for (const auto& base : combos) {
      for (const auto& v : picked) {
        job_args a = base;
        a[param] = v;
        next.push_back(std::move(a));
      }
    }
    combos = std::move(next);
  }
  for (auto& args : combos) {
    std::vector<std::string> missing;
    std::string name = proto.pattern.fill(args, missing);
    job_rec* j = find(name);
    out.push_back(j != nullptr ? j : &make_job(std::move(name), *match, std::move(args)));
  }
  return out;
}

job_rec* job_graph_state::resolve_one(const std::string& name, std::string_view needed_by) {
  auto found = resolve(name, needed_by);
  if (found.size() != 1) {
    misuse("name " + quoted(name) + " (needed by " + quoted(needed_by) + ") denotes " +
           std::to_string(found.size()) + " jobs; one is needed");
  }
  return found.front();
}

std::vector<std::string> job_graph_state::create(std::string_view name_or_glob) {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (job_rec* j : resolve(name_or_glob, {})) names.push_back(j->name);
  return names;
}

// --- start: the closure, its validation, its commit ---------------------------------------------


void job_graph_state::collect(closure& c, const std::vector<job_rec*>& roots,
                              const std::string& why) {
  std::vector<job_rec*> queue;
  auto want = [&](job_rec* j, std::string reason) {
    if (j->state != job_state::idle || c.contains(j)) return;
    c.deps[j];
    c.why[j] = std::move(reason);
    c.order.push_back(j);
    queue.push_back(j);
  };
  for (job_rec* r : roots) want(r, why);
  for (std::size_t next = 0; next < queue.size(); ++next) {
    job_rec* j = queue[next];
    const job_spec& spec = *j->spec;
    std::vector<job_edge> deps;
    auto add_names = [&](const std::vector<std::string>& names, edge_kind kind) {
      for (const auto& n : names) {
        for (job_rec* d : resolve(n, j->name)) deps.push_back({d, kind});
      }
    };
    for (const job_dep& d : spec.options.deps) {
      if (d.is_no_failures()) {
        c.no_failures[j] = true;
      } else if (d.names()) {
        add_names(d.names()(j->args), edge_kind::dep);
      } else {
        std::vector<std::string> missing;
        std::string name = name_pattern{d.name()}.fill(j->args, missing);
        if (!missing.empty()) {
          misuse("job " + quoted(j->name) + " depends on " + quoted(d.name()) +
                 ", which needs argument " + quoted(missing.front()) + " that " +
                 quoted(j->name) + " does not have");
        }
        add_names({name}, edge_kind::dep);
      }
    }
    // Plain rdeps of other jobs and prototypes: each declarer whose rdep pattern matches j.
    for (const auto& declarer : rdep_declarers_) {
      for (const job_rdep& r : declarer->options.rdeps) {
        if (r.conditional()) continue;
        auto args = name_pattern{r.pattern()}.match(j->name, options_.separator);
        if (!args) continue;
        std::vector<std::string> missing;
        std::string name = declarer->pattern.fill(*args, missing);
        if (!missing.empty()) {
          misuse("job " + quoted(j->name) + " matches rdep " + quoted(r.pattern()) + " of " +
                 quoted(declarer->pattern.text()) + ", which needs argument " +
                 quoted(missing.front()) + " that the match does not give");
        }
        job_rec* d = resolve_one(name, j->name);
        if (d != j) deps.push_back({d, edge_kind::rdep});
      }
    }
    for (const job_edge& e : deps) {
      want(e.job, std::string{e.kind == edge_kind::rdep ? "rdep of " : "dependency of "} + j->name);
    }
    c.deps[j] = std::move(deps);
    // when_scheduled: j's targets are wanted too, and wait for j.
    for (const job_rdep& r : spec.options.rdeps) {
      if (!r.conditional()) continue;
      std::vector<std::string> missing;
      std::string name = name_pattern{r.pattern()}.fill(j->args, missing);
      if (!missing.empty()) {
        misuse("job " + quoted(j->name) + " has when_scheduled(" + quoted(r.pattern()) +
               "), which needs argument " + quoted(missing.front()) + " that " + quoted(j->name) +
               " does not have");
      }
      for (job_rec* t : resolve(name, j->name)) {
        if (t->state == job_state::running || t->final()) {
          misuse("job " + quoted(j->name) + " was started too late: its when_scheduled target " +
                 quoted(t->name) + " is already " + std::string{sluice::to_string(t->state)});
        }
        if (t->state == job_state::wanted) {
          c.extra.push_back({t, {j, edge_kind::when_scheduled}});
        } else {
          want(t, "when_scheduled by " + j->name);
          // Recorded once t's own deps are collected (below, when t is dequeued): kept aside.
          c.extra.push_back({t, {j, edge_kind::when_scheduled}});
        }
      }
    }
  }
  // when_scheduled edges onto jobs of this closure join their deps.
  std::vector<std::pair<job_rec*, job_edge>> onto_old;
  for (auto& [t, e] : c.extra) {
    if (c.contains(t)) {
      c.deps[t].push_back(e);
    } else {
      onto_old.push_back({t, e});
    }
  }
  c.extra = std::move(onto_old);
}

void job_graph_state::validate(const closure& c) const {
  auto deps_of = [&](job_rec* j) {
    std::vector<job_rec*> out;
    auto it = c.deps.find(j);
    if (it != c.deps.end()) {
      for (const auto& e : it->second) out.push_back(e.job);
    } else {
      for (const auto& e : j->deps) out.push_back(e.job);
    }
    for (const auto& [t, e] : c.extra) {
      if (t == j) out.push_back(e.job);
    }
    return out;
  };
  for (job_rec* j : c.order) {
    for (job_rec* d : deps_of(j)) {
      if (d->wave() > j->wave()) {
        misuse("job " + quoted(j->name) + " (wave " + std::to_string(j->wave()) +
               ") depends on " + quoted(d->name) + " (wave " + std::to_string(d->wave()) +
               "), a higher wave");
      }
    }
  }
  for (const auto& [t, e] : c.extra) {
    if (e.job->wave() > t->wave()) {
      misuse("job " + quoted(t->name) + " (wave " + std::to_string(t->wave()) + ") must wait for " +
             quoted(e.job->name) + " (wave " + std::to_string(e.job->wave()) +
             ", when_scheduled), a higher wave");
    }
  }
  // Cycles: depth-first from every new job and every job given a new edge.
  std::map<job_rec*, int> mark;  // 1: on the path, 2: done
  std::vector<job_rec*> path;
  std::function<void(job_rec*)> visit = [&](job_rec* j) {
    mark[j] = 1;
    path.push_back(j);
    for (job_rec* d : deps_of(j)) {
      if (d->final()) continue;
      const int m = mark[d];
      if (m == 1) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), d);
        for (auto it = from; it != path.end(); ++it) cycle += (*it)->name + " -> ";
        misuse("dependency cycle: " + cycle + d->name);
      }
      if (m == 0) visit(d);
    }
    path.pop_back();
    mark[j] = 2;
  };
  for (job_rec* j : c.order) {
    if (mark[j] == 0) visit(j);
  }
  for (const auto& [t, e] : c.extra) {
    if (mark[t] == 0) visit(t);
  }
}

void job_graph_state::commit(closure& c) {
  for (job_rec* j : c.order) {
    j->deps = std::move(c.deps[j]);
    j->no_failures = c.no_failures[j];
    j->state = job_state::wanted;
    j->pending = 0;
    ++unfinished_by_wave_[j->wave()];
    ++wanted_total_;
    run_open_ = true;
    emit(*j, job_event_kind::wanted);
  }
  for (auto& [t, e] : c.extra) {
    t->deps.push_back(e);
    e.job->dependants.push_back(t);
    if (!e.job->final()) {
      if (t->pending++ == 0) ready_.erase({{t->wave(), t->order}, t});
    }
  }
  for (job_rec* j : c.order) {
    for (const auto& e : j->deps) {
      e.job->dependants.push_back(j);
      if (!e.job->final()) ++j->pending;
    }
  }
  for (job_rec* j : c.order) {
    if (j->state != job_state::wanted) continue;  // failed by a cascade of this loop
    auto failed = std::find_if(j->deps.begin(), j->deps.end(),
                               [](const job_edge& e) { return e.job->state == job_state::failed; });
    if (failed != j->deps.end()) {
      finish(*j, job_state::failed, job_reason::dependency_failed, failed->job->name, nullptr);
    } else if (j->pending == 0) {
      become_ready(*j);
    }
  }
  // Extra edges onto a failed job: the target fails.
  for (auto& [t, e] : c.extra) {
    if (t->state == job_state::wanted && e.job->state == job_state::failed) {
      ready_.erase({{t->wave(), t->order}, t});
      finish(*t, job_state::failed, job_reason::dependency_failed, e.job->name, nullptr);
    }
  }
}

job_graph_state::closure job_graph_state::validated_closure(const std::vector<std::string>& names) {
  std::vector<job_rec*> roots;
  for (const auto& n : names) {
    for (job_rec* j : resolve(n, {})) roots.push_back(j);
  }
  closure c;
  collect(c, roots, "started");
  validate(c);
  return c;
}

void job_graph_state::start(const std::vector<std::string>& names) {
  std::unique_lock lock(mu_);
  closure c = validated_closure(names);
  commit(c);
  dispatch();
}

// --- dispatch: wanted -> running ----------------------------------------------------------------

void job_graph_state::become_ready(job_rec& job) {
  if (job.no_failures && !first_failed_.empty()) {
    finish(job, job_state::failed, job_reason::run_aborted, first_failed_, nullptr);
    return;
  }
  ready_.insert({{job.wave(), job.order}, &job});
}

bool job_graph_state::may_start(const job_rec& job) const {
  for (const auto& l : job.spec->options.locks) {
    if (held_locks_.count(l) != 0) return false;
  }
  return true;
}

void job_graph_state::dispatch() {
  auto it = ready_.begin();
  while (it != ready_.end() && running_slots_ < options_.parallel) {
    job_rec& job = *it->second;
    // Strict waves: the lowest unfinished wave runs alone (a ready job is itself unfinished).
    if (job.wave() > unfinished_by_wave_.begin()->first) break;
    if (!may_start(job)) {
      ++it;
      continue;
    }
    it = ready_.erase(it);
    if (job.no_failures && !first_failed_.empty()) {  // a job failed since its deps were met
      finish(job, job_state::failed, job_reason::run_aborted, first_failed_, nullptr);
      it = ready_.begin();
      continue;
    }
    for (const auto& l : job.spec->options.locks) held_locks_.insert(l);
    job.state = job_state::running;
    job.holds_slot = true;
    ++running_slots_;
    launch_attempt(job);
  }
}

void job_graph_state::launch_attempt(job_rec& job) {
  ++job.attempts;
  if (!job.first_start) job.first_start = clock_.now();
  auto attempt = std::make_shared<job_attempt>(*this, job, job.attempts);
  job.current = attempt;
  emit(job, job_event_kind::started);
  if (job.spec->options.timeout.count() > 0) {
    add_timer(saturating_add(clock_.now(), job.spec->options.timeout),
              {&job, job.attempts, false});
  }
  ++calls_live_;
  if (job.spec->mode == execution::process) {
    run_process_attempt(std::move(attempt));
  } else {
    run_thread_attempt(std::move(attempt));
  }
}

// --- ends ---------------------------------------------------------------------------------------

namespace {

job_reason reason_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const timeout_error&) {
    return job_reason::timeout;
  } catch (const worker_crashed&) {
    return job_reason::crashed;
  } catch (const remote_error&) {
    return job_reason::remote_exception;
  } catch (...) {
    return job_reason::exception;
  }
}

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

bool is_skip(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const skipped&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

void job_graph_state::attempt_ended(std::shared_ptr<job_attempt> attempt,
                                    attempt_outcome outcome) {
  std::lock_guard lock(mu_);
  // The runner destroys `outcome` once this returns, outside the mutex. The exception is taken
  // out here so its owner count drops under the mutex: a reader of job.error that took the
  // mutex is then ordered before its last owner deletes it (ThreadSanitizer cannot see
  // std::exception_ptr's own atomics in libstdc++).
  const std::exception_ptr error = std::move(outcome.error);
  job_rec& job = attempt->job();
  const bool counts = !attempt->abandoned() && job.current == attempt;
  attempt.reset();
  if (--calls_live_ == 0) changed_.notify_all();
  if (!outcome.output.empty()) job.output += outcome.output;
  if (!counts) return;
  job.current.reset();
  if (!error) {
    job.value = std::move(outcome.value);
    finish(job, job_state::succeeded, job_reason::none, {}, nullptr);
  } else {
    attempt_failed(job, error);
  }
  dispatch();
}

void job_graph_state::attempt_failed(job_rec& job, std::exception_ptr error) {
  if (is_skip(error)) {
    finish(job, job_state::skipped, job_reason::skipped, {}, nullptr);
    return;
  }
  const auto& retry = job.spec->options.retry;
  if (retry && job.attempts < retry->max_attempts && retry_allows(*retry, error) &&
      !shutting_down_) {
    emit(job, job_event_kind::retrying, what_of(error), error);
    add_timer(saturating_add(clock_.now(), retry_delay(*retry, job.attempts)),
              {&job, job.attempts, true});
    return;
  }
  finish(job, job_state::failed, reason_of(error), what_of(error), error);
}

void job_graph_state::finish(job_rec& job, job_state state, job_reason reason, std::string detail,
                             std::exception_ptr error) {
  const bool was_wanted = job.state == job_state::wanted;
  if (was_wanted) ready_.erase({{job.wave(), job.order}, &job});
  job.state = state;
  job.reason = reason;
  job.detail = std::move(detail);
  job.error = error;
  job.end = clock_.now();
  if (job.holds_slot) {
    job.holds_slot = false;
    if (job.waiting == 0) --running_slots_;
  }
  if (job.current) {
    job.current->abandon();
    job.current.reset();
  }
  for (const auto& l : job.spec->options.locks) {
    if (!was_wanted) held_locks_.erase(l);
  }
  if (auto w = unfinished_by_wave_.find(job.wave()); --w->second == 0) unfinished_by_wave_.erase(w);
  emit(job, state == job_state::succeeded ? job_event_kind::succeeded
            : state == job_state::skipped ? job_event_kind::skipped
                                          : job_event_kind::failed,
       job.detail, error);
  if (job.watchers > 0 || (all_waiters_ > 0 && unfinished_by_wave_.empty())) {
    changed_.notify_all();
  }
  if (state == job_state::failed && reason != job_reason::cancelled) {
    if (first_failed_.empty()) first_failed_ = job.name;
    if (options_.fail_fast) cancel_pending();
  }
  for (job_rec* d : job.dependants) {
    if (d->state != job_state::wanted) continue;
    if (state == job_state::failed) {
      finish(*d, job_state::failed, job_reason::dependency_failed, job.name, nullptr);
    } else if (--d->pending == 0) {
      become_ready(*d);
    }
  }
  if (unfinished_by_wave_.empty() && run_open_) {
    run_open_ = false;
    const auto elapsed = since_start();
    if (log_) log_->finish(elapsed);
    if (board_) board_->finish(elapsed);
  }
}

void job_graph_state::cancel_pending() {
  std::vector<job_rec*> pending;
  for (job_rec* j : by_order_) {
    if (j->state == job_state::wanted) pending.push_back(j);
  }
  // Every one becomes final before any dependant is looked at, so none of them starts.
  for (job_rec* j : pending) {
    ready_.erase({{j->wave(), j->order}, j});
    j->state = job_state::skipped;
  }
  for (job_rec* j : pending) {
    j->state = job_state::wanted;
    j->dependants.clear();  // all of them wanted, hence in `pending` too, or final
    finish(*j, job_state::skipped, job_reason::cancelled, "cancelled", nullptr);
  }
}

void job_graph_state::cancel() {
  std::lock_guard lock(mu_);
  cancel_pending();
  for (job_rec* j : by_order_) {
    if (j->state == job_state::running) {
      finish(*j, job_state::failed, job_reason::cancelled, "cancelled", nullptr);
    }
  }
  dispatch();
}

// --- timers -------------------------------------------------------------------------------------

void job_graph_state::add_timer(clock::time_point at, timer_entry entry) {
  const bool sooner = timers_.empty() || at < timers_.begin()->first;
  timers_.emplace(at, entry);
  if (!timer_thread_.joinable()) {
    timer_thread_ = std::thread([this] { timer_loop(); });
  } else if (sooner) {
    timer_wake_.request_stop();
    timer_cv_.notify_all();
  }
}

void job_graph_state::timer_loop() {
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    const auto [at, entry] = *timers_.begin();
    if (clock_.now() < at) {
      timer_wake_ = std::stop_source{};
      const std::stop_token wake = timer_wake_.get_token();
      lock.unlock();
      clock_.sleep_until(at, wake);
      lock.lock();
      continue;
    }
    timers_.erase(timers_.begin());
    job_rec& job = *entry.job;
    if (job.state != job_state::running || job.attempts != entry.attempt) continue;
    if (entry.retry) {
      launch_attempt(job);
    } else if (job.current) {
      job.current->abandon();
      job.current.reset();
      attempt_failed(job, std::make_exception_ptr(timeout_error(
                              "sluice: job " + quoted(job.name) + " ran past its timeout of " +
                              std::to_string(job.spec->options.timeout.count()) + "ms (attempt " +
                              std::to_string(entry.attempt) + ")")));
    }
    dispatch();
  }
}


// --- events -------------------------------------------------------------------------------------

std::chrono::nanoseconds job_graph_state::since_start() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - created_);
}

void job_graph_state::emit(job_rec& job, job_event_kind kind, std::string detail,
                           std::exception_ptr error) {
  if (!options_.on_event && !log_ && !board_) return;
  job_event e;
  e.seq = ++seq_;
  e.time = since_start();
  e.job = job.name;
  e.event = kind;
  e.state = job.state;
  e.reason = job.reason;
  e.attempt = job.attempts;
  e.total = wanted_total_;
  e.detail = std::move(detail);
  e.error = std::move(error);
  if (job.final()) {
    if (job.first_start) {
      e.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(job.end - *job.first_start);
    }
    if (job.state == job_state::failed) {
      constexpr std::size_t tail = 4096;
      e.output = job.output.size() > tail ? job.output.substr(job.output.size() - tail) : job.output;
    }
  }
  if (options_.on_event) options_.on_event(e);
  if (log_) (*log_)(e);
  if (board_) (*board_)(e);
}

// --- shutting down ------------------------------------------------------------------------------

void job_graph_state::shut_down() {
  std::unique_lock lock(mu_);
  cancel_pending();
  for (job_rec* j : by_order_) {
    if (j->state == job_state::running) {
      finish(*j, job_state::failed, job_reason::cancelled, "cancelled: the graph was destroyed",
             nullptr);
    }
  }
  changed_.wait(lock, [&] { return calls_live_ == 0; });
  shutting_down_ = true;
  timer_wake_.request_stop();
  timer_cv_.notify_all();
  ticker_cv_.notify_all();
  lock.unlock();
  if (timer_thread_.joinable()) timer_thread_.join();
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace sluice::detail
