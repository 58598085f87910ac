// The job graph's public face: waits, queries, plans, export, retry of failures, and the
// sluice::job_graph members that forward to its state.
#include <algorithm>
#include <functional>
#include <stdexcept>

#include <sluice/errors.hpp>

#include "job_graph_state.hpp"
#include "json_text.hpp"

namespace sluice {

namespace detail {

namespace {

failed_job as_failed(const job_rec& j) { return {j.name, j.reason, j.detail, j.error}; }

// Whether `from` reaches `to` through dependencies.
bool depends_on(const job_rec* from, const job_rec* to) {
  std::vector<const job_rec*> stack{from};
  std::set<const job_rec*> seen;
  while (!stack.empty()) {
    const job_rec* j = stack.back();
    stack.pop_back();
    if (j == to) return true;
    if (!seen.insert(j).second) continue;
    for (const auto& e : j->deps) stack.push_back(e.job);
  }
  return false;
}

// Why `caller`, running, could never see `target` end: target, or a dependency it still needs,
// is of a higher wave (it cannot start before the caller ends) or needs a lock the caller holds
// (a waiting job keeps its locks). Empty when nothing stands in the way.
std::string never_ends(const job_rec* caller, const job_rec* target) {
  std::vector<const job_rec*> stack{target};
  std::set<const job_rec*> seen;
  while (!stack.empty()) {
    const job_rec* j = stack.back();
    stack.pop_back();
    if (j->final() || !seen.insert(j).second) continue;
    const std::string via = j == target ? "" : ", which needs " + quoted(j->name);
    if (j->state != job_state::running && j->wave() > caller->wave()) {
      return "job " + quoted(caller->name) + " (wave " + std::to_string(caller->wave()) +
             ") waits for " + quoted(target->name) + via + " (wave " +
             std::to_string(j->wave()) + "), a higher wave that cannot start before " +
             quoted(caller->name) + " ends: the wait could never end";
    }
    if (j->state != job_state::running) {
      for (const auto& l : j->spec->options.locks) {
        const auto& held = caller->spec->options.locks;
        if (std::find(held.begin(), held.end(), l) != held.end()) {
          return "job " + quoted(caller->name) + " waits for " + quoted(target->name) + via +
                 ", which needs lock " + quoted(l) +
                 " that " + quoted(caller->name) + " holds while it waits: the wait could never "
                 "end";
        }
      }
    }
    for (const auto& e : j->deps) stack.push_back(e.job);
  }
  return {};
}

}  // namespace

void job_graph_state::wait(const std::vector<std::string>& names, job_rec* caller,
                           const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  std::vector<job_rec*> targets;
  for (const auto& n : names) {
    for (job_rec* j : resolve(n, caller != nullptr ? caller->name : std::string_view{})) {
      if (j->state == job_state::idle) {
        misuse("wait for job " + quoted(j->name) + ", which was never started: the wait could "
               "never end (start or run it first)");
      }
      if (caller != nullptr && (j == caller || depends_on(j, caller))) {
        misuse("job " + quoted(caller->name) + " waits for " + quoted(j->name) +
               ", which waits for it: the wait could never end");
      }
      if (caller != nullptr && caller->state == job_state::running) {
        if (std::string why = never_ends(caller, j); !why.empty()) misuse(why);
      }
      targets.push_back(j);
    }
  }
  auto all_final = [&] {
    return std::all_of(targets.begin(), targets.end(), [](job_rec* j) { return j->final(); });
  };
  for (job_rec* j : targets) ++j->watchers;
  if (caller != nullptr && !all_final()) {
    // A job blocked here frees its slot, so the jobs it waits for can run.
    if (caller->waiting++ == 0 && caller->holds_slot) {
      --running_slots_;
      dispatch();
    }
    changed_.wait(lock, stop, all_final);
    if (--caller->waiting == 0 && caller->holds_slot) ++running_slots_;
  } else {
    changed_.wait(lock, all_final);
  }
  for (job_rec* j : targets) --j->watchers;
  if (caller != nullptr && !all_final()) {
    // The caller's attempt was stopped (its timeout, a cancel): its result no longer counts.
    throw std::runtime_error("sluice: job " + quoted(caller->name) +
                             " was stopped (timeout or cancel) while it waited for other jobs");
  }
  std::vector<failed_job> failed;
  for (job_rec* j : targets) {
    if (j->state == job_state::failed) failed.push_back(as_failed(*j));
  }
  if (!failed.empty()) throw job_failed(std::move(failed));
}

void job_graph_state::wait_all() {
  std::unique_lock lock(mu_);
  ++all_waiters_;
  changed_.wait(lock, [&] { return unfinished_by_wave_.empty(); });
  --all_waiters_;
  std::vector<failed_job> failed;
  for (job_rec* j : by_order_) {
    if (j->state == job_state::failed) failed.push_back(as_failed(*j));
  }
  if (!failed.empty()) throw job_failed(std::move(failed));
}

job_info job_graph_state::info(std::string_view name) const {
  std::lock_guard lock(mu_);
  const job_rec* j = find(name);
  if (j == nullptr) misuse("unknown job " + quoted(name));
  job_info out;
  out.name = j->name;
  out.state = j->state;
  out.reason = j->reason;
  out.detail = j->detail;
  out.error = j->error;
  out.attempts = j->attempts;
  if (j->final() && j->first_start) {
    out.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(j->end - *j->first_start);
  }
  out.output = j->output;
  out.wave = j->wave();
  for (const auto& e : j->deps) out.deps.push_back(e.job->name);
  return out;
}

std::vector<std::string> job_graph_state::jobs() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const job_rec* j : by_order_) out.push_back(j->name);
  return out;
}

const std::any* job_graph_state::result(std::string_view name, std::string_view type,
                                        std::string* bytes) {
  std::lock_guard lock(mu_);
  const job_rec* j = find(name);
  if (j == nullptr) misuse("result of unknown job " + quoted(name));
  if (j->state == job_state::failed) throw job_failed({as_failed(*j)});
  if (j->state != job_state::succeeded) {
    misuse("result of job " + quoted(name) + ", which has not succeeded (it is " +
           std::string{sluice::to_string(j->state)} + ")");
  }
  const std::type_info& made = *j->spec->body.type;
  if (made.name() != type) {
    misuse("result of job " + quoted(name) + " asked for the wrong type: the job returns " +
           (made == typeid(void) ? std::string{"nothing"} : demangled_name(made)));
  }
  if (bytes != nullptr) {
    if (j->spec->body.encode == nullptr) {
      misuse("job " + quoted(name) + "'s result (" + demangled_name(made) +
             ") cannot reach a process job: its type has no sluice::codec");
    }
    j->spec->body.encode(j->value, *bytes);
  }
  return &j->value;
}

job_plan job_graph_state::plan(const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  closure c = validated_closure(names);
  // A job's layer: (its wave, 1 + the deepest dependency of the same plan in that wave).
  std::map<job_rec*, std::size_t> depth;
  std::function<std::size_t(job_rec*)> depth_of = [&](job_rec* j) -> std::size_t {
    if (auto it = depth.find(j); it != depth.end()) return it->second;
    std::size_t d = 0;
    for (const auto& e : c.deps[j]) {
      if (c.contains(e.job) && e.job->wave() == j->wave()) d = std::max(d, depth_of(e.job) + 1);
    }
    return depth[j] = d;
  };
  std::map<std::pair<int, std::size_t>, std::vector<job_plan::entry>> layers;
  for (job_rec* j : c.order) layers[{j->wave(), depth_of(j)}].push_back({j->name, c.why[j]});
  job_plan out;
  for (auto& [key, entries] : layers) out.layers.push_back(std::move(entries));
  return out;
}

namespace {

std::string_view colour_of(job_state s) {
  switch (s) {
    case job_state::idle: return "white";
    case job_state::wanted: return "lightgrey";
    case job_state::running: return "lightblue";
    case job_state::succeeded: return "palegreen";
    case job_state::failed: return "salmon";
    case job_state::skipped: return "khaki";
  }
  return "white";
}

std::string dot_id(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

}  // namespace

std::string job_graph_state::to_dot() const {
  std::lock_guard lock(mu_);
  std::string out = "digraph jobs {\n  rankdir=LR;\n  node [shape=box, style=filled];\n";
  for (const job_rec* j : by_order_) {
    out += "  " + dot_id(j->name) + " [fillcolor=" + std::string{colour_of(j->state)} +
           ", tooltip=" + dot_id(sluice::to_string(j->state)) + "];\n";
  }
  for (const job_rec* j : by_order_) {
    for (const auto& e : j->deps) {
      out += "  " + dot_id(e.job->name) + " -> " + dot_id(j->name) + " [label=" +
             dot_id(to_string(e.kind)) +
             (e.kind == edge_kind::dep ? "" : ", style=dashed") + "];\n";
    }
  }
  return out + "}\n";
}

std::string job_graph_state::to_json() const {
  std::lock_guard lock(mu_);
  std::string out = "{\"nodes\":[";
  bool first = true;
  for (const job_rec* j : by_order_) {
    out += first ? "" : ",";
    first = false;
    out += "{\"name\":";
    append_json_string(out, j->name);
    out += ",\"state\":";
    append_json_string(out, sluice::to_string(j->state));
    out += ",\"reason\":";
    append_json_string(out, sluice::to_string(j->reason));
    out += ",\"wave\":" + std::to_string(j->wave()) + "}";
  }
  out += "],\"edges\":[";
  first = true;
  for (const job_rec* j : by_order_) {
    for (const auto& e : j->deps) {
      out += first ? "" : ",";
      first = false;
      out += "{\"from\":";
      append_json_string(out, e.job->name);
      out += ",\"to\":";
      append_json_string(out, j->name);
      out += ",\"kind\":";
      append_json_string(out, to_string(e.kind));
      out += "}";
    }
  }
  return out + "]}";
}

void job_graph_state::unlink(job_rec& job) {
  for (const auto& e : job.deps) {
    auto& ds = e.job->dependants;
    ds.erase(std::remove(ds.begin(), ds.end(), &job), ds.end());
  }
  job.deps.clear();
  job.dependants.clear();
}

std::vector<std::string> job_graph_state::retry_failed() {
  std::unique_lock lock(mu_);
  std::vector<job_rec*> again;
  for (job_rec* j : by_order_) {
    const bool cancelled = j->state == job_state::skipped && j->reason == job_reason::cancelled;
    if (j->state == job_state::failed || cancelled) again.push_back(j);
  }
  for (job_rec* j : again) unlink(*j);
  for (job_rec* j : again) {
    j->state = job_state::idle;
    j->reason = job_reason::none;
    j->detail.clear();
    j->error = nullptr;
    j->value.reset();
    j->attempts = 0;
    j->first_start.reset();
    j->output.clear();
    j->pending = 0;
    j->no_failures = false;
  }
  first_failed_.clear();
  closure c;
  collect(c, again, "retry_failed");
  validate(c);
  commit(c);
  dispatch();
  std::vector<std::string> names;
  for (job_rec* j : again) names.push_back(j->name);
  return names;
}

}  // namespace detail

// --- sluice::job_graph --------------------------------------------------------------------------

job_graph::job_graph(job_graph_options options)
    : state_(std::make_shared<detail::job_graph_state>(std::move(options))) {}

job_graph::~job_graph() { state_->shut_down(); }

void job_graph::add_body(std::string name, job_options options, detail::job_body body) {
  state_->add(std::move(name), std::move(options), std::move(body));
}

std::vector<std::string> job_graph::create(std::string_view name_or_glob) {
  return state_->create(name_or_glob);
}
void job_graph::start(const std::vector<std::string>& names) { state_->start(names); }
std::vector<std::string> job_graph::run(std::string_view name_or_glob) {
  auto names = create(name_or_glob);
  start(names);
  return names;
}
void job_graph::wait(const std::vector<std::string>& names) { state_->wait(names, nullptr); }
void job_graph::wait_all() { state_->wait_all(); }
job_state job_graph::state(std::string_view name) const { return state_->info(name).state; }
job_info job_graph::info(std::string_view name) const { return state_->info(name); }
std::vector<std::string> job_graph::jobs() const { return state_->jobs(); }
const std::any* job_graph::result_of(std::string_view name, const std::type_info& type) const {
  return state_->result(name, type.name(), nullptr);
}
job_plan job_graph::plan(const std::vector<std::string>& names) { return state_->plan(names); }
std::string job_graph::to_dot() const { return state_->to_dot(); }
std::string job_graph::to_json() const { return state_->to_json(); }
void job_graph::cancel() { state_->cancel(); }
std::vector<std::string> job_graph::retry_failed() { return state_->retry_failed(); }

std::size_t job_plan::size() const noexcept {
  std::size_t n = 0;
  for (const auto& l : layers) n += l.size();
  return n;
}

namespace {

std::string failed_list(const std::vector<failed_job>& jobs) {
  std::string out = "sluice: " + std::to_string(jobs.size()) +
                    (jobs.size() == 1 ? " job failed: " : " jobs failed: ");
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& j = jobs[i];
    out += (i == 0 ? "" : "; ") + j.name + " (" + std::string{to_string(j.reason)};
    out += j.detail.empty() ? ")" : ": " + j.detail + ")";
  }
  return out;
}

}  // namespace

job_failed::job_failed(std::vector<failed_job> jobs)
    : std::runtime_error(failed_list(jobs)), jobs_(std::move(jobs)) {}

const std::string& job_context::arg(std::string_view key) const {
  auto it = args_->find(key);
  if (it == args_->end()) {
    throw std::invalid_argument("sluice: job '" + *name_ + "' has no parameter '" +
                                std::string{key} + "'");
  }
  return it->second;
}

}  // namespace sluice
