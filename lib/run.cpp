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
#include <sluice/detail/engine/shape_stats.hpp>

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

void run_state::add_shape(shape_row& row) { shapes_.push_back(&row); }

void run_state::finish_build() {
  // Pipeline order among the shapes standing at one position: first the in_orders that end
  // there, the innermost first (it closes the shape nested in the other's branch), then the
  // shapes that begin there, the outermost first (the other is in its first branch). The task
  // at that position comes after them all.
  std::stable_sort(shapes_.begin(), shapes_.end(), [](const shape_row* a, const shape_row* b) {
    if (a->position() != b->position()) return a->position() < b->position();
    const bool a_ends = a->kind() == stage_kind::in_order;
    const bool b_ends = b->kind() == stage_kind::in_order;
    if (a_ends != b_ends) return a_ends;
    return a_ends ? a->depth() > b->depth() : a->depth() < b->depth();
  });
  // Several shapes of one kind at one position (one nested first in another's first branch):
  // the first in pipeline order is "zip#3", the next ones "zip#3.2", "zip#3.3".
  for (std::size_t i = 0; i < shapes_.size(); ++i) {
    shape_row& row = *shapes_[i];
    std::size_t same = 1;
    for (std::size_t j = 0; j < i; ++j) {
      if (shapes_[j]->kind() == row.kind() && shapes_[j]->position() == row.position()) ++same;
    }
    std::string name = shape_name(row.kind(), row.position());
    if (same > 1) {
      name += '.';
      name += std::to_string(same);
    }
    row.set_row_name(std::move(name));
  }
  rows_.clear();
  rows_.reserve(counters_.size() + shapes_.size());
  std::size_t next_shape = 0;
  for (std::size_t task = 0; task < counters_.size(); ++task) {
    while (next_shape < shapes_.size() && shapes_[next_shape]->position() <= task + 1) {
      rows_.push_back(counters_.size() + next_shape++);
    }
    rows_.push_back(task);
  }
  while (next_shape < shapes_.size()) rows_.push_back(counters_.size() + next_shape++);
}

const char* kind_name(stage_kind kind) noexcept {
  switch (kind) {
    case stage_kind::task:
      return "task";
    case stage_kind::batch:
      return "batch";
    case stage_kind::fan_out:
      return "fan_out";
    case stage_kind::route:
      return "route";
    case stage_kind::zip:
      return "zip";
    case stage_kind::in_order:
      return "in_order";
  }
  return "task";
}

std::string shape_name(stage_kind kind, std::size_t position) {
  return std::string(kind_name(kind)) + "#" + std::to_string(position);
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
  const std::size_t tasks = counters_.size();
  out.reserve(rows_.empty() ? tasks : rows_.size());
  const auto add_row = [&](std::size_t row) {
    task_stats s;
    if (row >= tasks) {
      const shape_row& shape = *shapes_[row - tasks];
      s.name = shape.row_name();
      s.kind = shape.kind();
      shape.read(s);
      out.push_back(std::move(s));
      return;
    }
    const auto& c = counters_[row];
    if (c) {
      s.name = c->name;
      s.kind = c->kind;
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
  };
  if (rows_.empty()) {
    for (std::size_t task = 0; task < tasks; ++task) add_row(task);
  } else {
    for (const std::size_t row : rows_) add_row(row);
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
      if (s.kind != stage_kind::task && s.kind != stage_kind::batch) continue;  // no shapes
      message += ' ';
      message += s.name;
    }
  }
  throw std::invalid_argument(message);
}

}  // namespace sluice::detail
