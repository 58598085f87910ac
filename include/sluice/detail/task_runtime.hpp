// Internal: the runtimes of a task in one run. An item's path through a task:
//   upstream push -> channel<In> -> a worker's batch -> fn(item) -> port<Out>::push -> downstream
// producer_runtime runs the first task once; task_runtime runs every other plain or branch task
// on activations; join_runtime runs sluice::join tasks, whose workers block pulling a stream.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/detail/channel.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/run.hpp>
#include <sluice/detail/stage.hpp>
#include <sluice/stream.hpp>

namespace sluice::detail {

// Pushes what one call returned: the value itself, or each element when the task is a branch.
// Returns false when downstream wants no more.
template <class Out, bool Branch, class Result>
bool emit_result(port<Out>& out, stage_counters& counters, Result&& result, item_meta meta,
                 const run_state& run) {
  if constexpr (Branch) {
    for (auto&& element : result) {
      if (run.stopping()) return false;
      if (!out.push(envelope<Out>{Out(std::move(element)), meta})) return false;
      counters.items_out.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
  } else {
    if (!out.push(envelope<Out>{Out(std::forward<Result>(result)), meta})) return false;
    counters.items_out.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
}

// The first task: called once with the run's arguments.
template <class Fn, class Out, bool Branch, class... Args>
class producer_runtime final : public activation_target {
 public:
  producer_runtime(run_state& run, const Fn& fn, task_config config, port<Out>& out,
                   std::tuple<Args...> args)
      : activation_target(run, 1),
        fn_(fn),
        config_(std::move(config)),
        out_(out),
        counters_(run.counters(config_.position, config_.name)),
        args_(std::move(args)) {
    out_.add_producer(true);
    run.add_target(*this, 1);
    run.add_starter(*this, 1);
  }

 private:
  void run_activation() noexcept override {
    busy_timer timer(counters_);
    counters_.in_flight.store(1, std::memory_order_relaxed);
    try {
      auto&& result = std::apply(
          [&](auto&... args) -> decltype(auto) {
            return call(fn_, run_.stop_token(), std::move(args)...);
          },
          args_);
      emit(std::forward<decltype(result)>(result));
    } catch (...) {
      report_failure<int>(run_, config_, counters_, sequence_, std::current_exception(), nullptr);
    }
    counters_.in_flight.store(0, std::memory_order_relaxed);
    timer.stop();
    active_.fetch_sub(1, std::memory_order_acq_rel);
    out_.producer_done();
  }

  template <class Result>
  void emit(Result&& result) {
    if constexpr (Branch) {
      for (auto&& element : result) {
        if (run_.stopping()) return;
        if (!out_.push(envelope<Out>{Out(std::move(element)), {sequence_, 0}})) return;
        ++sequence_;
        counters_.items_out.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      if (out_.push(envelope<Out>{Out(std::forward<Result>(result)), {0, 0}})) {
        counters_.items_out.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  const Fn& fn_;
  task_config config_;
  port<Out>& out_;
  stage_counters& counters_;
  std::tuple<Args...> args_;
  std::uint64_t sequence_ = 0;
};

// A plain task (one output per item) or a branch task (a range of outputs per item), run by up
// to `concurrency` activations. With `ordered`, outputs leave in the order the items were taken
// from the input queue: each item gets a ticket, and results wait in a window of
// max(capacity, concurrency) slots until every earlier ticket has been emitted.
template <class Fn, class In, class Out, bool Branch>
class task_runtime final : public activation_target {
  using result_type = std::remove_cvref_t<call_result_t<Fn, In&&>>;
  static constexpr std::size_t kBatch = batch_limit(sizeof(envelope<In>));

 public:
  task_runtime(run_state& run, const Fn& fn, task_config config, std::size_t in_capacity,
               port<Out>& out)
      : activation_target(run, config.concurrency),
        fn_(fn),
        config_(std::move(config)),
        in_(run.make<channel<In>>(run, in_capacity, this)),
        out_(out),
        counters_(run.counters(config_.position, config_.name)) {
    out_.add_producer(config_.concurrency == 1 || config_.ordered);
    counters_.queued = &channel<In>::size_of;
    counters_.queue = &in_;
    if (config_.ordered) window_.resize(std::max(config_.capacity, config_.concurrency));
    run.add_target(*this, config_.concurrency);
  }

  port<In>& input() noexcept { return in_; }

 private:
  struct slot {
    bool filled = false;
    std::optional<result_type> result{};  // empty: the item failed or was a tombstone
    bool tombstone = false;
    item_meta meta{};
  };

  void run_activation() noexcept override {
    std::array<envelope<In>, kBatch> batch;
    // A worker of a concurrent task takes one item at a time: items it had taken would wait
    // behind a call that blocks while the task's other workers sit idle.
    const std::size_t want = config_.concurrency == 1 ? kBatch : 1;
    do {
      while (!run_.stopping()) {
        std::uint64_t ticket = 0;
        const std::size_t taken = take(batch.data(), want, ticket);
        if (taken == 0) break;
        counters_.items_in.fetch_add(taken, std::memory_order_relaxed);
        busy_timer timer(counters_);
        for (std::size_t i = 0; i < taken && !run_.stopping(); ++i) {
          in_.release(1);
          process(batch[i], ticket + i);
          batch[i].value.reset();
        }
        timer.stop();
      }
    } while (retire());
  }

  // Takes up to `want` items, spinning briefly when the queue looks empty.
  std::size_t take(envelope<In>* out, std::size_t want, std::uint64_t& first_ticket) {
    for (int spin = 0; spin < 64; ++spin) {
      std::size_t taken = 0;
      if (config_.ordered) {
        std::lock_guard lock(take_mu_);
        taken = in_.try_pop_bulk(out, want);
        first_ticket = next_ticket_;
        next_ticket_ += taken;
      } else {
        taken = in_.try_pop_bulk(out, want);
      }
      if (taken != 0 || in_.closed() || run_.stopping()) return taken;
    }
    return 0;
  }

  // Ends an activation that found no work; true when it should go on after all.
  bool retire() noexcept {
    active_.fetch_sub(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (run_.stopping()) return false;
    if (!in_.empty()) return try_claim();
    if (in_.closed() && in_.empty() && active_.load(std::memory_order_seq_cst) == 0 &&
        !finished_.exchange(true, std::memory_order_acq_rel)) {
      out_.producer_done();
    }
    return false;
  }

  void process(envelope<In>& item, std::uint64_t ticket) {
    if (downstream_gone_.load(std::memory_order_relaxed)) return;
    if (!item.value) {  // a tombstone from inside a zip branch: pass it on
      if (config_.ordered) {
        settle(ticket, std::nullopt, true, item.meta);
      } else {
        out_.push(envelope<Out>{std::nullopt, item.meta});
      }
      return;
    }
    counters_.in_flight.fetch_add(1, std::memory_order_relaxed);
    bool delivered = true;
    try {
      if (config_.ordered) {
        std::optional<result_type> result{invoke(item)};
        counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
        settle(ticket, std::move(result), false, item.meta);
        return;
      }
      delivered = emit_result<Out, Branch>(out_, counters_, invoke(item), item.meta, run_);
    } catch (...) {
      counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
      failed(item, ticket, std::current_exception());
      return;
    }
    counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (!delivered) downstream_finished();
  }

  result_type invoke(envelope<In>& item) {
    // The input stays intact for failure::input when on_error may want a copy of it.
    if constexpr (std::is_invocable_v<const Fn&, In&> && std::is_copy_constructible_v<In>) {
      if (config_.on_error) return call(fn_, run_.stop_token(), *item.value);
    }
    return call(fn_, run_.stop_token(), std::move(*item.value));
  }

  void failed(envelope<In>& item, std::uint64_t ticket, std::exception_ptr error) {
    report_failure<In>(run_, config_, counters_, item.meta.sequence, std::move(error),
                       item.value ? &*item.value : nullptr);
    if (config_.ordered) {
      settle(ticket, std::nullopt, config_.in_zip, item.meta);
    } else if (config_.in_zip) {
      out_.push(envelope<Out>{std::nullopt, item.meta});
    }
  }

  // Downstream finished early (a join that returned): stop taking items and tell upstream.
  void downstream_finished() {
    if (run_.stopping()) return;
    downstream_gone_.store(true, std::memory_order_relaxed);
    in_.abandon();
  }

  // Ordered mode: files the result of `ticket` and, when it is next in line, emits it and
  // every result after it that is ready.
  void settle(std::uint64_t ticket, std::optional<result_type> result, bool tombstone,
              item_meta meta) {
    std::unique_lock lock(order_mu_);
    window_cv_.wait(lock, [&] { return run_.stopping() || fits(ticket); });
    if (run_.stopping()) return;
    slot& s = window_[ticket % window_.size()];
    s.filled = true;
    s.result = std::move(result);
    s.tombstone = tombstone;
    s.meta = meta;
    if (emitting_ || ticket != next_emit_) return;
    emitting_ = true;
    for (;;) {
      slot& head = window_[next_emit_ % window_.size()];
      if (!head.filled) break;
      slot ready = std::move(head);
      head = slot{};
      ++next_emit_;
      window_cv_.notify_all();
      lock.unlock();
      bool delivered = true;
      if (ready.result) {
        try {
          delivered =
              emit_result<Out, Branch>(out_, counters_, std::move(*ready.result), ready.meta, run_);
        } catch (...) {
          report_failure<In>(run_, config_, counters_, ready.meta.sequence,
                             std::current_exception(), nullptr);
        }
      } else if (ready.tombstone) {
        out_.push(envelope<Out>{std::nullopt, ready.meta});
      }
      if (!delivered) downstream_finished();
      lock.lock();
      if (run_.stopping()) break;
    }
    emitting_ = false;
  }

  bool fits(std::uint64_t ticket) const {  // order_mu_ held
    return ticket < next_emit_ + window_.size();
  }

  void wake() noexcept override {
    std::lock_guard lock(order_mu_);
    window_cv_.notify_all();
  }

  const Fn& fn_;
  task_config config_;
  channel<In>& in_;
  port<Out>& out_;
  stage_counters& counters_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> downstream_gone_{false};

  std::mutex take_mu_;
  std::uint64_t next_ticket_ = 0;  // guarded by take_mu_
  std::mutex order_mu_;            // guards the four members below
  std::condition_variable window_cv_;
  std::vector<slot> window_;
  std::uint64_t next_emit_ = 0;
  bool emitting_ = false;
};

// A sluice::join task: `concurrency` workers, started with the run, each calls fn with a
// stream over the shared input queue. When the last one returns, upstream is told to stop.
template <class Fn, class In, class Out, bool Branch>
class join_runtime final : public activation_target {
 public:
  join_runtime(run_state& run, const Fn& fn, task_config config, std::size_t in_capacity,
               port<Out>& out)
      : activation_target(run, config.concurrency),
        fn_(fn),
        config_(std::move(config)),
        in_(run.make<channel<In>>(run, in_capacity, nullptr)),
        out_(out),
        counters_(run.counters(config_.position, config_.name)) {
    out_.add_producer(config_.concurrency == 1);
    counters_.queued = &channel<In>::size_of;
    counters_.queue = &in_;
    run.add_target(*this, config_.concurrency);
    run.add_starter(*this, config_.concurrency);
  }

  port<In>& input() noexcept { return in_; }

 private:
  void run_activation() noexcept override {
    stream<In> view(nullptr, in_, &counters_);
    counters_.in_flight.fetch_add(1, std::memory_order_relaxed);
    busy_timer timer(counters_);
    try {
      const bool delivered = emit_result<Out, Branch>(
          out_, counters_, call(fn_, run_.stop_token(), view), item_meta{}, run_);
      if (!delivered) in_.abandon();
    } catch (...) {
      report_failure<In>(run_, config_, counters_,
                         counters_.items_in.load(std::memory_order_relaxed),
                         std::current_exception(), nullptr);
    }
    timer.stop();
    counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      in_.abandon();  // upstream may still be producing for a join that stopped reading
      out_.producer_done();
    }
  }

  const Fn& fn_;
  task_config config_;
  channel<In>& in_;
  port<Out>& out_;
  stage_counters& counters_;
};

}  // namespace sluice::detail
