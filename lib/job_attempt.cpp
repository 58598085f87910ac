// A job's attempts: the context's calls forwarded to the graph, and the thread runner.
#include <sstream>

#include "job_graph_state.hpp"
#include "spare_threads.hpp"

namespace sluice::detail {

void job_attempt::abandon() {
  abandoned_ = true;
  stop_.request_stop();
  if (kill_) kill_();
}

void job_attempt::set_kill(std::function<void()> kill) {
  kill_ = std::move(kill);
  if (abandoned_ && kill_) kill_();
}

std::vector<std::string> job_attempt::create(std::string_view name_or_glob) {
  return graph_->create(name_or_glob);
}

void job_attempt::start(const std::vector<std::string>& names) { graph_->start(names); }

void job_attempt::wait(const std::vector<std::string>& names) {
  graph_->wait(names, job_, stop_.get_token());
}

const std::any* job_attempt::result(std::string_view name, const std::type_info& type,
                                    std::string& /*bytes*/) {
  return graph_->result(name, type.name(), nullptr);
}

namespace {

// While a runner reports an attempt's end, the first thread job that end lets start is kept for
// this thread (it runs next, without waking another); null at every other time.
thread_local std::shared_ptr<job_attempt>* kept_for_this_thread = nullptr;

attempt_outcome call(job_attempt& attempt) {
  // A job's name, args and spec never change once it is made: read here without the lock.
  const job_rec& job = attempt.job();
  std::ostringstream log;
  attempt_outcome outcome;
  {
    job_context ctx(attempt, job.name, job.args, attempt.stop_token(), log);
    try {
      outcome.value = job.spec->body.call(ctx);
    } catch (...) {
      outcome.error = std::current_exception();
    }
  }
  outcome.output = std::move(log).str();
  return outcome;
}

void run_thread_calls(void* arg) {
  std::shared_ptr<job_attempt> attempt{std::move(*static_cast<std::shared_ptr<job_attempt>*>(arg))};
  delete static_cast<std::shared_ptr<job_attempt>*>(arg);
  while (attempt) {
    attempt_outcome outcome = call(*attempt);
    job_graph_state& graph = attempt->graph();
    std::shared_ptr<job_attempt> next;
    kept_for_this_thread = &next;
    graph.attempt_ended(std::move(attempt), std::move(outcome));
    kept_for_this_thread = nullptr;
    attempt = std::move(next);
  }
}

}  // namespace

void run_thread_attempt(std::shared_ptr<job_attempt> attempt) {
  if (kept_for_this_thread != nullptr && !*kept_for_this_thread) {
    *kept_for_this_thread = std::move(attempt);
    return;
  }
  run_on_spare_thread(&run_thread_calls, new std::shared_ptr<job_attempt>(std::move(attempt)));
}

}  // namespace sluice::detail
