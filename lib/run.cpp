// A run's life: building, starting its activations, stopping, joining. An activation's own
// steps are in activation.cpp; what gives activations their threads is in executor.hpp.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <sluice/circuit_breaker.hpp>
#include <sluice/detail/engine/barrier.hpp>
#include <sluice/detail/engine/run.hpp>

#include "executor.hpp"

namespace sluice::detail {

// ---- run_state ----

run_state::run_state() = default;

run_state::~run_state() {
  shutdown();
  engine_.reset();
}

void run_state::add_target(activation_target& target, std::size_t workers) {
  target.graph_node_ = targets_.size();
  // More workers than cores: its calls block, and the run's quick workers share their cores.
  if (workers > std::max(1U, std::thread::hardware_concurrency())) blocking_ = true;
  targets_.push_back(&target);
  demand_ += workers;
}

void run_state::add_starter(activation_target& target, std::size_t count) {
  starters_.emplace_back(&target, count);
}

stage_counters& run_state::counters(std::size_t position, std::string name) {
  if (counters_.size() < position) counters_.resize(position);
  auto& slot = counters_[position - 1];
  slot = std::make_unique<stage_counters>();
  slot->name = std::move(name);
  slot->run = this;
  return *slot;
}

void run_state::report(const pipeline_event& event) noexcept {
  if (!event_hook_) return;
  try {
    event_hook_(event);
  } catch (...) {
    fail(std::current_exception());
  }
}

void run_state::mark_drained() noexcept {
  drained_.store(true, std::memory_order_release);
  report(pipeline_event{.kind = pipeline_event_kind::drained,
                        .task = counters_.empty() ? std::string_view{} : counters_.front()->name});
}

void run_state::report_circuit(stage_counters& counters) noexcept {
  if (!event_hook_ || counters.breaker == nullptr) return;
  const circuit_state now = counters.breaker->state();
  // Relaxed: a statistic-like latch; the exchange alone decides which worker reports a change.
  const int before = counters.circuit_seen.exchange(static_cast<int>(now), std::memory_order_relaxed);
  if (before == static_cast<int>(now) || (before == -1 && now == circuit_state::closed)) return;
  report({.kind = pipeline_event_kind::circuit_changed, .task = counters.name, .circuit = now});
}

void run_state::start() {
  if (started_) return;
  started_ = true;
  enable_asymmetric_barrier();
  const std::size_t demand = std::max<std::size_t>(demand_, 1);
  near_ = std::min<std::size_t>(demand, std::max(1U, std::thread::hardware_concurrency()));
  engine_ = make_executor(near_, demand, targets_);
  for (auto [target, count] : starters_) {
    for (std::size_t i = 0; i < count; ++i) {
      target->active_.fetch_add(1, std::memory_order_acq_rel);  // claimed: starters are alive
      enqueue(*target);
    }
  }
}

void run_state::enqueue(activation_target& target) {
  // A serial task's activation starts on the near tier while no more activations are alive than
  // it has slots: one is free there then, since each live activation holds at most one thread
  // (see tbb_engine). A concurrent task's activations start far: they come in bursts, and oneTBB,
  // waking workers for a burst, may serve the far tier first while a near activation waits, its
  // workers coming and going between the tiers (docs/performance.md, "Decisions": tiers).
  const std::size_t live = add_live();
  starting_.fetch_add(1, std::memory_order_relaxed);
  engine_->submit(target.graph_node_, live <= near_ && target.concurrency_ == 1);
}

std::size_t run_state::add_live() {
  std::lock_guard lock(live_mu_);
  return ++live_;
}

void run_state::activation_done() noexcept {
  std::lock_guard lock(live_mu_);
  if (--live_ == 0) live_cv_.notify_all();  // under the lock: the run may be freed right after
}

void run_state::fail(std::exception_ptr error) noexcept {
  if (stopping_.load(std::memory_order_acquire)) return;
  if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::move(error);
  stop();
}

void run_state::cancel() noexcept {
  cancelled_.store(true, std::memory_order_release);
  stop();
  // Under the lock: a join_unless_cancelled() between its look and its wait still wakes.
  std::lock_guard lock(live_mu_);
  live_cv_.notify_all();
}

void run_state::stop_with(std::stop_token token) { links_.emplace_back(token, canceller{this}); }

void run_state::drain_with(std::stop_token token) {
  if (!token.stop_possible()) return;  // pmap's default: nothing to link
  drain_links_.emplace_back(token, drainer{this});
}

void run_state::stop() noexcept {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  stop_.request_stop();
  for (auto& n : nodes_) n->wake();
}

void run_state::shutdown() noexcept {
  if (started_ && !joined_) {
    cancel();
    join();
  }
}

void run_state::join() noexcept {
  if (!started_ || joined_) return;
  {
    std::unique_lock lock(live_mu_);
    live_cv_.wait(lock, [&] { return live_ == 0; });
  }
  // Every activation has returned from our code; let the executor finish its own bookkeeping.
  engine_->wait();
  joined_ = true;
}

bool run_state::join_unless_cancelled() noexcept {
  if (!started_ || joined_) return true;
  {
    std::unique_lock lock(live_mu_);
    live_cv_.wait(lock, [&] { return live_ == 0 || cancelled(); });
    if (live_ != 0) return false;
  }
  join();
  return true;
}

std::exception_ptr run_state::error() const noexcept {
  return failed_.load(std::memory_order_acquire) ? error_ : nullptr;
}

std::vector<task_stats> run_state::stats() const {
  std::vector<task_stats> out;
  out.reserve(counters_.size());
  for (const auto& c : counters_) {
    task_stats s;
    if (c) {
      s.name = c->name;
      s.items_in = c->items_in.load(std::memory_order_relaxed);
      s.items_out = c->items_out.load(std::memory_order_relaxed);
      s.failed = c->failed.load(std::memory_order_relaxed);
      s.retried = c->retried.load(std::memory_order_relaxed);
      s.in_flight = c->in_flight.load(std::memory_order_relaxed);
      s.busy = std::chrono::nanoseconds(c->busy_ns.load(std::memory_order_relaxed));
      s.blocked = std::chrono::nanoseconds(c->blocked_ns.load(std::memory_order_relaxed));
      s.queued = c->unstarted.load(std::memory_order_relaxed);
      if (c->queued != nullptr) s.queued += c->queued(c->queue);
      if (c->breaker != nullptr) s.circuit = c->breaker->state();
    }
    out.push_back(std::move(s));
  }
  return out;
}

const stage_counters* run_state::find_counters(const std::string& name) const noexcept {
  for (const auto& c : counters_) {
    if (c && c->name == name) return c.get();
  }
  return nullptr;
}

void reject_late_hook() {
  throw std::logic_error(
      "sluice: stream::on_event() after the run started; set the hook before the first pull");
}

const std::atomic<std::uint64_t>& items_out_of(const run_state* run, const std::string& task) {
  if (run != nullptr) {
    if (const stage_counters* c = run->find_counters(task)) return c->items_out;
  }
  std::string message = "sluice: show_progress: the bar is to count the items of task '";
  message += task;
  message += "', but ";
  if (run == nullptr) {
    message += "the stream a join task reads has no tasks of its own";
  } else {
    message += "the pipeline has no task of that name; its tasks:";
    for (const task_stats& s : run->stats()) {
      message += ' ';
      message += s.name;
    }
  }
  throw std::invalid_argument(message);
}

}  // namespace sluice::detail
