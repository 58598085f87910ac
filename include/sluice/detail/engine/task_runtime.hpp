// Internal: the runtimes of a task in one run. An item's path through a task:
//   upstream offer -> channel<In> -> a worker's batch -> the call executor's call(item)
//   -> port<Out>::offer -> downstream
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
#include <variant>
#include <vector>

#include <sluice/detail/engine/call_executor.hpp>
#include <sluice/detail/engine/channel.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/engine/reorder_window.hpp>
#include <sluice/detail/engine/run.hpp>
#include <sluice/detail/engine/stage.hpp>
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
    timer_ = &timer;
    counters_.in_flight.store(1, std::memory_order_relaxed);
    try {
      if (run_.draining()) {
        run_.mark_drained();  // drained before the run began: the producer is not called
      } else {
        call_and_emit();
      }
    } catch (...) {
      report_failure<int>(run_, config_, counters_, sequence_, std::current_exception(), nullptr);
    }
    counters_.items_out.store(sequence_, std::memory_order_relaxed);
    counters_.in_flight.store(0, std::memory_order_relaxed);
    timer.stop();
    active_.fetch_sub(1, std::memory_order_acq_rel);
    out_.producer_done();
  }

  void call_and_emit() {
    auto&& result = std::apply(
        [&](auto&... args) -> decltype(auto) {
          return call(fn_, run_.stop_source(), std::move(args)...);
        },
        args_);
    emit(std::forward<decltype(result)>(result));
  }

  template <class Result>
  void emit(Result&& result) {
    if constexpr (Branch) {
      // The range is not advanced once the run stops or drains: advancing resumes the user's
      // generator. An element already taken from it is offered (a drain keeps it).
      if (run_.draining()) {
        run_.mark_drained();
        return;
      }
      for (auto&& element : result) {
        if (run_.stopping()) return;
        if (!out_.offer(envelope<Out>{Out(std::move(element)), {sequence_, 0}})) return;
        if (++sequence_ % kPublishEvery == 0) {
          counters_.items_out.store(sequence_, std::memory_order_relaxed);
          timer_->lap();  // busy and blocked so far, too
        }
        if (run_.stopping()) return;
        if (run_.draining()) {
          run_.mark_drained();
          return;
        }
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
  busy_timer* timer_ = nullptr;  // run_activation()'s, while it runs
};

// A plain task (one output per item) or a branch task (a range of outputs per item), run by up
// to `concurrency` workers (activations). One worker loop serves the three modes; the mode,
// chosen once when the stage is built, decides how a worker takes a batch and how its results
// leave:
//   serial_mode      concurrency 1: takes what is queued, up to kBatch, and offers the outputs
//                    held until the batch's end, when they leave together;
//   concurrent_mode  takes one item at a time (items it had taken would wait behind a call that
//                    blocks while the task's other workers sit idle), pushes each output at once;
//   ordered_mode     concurrency > 1 with `ordered`: takes a batch that adapts to the time a batch
//                    takes, numbers its items with tickets, and settles the results in a reorder
//                    window of max(capacity, concurrency) slots, which lets them leave in ticket
//                    order (reorder_window.hpp).
// The batch's room in the input queue is given back when the batch is done. The call itself is
// the call executor's (call_executor.hpp).
template <class Fn, class In, class Out, bool Branch, class Calls = thread_calls<Fn, In>>
class task_runtime final : public input_stage<In, Out> {
  static_assert(call_executor<Calls, In>);
  using base = input_stage<In, Out>;
  using result_type = typename Calls::result_type;
  // Whether the call executor sends the calls to other processes (process mode): its batches
  // cost a round trip each, so they are larger, and its workers only wait.
  static constexpr bool kRemote = requires { Calls::remote_calls; };
  static constexpr std::size_t kBatch = kRemote ? remote_batch_limit(sizeof(envelope<In>))
                                                : batch_limit(sizeof(envelope<In>));
  // Slots an ordered task's window has from the start (fewer when its bound is smaller).
  static constexpr std::size_t kInitialWindow = 64;

  using base::counters_;
  using base::in_;
  using base::out_;
  using base::run_;

 public:
  task_runtime(run_state& run, const Fn& fn, task_config config, std::size_t in_capacity,
               port<Out>& out)
      : base(run,
             {.position = config.position,
              .name = config.name,
              .concurrency = config.concurrency,
              .in_capacity = in_capacity,
              .serial_outlet = config.concurrency == 1 || config.ordered},
             out),
        config_(std::move(config)),
        calls_(fn, config_, counters_),
        mode_(choose_mode()) {
    counters_.breaker = config_.resilience.breaker ? &*config_.resilience.breaker : nullptr;
    this->busy_ = &counters_.in_flight;
    this->spare_threads_ = kRemote;  // its calls wait for other processes
  }

 private:
  // What a branch task's slot keeps of its input for a failure while the result's range is
  // emitted (the range may throw then, after the call): the input, with on_error only.
  struct no_input {};
  using kept_input = std::conditional_t<Branch, std::optional<In>, no_input>;

  // An ordered task's result for one ticket.
  struct slot {
    bool filled = false;
    std::optional<result_type> result{};  // empty: the item failed or was a tombstone
    bool tombstone = false;
    item_meta meta{};
    [[no_unique_address]] kept_input input{};
  };

  // The items a worker took at once; the worker's own, reused from batch to batch.
  struct batch {
    std::array<envelope<In>, kBatch> items;
    std::size_t count = 0;
    std::uint64_t first_ticket = 0;  // ordered: the ticket of items[0]
    std::vector<slot> results;       // ordered: the batch's results, in item order
    std::vector<envelope<Out>> outputs;  // process_all: outputs that leave together
    bool room_returned = false;  // the input queue has its room back before the batch is done
  };

  struct serial_mode {
    static constexpr bool kConcurrent = false;

    std::size_t take(task_runtime& task, batch& b) {
      return b.count = task.in_.try_pop_bulk(b.items.data(), kBatch);
    }
    void call(task_runtime& task, batch& b, std::uint64_t& emitted) {
      if (task.in_batches()) {
        task.process_all(b, emitted, true);
      } else {
        for (std::size_t i = 0; i < b.count && !task.run_.stopping(); ++i) {
          // One worker at a time takes a serial task's batch: a store, not a shared increment.
          task.counters_.unstarted.store(b.count - i - 1, std::memory_order_relaxed);
          task.process(b.items[i], emitted, i + 1 == b.count);
        }
      }
      task.counters_.unstarted.store(0, std::memory_order_relaxed);
      // What the batch offered leaves together now; the stage this wakes may be kept for this
      // thread: nothing this batch does after the flush can wait on that stage.
      activation_target::hand_off_scope keep;
      task.out_.flush();
    }
    void after(std::size_t taken, std::chrono::nanoseconds) {
      if (taken < kBatch / 2) gather_pause();
    }
    std::size_t per_worker() const noexcept { return 1; }
  };

  struct concurrent_mode {
    static constexpr bool kConcurrent = true;

    std::size_t take(task_runtime& task, batch& b) {
      return b.count = task.in_.try_pop_bulk(b.items.data(), task.in_batches() ? kBatch : 1);
    }
    void call(task_runtime& task, batch& b, std::uint64_t& emitted) {
      if (task.in_batches()) {
        task.process_all(b, emitted, false);
        return;
      }
      for (std::size_t i = 0; i < b.count && !task.run_.stopping(); ++i) {
        task.process(b.items[i], emitted, false);
      }
    }
    void after(std::size_t, std::chrono::nanoseconds) {}
    std::size_t per_worker() const noexcept { return 1; }
  };

  struct ordered_mode {
    static constexpr bool kConcurrent = true;

    // Tickets that may wait for an earlier one: the window's bound (its ring grows up to it).
    explicit ordered_mode(std::size_t window_bound)
        : bound(window_bound), window(window_bound, kInitialWindow) {}

    // Numbers the batch from the next ticket: tickets follow the order items left the queue.
    std::size_t take(task_runtime& task, batch& b) {
      std::lock_guard lock(take_mu);
      const std::size_t most = task.in_batches() ? kBatch : per_worker();
      b.count = task.in_.try_pop_bulk(b.items.data(), std::min(most, bound));
      b.first_ticket = next_ticket;
      next_ticket += b.count;
      return b.count;
    }
    void call(task_runtime& task, batch& b, std::uint64_t& emitted) {
      std::vector<slot>& done = b.results;  // no allocation per batch once it has grown
      done.clear();
      done.resize(b.count);
      // Counted as waiting until the whole batch has been called: an item per RMW would make
      // the ordered workers share a cache line per item.
      task.counters_.unstarted.fetch_add(b.count, std::memory_order_relaxed);
      if (task.in_batches()) {
        task.compute_all(b, done);
      } else {
        for (std::size_t i = 0; i < b.count; ++i) task.compute(b.items[i], done[i]);
      }
      task.counters_.unstarted.fetch_sub(b.count, std::memory_order_relaxed);
      window.settle(
          b.first_ticket, done.data(), b.count, [&] { return task.run_.stopping(); },
          [&](slot* ready, std::size_t n) { task.emit_ready(ready, n, emitted); });
    }
    // The batch grows while batches are quick and shrinks when slow.
    void after(std::size_t count, std::chrono::nanoseconds spent) {
      constexpr std::chrono::microseconds kQuick{20};
      constexpr std::chrono::microseconds kSlow{200};
      const std::size_t size = hint.load(std::memory_order_relaxed);
      if (spent < kQuick && count == size && size < kBatch) {
        hint.store(size * 2 > kBatch ? kBatch : size * 2, std::memory_order_relaxed);
      } else if (spent > kSlow && size > 1) {
        hint.store(size / 2, std::memory_order_relaxed);
      }
    }
    std::size_t per_worker() const noexcept { return hint.load(std::memory_order_relaxed); }

    const std::size_t bound;
    reorder_window<slot> window;
    std::atomic<std::size_t> hint{1};  // the batch a worker takes
    std::mutex take_mu;
    std::uint64_t next_ticket = 0;  // guarded by take_mu
  };

  using mode = std::variant<serial_mode, concurrent_mode, ordered_mode>;

  mode choose_mode() const {
    if (config_.concurrency == 1) return mode(std::in_place_type<serial_mode>);
    if (!config_.ordered) return mode(std::in_place_type<concurrent_mode>);
    return mode(std::in_place_type<ordered_mode>,
                std::max(config_.capacity, config_.concurrency));
  }

  void run_activation() noexcept override {
    std::visit([this](auto& m) { this->work_loop(m); }, mode_);
  }

  // One activation: take a batch, call, pass the outputs on, between batches; retire when the
  // input stays empty.
  template <class Mode>
  void work_loop(Mode& m) noexcept {
    batch b;
    // The stage this worker's last push woke, to run next on this thread. The activation's own:
    // it is run after this activation has given up its slot, when the task may have another.
    activation_target* kept = nullptr;
    core_share share;  // when to give up the core between quick batches
    do {
      backoff spin;
      while (!run_.stopping()) {
        if (m.take(*this, b) == 0) {
          if (in_.closed()) break;
          // A concurrent task's worker, before it yields its core, takes what a producer away in
          // user code holds for it: while CPU-bound threads keep the cores busy a yield lasts a
          // scheduler slice, which the held items would wait. A serial task's worker leaves them
          // to its producer's batch until it retires: a collect costs a heavy barrier
          // (docs/performance.md, "Decisions": collect).
          if (Mode::kConcurrent && !spin.pausing() && in_.collect()) {
            spin = backoff{};
          } else if (!spin.wait()) {
            break;
          }
          continue;
        }
        spin = backoff{};
        if constexpr (Mode::kConcurrent) spread(m.per_worker());
        const auto spent = work(m, b, kept);
        if (kept != nullptr) break;  // this thread goes on with the next stage
        run_.between_batches(spent, share);
        m.after(b.count, spent);
      }
    } while (retire(kept));
    // Only once this activation has given up its slot: the next stage's calls may wait for
    // this stage to take further items, which a new activation of it then does.
    if (kept != nullptr) kept->run_kept();
  }

  // A concurrent task's worker that took a batch while more items wait starts a worker for each
  // batch that waits (`per_worker` items), up to `concurrency` alive, all at once: a burst
  // reaches `concurrency` calls in flight in one wave of thread wake-ups (one after another,
  // under CPU load each wake-up can take a scheduler slice), and pushes need not check the
  // queue's length. A worker per waiting item of an ordered task that takes 64 at once mostly
  // found nothing to take.
  void spread(std::size_t per_worker) noexcept {
    for (std::size_t waiting = in_.size(); waiting >= per_worker && this->claim();
         waiting -= per_worker) {
      this->start();
    }
  }

  // Calls fn on a batch and passes its outputs on; returns the time the batch took.
  template <class Mode>
  std::chrono::nanoseconds work(Mode& m, batch& b, activation_target*& kept) {
    counters_.items_in.fetch_add(b.count, std::memory_order_relaxed);
    counters_.in_flight.fetch_add(1, std::memory_order_relaxed);
    // The call executor may count the calls' time itself (process mode: in the workers).
    busy_timer timer(counters_, !requires { Calls::counts_busy; });
    std::uint64_t emitted = 0;
    m.call(*this, b, emitted);
    for (std::size_t i = 0; i < b.count; ++i) b.items[i].value.reset();
    const auto spent = timer.stop();
    counters_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    counters_.items_out.fetch_add(emitted, std::memory_order_relaxed);
    if (!std::exchange(b.room_returned, false)) in_.release(b.count);
    // The stage this batch woke runs on this thread when this one has nothing left to do (after
    // this activation retires, see work_loop), otherwise beside it on another.
    if (activation_target* next = activation_target::take_hand_off()) {
      if (in_.empty()) {
        kept = next;
      } else {
        next->enqueue();
      }
    }
    return spent;
  }

  // Ends an activation that found no work; true when it should go on after all (a stage kept
  // for this thread then starts on another).
  bool retire(activation_target*& kept) noexcept {
    // A run's end retires every worker at once: each heavy barrier is an IPI to every core.
    this->release(in_.closed());
    if (run_.stopping()) return false;
    in_.collect();  // what an upstream producer holds back while it is away (channel.hpp)
    if (!in_.empty() && this->claim()) {
      if (kept != nullptr) std::exchange(kept, nullptr)->enqueue();
      return true;
    }
    if (in_.closed() && in_.empty() && this->active_.load(std::memory_order_seq_cst) == 0 &&
        !finished_.exchange(true, std::memory_order_acq_rel)) {
      out_.producer_done();
    }
    return false;
  }

  // Serial and concurrent: calls fn and offers its output(s); with `hold` (the batch's last
  // item) a single output waits for the flush at the batch's end.
  void process(envelope<In>& item, std::uint64_t& emitted, bool hold) {
    if (downstream_gone_.load(std::memory_order_relaxed)) return;
    if (!item.value) {  // a tombstone from inside a zip branch: pass it on
      out_.offer(envelope<Out>{std::nullopt, item.meta}, hold);
      return;
    }
    bool delivered = true;
    try {
      delivered = emit_result<Out, Branch>(out_, calls_.call(*item.value, run_.stop_source()),
                                           item.meta, run_, emitted, hold);
    } catch (...) {
      failed(item, std::current_exception());
      if (config_.in_zip) out_.offer(envelope<Out>{std::nullopt, item.meta}, hold);
      return;
    }
    if (!delivered) downstream_finished();
  }

  // Ordered: calls fn and keeps its result for the window.
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
      out.result.emplace(calls_.call(*item.value, run_.stop_source()));
      // What the call left of the input (all of it when on_error wants a copy), for a failure
      // of the range's iteration in emit_ready(): the unordered path has it then.
      if constexpr (Branch) {
        if (config_.on_error) out.input = std::move(item.value);
      }
    } catch (...) {
      failed(item, std::current_exception());
      out.tombstone = config_.in_zip;
    }
  }

  // Whether the call executor takes a batch's items in one call (process mode without
  // per-item resilience options); decided once, when the stage is built.
  bool in_batches() const noexcept {
    if constexpr (requires { calls_.takes_batches(); }) {
      return calls_.takes_batches();
    } else {
      return false;
    }
  }

  // A batch sent to other processes gives its room in the input queue back once it is on its
  // way: the queue fills up again while the batch is out, so the next batch waits ready for
  // the worker that ends this one. The batch's items stay in its caller's hands until it ends
  // (at most kBatch per caller, beyond the queue's capacity).
  void give_back_room(batch& b) noexcept {
    in_.release(b.count);
    b.room_returned = true;
  }

  // The items of `b` with a value, for call_batch; `at[k]` is the position of the k-th one.
  std::size_t called_items(batch& b, std::array<In*, kBatch>& inputs,
                           std::array<std::size_t, kBatch>& at) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < b.count; ++i) {
      if (!b.items[i].value) continue;
      inputs[n] = &*b.items[i].value;
      at[n++] = i;
    }
    return n;
  }

  // process() for a whole batch in one call of the executor: outputs, failures and tombstones
  // leave in the batch's order. A plain task's outputs gather in b.outputs and leave together
  // after each run of answers, in one push; a branch task offers each element (with `hold`, the
  // batch's last waits for the flush).
  void process_all(batch& b, std::uint64_t& emitted, bool hold) {
    if constexpr (requires { calls_.takes_batches(); }) {
      if (downstream_gone_.load(std::memory_order_relaxed) || run_.stopping()) return;
      std::array<In*, kBatch> inputs;
      std::array<std::size_t, kBatch> at;
      const std::size_t n = called_items(b, inputs, at);
      std::size_t next = 0;       // the first item not passed on yet
      std::uint64_t values = 0;   // outputs in b.outputs that are not tombstones
      auto leave = [&](envelope<Out>&& output) {
        if constexpr (Branch) {
          out_.offer(std::move(output), hold && next == b.count);
        } else {
          values += output.value ? 1 : 0;
          b.outputs.push_back(std::move(output));
        }
      };
      auto pass_on = [&] {
        if (b.outputs.empty()) return;
        if (out_.push_bulk(b.outputs.data(), b.outputs.size())) {
          emitted += values;
        } else {
          downstream_finished();
        }
        b.outputs.clear();
        values = 0;
      };
      auto tombstones_before = [&](std::size_t end) {
        while (next < end) {
          const item_meta meta = b.items[next++].meta;
          leave(envelope<Out>{std::nullopt, meta});
        }
      };
      calls_.call_batch(
          inputs.data(), n, run_.stop_source(), [&] { give_back_room(b); },
          [&](std::size_t k, result_type&& result) {
            tombstones_before(at[k]);
            next = at[k] + 1;
            if (downstream_gone_.load(std::memory_order_relaxed)) return;
            envelope<In>& item = b.items[at[k]];
            try {
              if constexpr (Branch) {
                if (!emit_result<Out, Branch>(out_, std::move(result), item.meta, run_, emitted)) {
                  downstream_finished();
                }
              } else {
                leave(envelope<Out>{Out(std::move(result)), item.meta});
              }
            } catch (...) {
              failed(item, std::current_exception());
            }
          },
          [&](std::size_t k, const std::exception_ptr& error) {
            tombstones_before(at[k]);
            next = at[k] + 1;
            failed(b.items[at[k]], error);
            if (config_.in_zip) leave(envelope<Out>{std::nullopt, b.items[at[k]].meta});
          },
          pass_on);
      tombstones_before(b.count);
      pass_on();
    }
  }

  // compute() for a whole batch in one call of the executor.
  void compute_all(batch& b, std::vector<slot>& done) {
    if constexpr (requires { calls_.takes_batches(); }) {
      for (std::size_t i = 0; i < b.count; ++i) {
        done[i].filled = true;
        done[i].meta = b.items[i].meta;
        done[i].tombstone = !b.items[i].value;
      }
      if (downstream_gone_.load(std::memory_order_relaxed) || run_.stopping()) return;
      std::array<In*, kBatch> inputs;
      std::array<std::size_t, kBatch> at;
      const std::size_t n = called_items(b, inputs, at);
      calls_.call_batch(
          inputs.data(), n, run_.stop_source(), [&] { give_back_room(b); },
          [&](std::size_t k, result_type&& result) {
            done[at[k]].result.emplace(std::move(result));
            if constexpr (Branch) {
              if (config_.on_error) done[at[k]].input = std::move(b.items[at[k]].value);
            }
          },
          [&](std::size_t k, const std::exception_ptr& error) {
            failed(b.items[at[k]], error);
            done[at[k]].tombstone = config_.in_zip;
          },
          [] {});
    }
  }

  void failed(envelope<In>& item, std::exception_ptr error) {
    report_failure<In>(run_, config_, counters_, item.meta.sequence, std::move(error),
                       item.value ? &*item.value : nullptr, calls_.failed_attempts());
  }

  // Downstream finished early (a join that returned): stop taking items and tell upstream.
  void downstream_finished() {
    if (run_.stopping()) return;
    downstream_gone_.store(true, std::memory_order_relaxed);
    in_.abandon();
  }

  // Ordered: emits results the window found ready, in ticket order.
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
    if (auto* ordered = std::get_if<ordered_mode>(&mode_)) ordered->window.wake_all();
  }

  task_config config_;
  Calls calls_;
  mode mode_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> downstream_gone_{false};
};

// A sluice::join task: `concurrency` workers, started with the run, each calls fn with a
// stream over the shared input queue. When the last one returns, upstream is told to stop.
template <class Fn, class In, class Out, bool Branch>
class join_runtime final : public input_stage<In, Out> {
  using base = input_stage<In, Out>;
  using base::counters_;
  using base::in_;
  using base::out_;
  using base::run_;

 public:
  join_runtime(run_state& run, const Fn& fn, task_config config, std::size_t in_capacity,
               port<Out>& out)
      : base(run,
             {.position = config.position,
              .name = config.name,
              .concurrency = config.concurrency,
              .in_capacity = in_capacity,
              .serial_outlet = config.concurrency == 1,
              .wakes_on_push = false,
              .starts_with_run = true},
             out),
        fn_(fn),
        config_(std::move(config)) {}

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
    if (this->active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      in_.abandon();  // upstream may still be producing for a join that stopped reading
      out_.producer_done();
    }
  }

  const Fn& fn_;
  task_config config_;
};

}  // namespace sluice::detail
