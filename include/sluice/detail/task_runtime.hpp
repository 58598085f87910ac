// Internal: the runtimes of a task in one run. An item's path through a task:
//   upstream offer -> channel<In> -> a worker's batch -> fn(item) -> port<Out>::offer -> downstream
// producer_runtime runs the first task once; task_runtime runs every other plain or branch task
// on activations; join_runtime runs sluice::join tasks, whose workers block pulling a stream.
#pragma once

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/detail/channel.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/reorder_window.hpp>
#include <sluice/detail/run.hpp>
#include <sluice/detail/stage.hpp>
#include <sluice/stream.hpp>

namespace sluice::detail {

// Offers what one call returned: the value itself (held for a flush that follows when `hold`),
// or each element when the task is a branch. Adds the number offered to `emitted`. Returns false
// when downstream wants no more.
template <class Out, bool Branch, class Result>
bool emit_result(const outlet<Out>& out, Result&& result, item_meta meta, const run_state& run,
                 std::uint64_t& emitted, bool hold = false) {
  if constexpr (Branch) {
    // The range is not advanced once the run stops: advancing resumes the user's generator.
    for (auto&& element : result) {
      if (run.stopping()) return false;
      if (!out.offer(envelope<Out>{Out(std::move(element)), meta})) return false;
      ++emitted;
      if (run.stopping()) return false;
    }
    return true;
  } else {
    if (!out.offer(envelope<Out>{Out(std::forward<Result>(result)), meta}, hold)) return false;
    ++emitted;
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
        out_(out, true),
        counters_(run.counters(config_.position, config_.name)),
        args_(std::move(args)) {
    run.add_target(*this, 1);
    run.add_starter(*this, 1);
  }

 private:
  // items_out is published every this many items, so stats() stays live at little cost.
  static constexpr std::uint64_t kPublishEvery = 64;

  void run_activation() noexcept override {
    busy_timer timer(counters_);
    counters_.in_flight.store(1, std::memory_order_relaxed);
    try {
      auto&& result = std::apply(
          [&](auto&... args) -> decltype(auto) {
            return call(fn_, run_.stop_source(), std::move(args)...);
          },
          args_);
      emit(std::forward<decltype(result)>(result));
    } catch (...) {
      report_failure<int>(run_, config_, counters_, sequence_, std::current_exception(), nullptr);
    }
    counters_.items_out.store(sequence_, std::memory_order_relaxed);
    counters_.in_flight.store(0, std::memory_order_relaxed);
    timer.stop();
    active_.fetch_sub(1, std::memory_order_acq_rel);
    out_.producer_done();
  }

  template <class Result>
  void emit(Result&& result) {
    if constexpr (Branch) {
      // The range is not advanced once the run stops: advancing resumes the user's generator.
      for (auto&& element : result) {
        if (run_.stopping()) return;
        if (!out_.offer(envelope<Out>{Out(std::move(element)), {sequence_, 0}})) return;
        if (++sequence_ % kPublishEvery == 0) {
          counters_.items_out.store(sequence_, std::memory_order_relaxed);
        }
        if (run_.stopping()) return;
      }
    } else {
      if (out_.push(envelope<Out>{Out(std::forward<Result>(result)), {0, 0}})) sequence_ = 1;
    }
  }

  const Fn& fn_;
  task_config config_;
  outlet<Out> out_;
  stage_counters& counters_;
  std::tuple<Args...> args_;
  std::uint64_t sequence_ = 0;  // items emitted so far
};

// The failed attempts of the guarded call that just threw on this thread: task_runtime's
// invoke_guarded() leaves them here for the failed() its caller makes next.
inline thread_local std::vector<std::exception_ptr> failed_attempts;

// A plain task (one output per item) or a branch task (a range of outputs per item), run by up
// to `concurrency` activations. A worker takes a batch of items from the input queue, calls fn
// on each and pushes each output at once; the batch's room in the input queue is given back when
// the batch is done. A task with concurrency 1 takes what is queued, up to kBatch; a concurrent
// task takes one item at a time (an ordered one adapts its batch to the time a batch takes).
//
// With `ordered`, outputs leave in the order the items were taken from the input queue: each
// item gets a ticket, and results wait in a window of max(capacity, concurrency) slots until
// every earlier ticket has been emitted (reorder_window.hpp).
template <class Fn, class In, class Out, bool Branch>
class task_runtime final : public activation_target {
  using result_type = std::remove_cvref_t<call_result_t<Fn, In&&>>;
  static constexpr std::size_t kBatch = batch_limit(sizeof(envelope<In>));
  // Slots an ordered task's window has from the start (fewer when its bound is smaller).
  static constexpr std::size_t kInitialWindow = 64;

 public:
  task_runtime(run_state& run, const Fn& fn, task_config config, std::size_t in_capacity,
               port<Out>& out)
      : activation_target(run, config.concurrency),
        fn_(fn),
        config_(std::move(config)),
        in_(run.make<channel<In>>(run, in_capacity, this)),
        out_(out, config_.concurrency == 1 || config_.ordered),
        counters_(run.counters(config_.position, config_.name)) {
    if (config_.resilience.any()) {
      if constexpr (callable_with<Fn, In&>) {
        guard_.emplace(config_.resilience, config_.who);
      } else {
        reject_rvalue_resilience(config_.who);
      }
    }
    counters_.breaker = config_.resilience.breaker ? &*config_.resilience.breaker : nullptr;
    counters_.queued = &channel<In>::waiting_in;
    counters_.queue = &in_;
    busy_ = &counters_.in_flight;
    if (ordered_) window_.emplace(window_bound_, kInitialWindow);
    run.add_target(*this, config_.concurrency);
  }

  port<In>& input() noexcept { return in_; }

 private:
  // What a branch task's slot keeps of its input for a failure while the result's range is
  // emitted (the range may throw then, after the call): the input, with on_error only.
  struct no_input {};
  using kept_input = std::conditional_t<Branch, std::optional<In>, no_input>;

  struct slot {
    bool filled = false;
    std::optional<result_type> result{};  // empty: the item failed or was a tombstone
    bool tombstone = false;
    item_meta meta{};
    [[no_unique_address]] kept_input input{};
  };

  void run_activation() noexcept override {
    std::array<envelope<In>, kBatch> batch;
    std::vector<slot> done;  // an ordered batch's results
    // The stage this worker's last push woke, to run next on this thread. The activation's own:
    // it is run after this activation has given up its slot, when the task may have another.
    activation_target* kept = nullptr;
    core_share share;  // when to give up the core between quick batches
    do {
      backoff spin;
      while (!run_.stopping()) {
        std::uint64_t ticket = 0;
        const std::size_t taken = take(batch.data(), ticket);
        if (taken == 0) {
          if (in_.closed()) break;
          // A concurrent task's worker, before it yields its core, takes what a producer away in
          // user code holds for it: while CPU-bound threads keep the cores busy a yield lasts a
          // scheduler slice, which the held items would wait. A serial task's worker leaves them
          // to its producer's batch until it retires: a collect costs a heavy barrier
          // (docs/performance.md, "Decisions": collect).
          if (config_.concurrency > 1 && !spin.pausing() && in_.collect()) {
            spin = backoff{};
          } else if (!spin.wait()) {
            break;
          }
          continue;
        }
        spin = backoff{};
        if (config_.concurrency > 1) spread();
        const auto spent = work(batch.data(), taken, ticket, done, kept);
        if (kept != nullptr) break;  // this thread goes on with the next stage
        run_.between_batches(spent, share);
        if (taken < kBatch / 2 && config_.concurrency == 1) gather_pause();
      }
    } while (retire(kept));
    // Only once this activation has given up its slot: the next stage's calls may wait for
    // this stage to take further items, which a new activation of it then does.
    if (kept != nullptr) kept->run_kept();
  }

  // Takes a batch without blocking; with `ordered`, numbers it from `first_ticket`.
  std::size_t take(envelope<In>* out, std::uint64_t& first_ticket) {
    // A concurrent unordered worker takes one item: items it had taken would wait behind a call
    // that blocks while the task's other workers sit idle. An ordered one may take a few while
    // calls are quick, since outputs wait for the slowest earlier item anyway.
    std::size_t want = kBatch;
    if (config_.concurrency > 1) want = ordered_ ? hint_.load(std::memory_order_relaxed) : 1;
    if (!ordered_) return in_.try_pop_bulk(out, want);
    std::lock_guard lock(take_mu_);
    const std::size_t taken = in_.try_pop_bulk(out, std::min(want, window_bound_));
    first_ticket = next_ticket_;
    next_ticket_ += taken;
    return taken;
  }

  // A concurrent task's worker that took a batch while more items wait starts a worker for each
  // batch that waits (an item, or an ordered task's current batch size), up to `concurrency`
  // alive, all at once: a burst reaches `concurrency` calls in flight in one wave of thread
  // wake-ups (one after another, under CPU load each wake-up can take a scheduler slice), and
  // pushes need not check the queue's length. A worker per waiting item of an ordered task that
  // takes 64 at once mostly found nothing to take.
  void spread() noexcept {
    const std::size_t per_worker = ordered_ ? hint_.load(std::memory_order_relaxed) : 1;
    for (std::size_t waiting = in_.size(); waiting >= per_worker && claim();
         waiting -= per_worker) {
      start();
    }
  }

  // Calls fn on a batch and passes its outputs on; returns the time the batch took.
  std::chrono::nanoseconds work(envelope<In>* items, std::size_t count, std::uint64_t ticket,
                                std::vector<slot>& done, activation_target*& kept) {
    counters_.items_in.fetch_add(count, std::memory_order_relaxed);
    counters_.in_flight.fetch_add(1, std::memory_order_relaxed);
    busy_timer timer(counters_);
    std::uint64_t emitted = 0;
    if (ordered_) {
      done.clear();  // the activation's, reused: no allocation per batch
      done.resize(count);
      // Counted as waiting until the whole batch has been called: an item per RMW would make the
      // ordered workers share a cache line per item.
      counters_.unstarted.fetch_add(count, std::memory_order_relaxed);
      for (std::size_t i = 0; i < count; ++i) compute(items[i], done[i]);
      counters_.unstarted.fetch_sub(count, std::memory_order_relaxed);
      settle(ticket, done.data(), count, emitted);
    } else {
      const bool serial = config_.concurrency == 1;
      for (std::size_t i = 0; i < count && !run_.stopping(); ++i) {
        // One worker at a time takes a serial task's batch: a store, not a shared increment.
        if (serial) counters_.unstarted.store(count - i - 1, std::memory_order_relaxed);
        process(items[i], emitted, serial && i + 1 == count);
      }
      if (serial) counters_.unstarted.store(0, std::memory_order_relaxed);
      if (serial) {
        // What the batch offered leaves together now; the stage this wakes may be kept for this
        // thread: nothing this batch does after the flush can wait on that stage.
        activation_target::hand_off_scope keep;
        out_.flush();
      }
    }
    for (std::size_t i = 0; i < count; ++i) items[i].value.reset();
    const auto spent = timer.stop();
    counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    counters_.items_out.fetch_add(emitted, std::memory_order_relaxed);
    in_.release(count);
    if (ordered_) adapt(count, spent);
    // The stage this batch woke runs on this thread when this one has nothing left to do (after
    // this activation retires, see run_activation), otherwise beside it on another.
    if (activation_target* next = take_hand_off()) {
      if (in_.empty()) {
        kept = next;
      } else {
        next->enqueue();
      }
    }
    return spent;
  }

  // An ordered concurrent task's batch grows while batches are quick and shrinks when slow.
  void adapt(std::size_t count, std::chrono::nanoseconds spent) noexcept {
    constexpr std::chrono::microseconds kQuick{20};
    constexpr std::chrono::microseconds kSlow{200};
    const std::size_t hint = hint_.load(std::memory_order_relaxed);
    if (spent < kQuick && count == hint && hint < kBatch) {
      hint_.store(hint * 2 > kBatch ? kBatch : hint * 2, std::memory_order_relaxed);
    } else if (spent > kSlow && hint > 1) {
      hint_.store(hint / 2, std::memory_order_relaxed);
    }
  }

  // Ends an activation that found no work; true when it should go on after all (a stage kept
  // for this thread then starts on another).
  bool retire(activation_target*& kept) noexcept {
    // A run's end retires every worker at once: each heavy barrier is an IPI to every core.
    release(in_.closed());
    if (run_.stopping()) return false;
    in_.collect();  // what an upstream producer holds back while it is away (channel.hpp)
    if (!in_.empty() && claim()) {
      if (kept != nullptr) std::exchange(kept, nullptr)->enqueue();
      return true;
    }
    if (in_.closed() && in_.empty() && active_.load(std::memory_order_seq_cst) == 0 &&
        !finished_.exchange(true, std::memory_order_acq_rel)) {
      out_.producer_done();
    }
    return false;
  }

  // Unordered: calls fn and offers its output(s); with `hold` (the batch's last item) a single
  // output waits for the flush at the batch's end.
  void process(envelope<In>& item, std::uint64_t& emitted, bool hold) {
    if (downstream_gone_.load(std::memory_order_relaxed)) return;
    if (!item.value) {  // a tombstone from inside a zip branch: pass it on
      out_.offer(envelope<Out>{std::nullopt, item.meta}, hold);
      return;
    }
    bool delivered = true;
    try {
      delivered = emit_result<Out, Branch>(out_, invoke(item), item.meta, run_, emitted, hold);
    } catch (...) {
      failed(item, std::current_exception());
      if (config_.in_zip) out_.offer(envelope<Out>{std::nullopt, item.meta}, hold);
      return;
    }
    if (!delivered) downstream_finished();
  }

  // Ordered: calls fn and keeps its result for settle().
  // Fills `out` (empty) in place: a slot built aside and moved in costs a store-forwarding stall
  // per item (docs/performance.md, "Decisions": ordered slots).
  void compute(envelope<In>& item, slot& out) {
    out.filled = true;
    out.meta = item.meta;
    if (!item.value || downstream_gone_.load(std::memory_order_relaxed) || run_.stopping()) {
      out.tombstone = !item.value;
      return;
    }
    try {
      out.result.emplace(invoke(item));
      // What the call left of the input (all of it when on_error wants a copy, see invoke()),
      // for a failure of the range's iteration in emit_ready(): the unordered path has it then.
      if constexpr (Branch) {
        if (config_.on_error) out.input = std::move(item.value);
      }
    } catch (...) {
      failed(item, std::current_exception());
      out.tombstone = config_.in_zip;
    }
  }

  result_type invoke(envelope<In>& item) {
    if constexpr (callable_with<Fn, In&>) {
      if (guard_) return invoke_guarded(*item.value);
    }
    // The input stays intact for failure::input when on_error may want a copy of it.
    if constexpr (std::is_invocable_v<const Fn&, In&> && std::is_copy_constructible_v<In>) {
      if (config_.on_error) return call(fn_, run_.stop_source(), *item.value);
    }
    return call(fn_, run_.stop_source(), std::move(*item.value));
  }

  // The call under the task's resilience options, off the plain path so that a task without
  // them pays nothing for them. Counts retried attempts; when it throws, leaves every failed
  // attempt in failed_attempts for failed(), which the same thread calls next.
  result_type invoke_guarded(In& input) {
    std::vector<std::exception_ptr> attempts;
    try {
      result_type result = guard_->call(fn_, input, run_.stop_source(), attempts);
      count_retried(attempts.size());
      // A nested pipeline's outputs are pulled after the guarded call: they follow the run.
      if constexpr (is_stream_v<result_type>) result.link_stop(run_.stop_source().get_token());
      return result;
    } catch (...) {
      count_retried(attempts.empty() ? 0 : attempts.size() - 1);
      failed_attempts = std::move(attempts);
      throw;
    }
  }

  void count_retried(std::size_t attempts) noexcept {
    if (attempts != 0) counters_.retried.fetch_add(attempts, std::memory_order_relaxed);
  }

  void failed(envelope<In>& item, std::exception_ptr error) {
    report_failure<In>(
        run_, config_, counters_, item.meta.sequence, std::move(error),
        item.value ? &*item.value : nullptr,
        guard_ ? std::exchange(failed_attempts, {}) : std::vector<std::exception_ptr>{});
  }

  // Downstream finished early (a join that returned): stop taking items and tell upstream.
  void downstream_finished() {
    if (run_.stopping()) return;
    downstream_gone_.store(true, std::memory_order_relaxed);
    in_.abandon();
  }

  // Ordered mode: settles a batch's results in the window, which emits them in ticket order.
  void settle(std::uint64_t first, slot* results, std::size_t count, std::uint64_t& emitted) {
    window_->settle(
        first, results, count, [&] { return run_.stopping(); },
        [&](slot* ready, std::size_t n) { emit_ready(ready, n, emitted); });
  }

  void emit_ready(slot* ready, std::size_t count, std::uint64_t& emitted) {
    for (slot& s : std::span(ready, count)) {
      bool delivered = true;
      if (s.result) {
        try {
          delivered = emit_result<Out, Branch>(out_, std::move(*s.result), s.meta, run_, emitted);
          s.result.reset();  // a nested run's stream ends here, not when the slot is reused
        } catch (...) {
          const In* input = nullptr;
          if constexpr (Branch) input = s.input ? &*s.input : nullptr;
          report_failure<In>(run_, config_, counters_, s.meta.sequence, std::current_exception(),
                             input);
        }
      } else if (s.tombstone) {
        out_.offer(envelope<Out>{std::nullopt, s.meta});
      }
      if (!delivered) downstream_finished();
      if (run_.stopping()) return;
    }
    out_.flush();  // the next emitter may be another worker: nothing stays held between them
  }

  void wake() noexcept override {
    if (window_) window_->wake_all();
  }

  const Fn& fn_;
  task_config config_;
  const bool ordered_ = config_.ordered && config_.concurrency > 1;  // one worker keeps order
  // Tickets that may wait for an earlier one: the window's bound (its ring grows up to it).
  const std::size_t window_bound_ = std::max(config_.capacity, config_.concurrency);
  channel<In>& in_;
  outlet<Out> out_;
  stage_counters& counters_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> downstream_gone_{false};
  std::atomic<std::size_t> hint_{1};                      // an ordered concurrent task's batch size
  std::optional<task_guard<Fn, In, result_type>> guard_;  // with resilience options

  std::mutex take_mu_;
  std::uint64_t next_ticket_ = 0;               // guarded by take_mu_
  std::optional<reorder_window<slot>> window_;  // an ordered concurrent task's
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
        out_(out, config_.concurrency == 1),
        counters_(run.counters(config_.position, config_.name)) {
    counters_.queued = &channel<In>::waiting_in;
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
      std::uint64_t emitted = 0;
      const bool delivered = emit_result<Out, Branch>(out_, call(fn_, run_.stop_source(), view),
                                                      item_meta{}, run_, emitted);
      counters_.items_out.fetch_add(emitted, std::memory_order_relaxed);
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
  outlet<Out> out_;
  stage_counters& counters_;
};

}  // namespace sluice::detail
