// Internal: activations, the workers of a stage, and their life cycle; and `node`, what a run
// owns and wakes when it stops.
//
// An activation is one worker of a stage (activation_target): it drains the stage's input
// until the input stays empty for a while (detail::backoff), then gives its thread back. At
// most `concurrency` activations of a stage are alive at once; `active_` counts them. Each goes
// through five steps, each with one verb:
//
//   step     who                                  what                                  where
//   claim    a push (notify), the closer          active_ < concurrency: ++active_      claim()
//            (notify_closed), a worker for
//            items that wait (spread), a
//            retiring worker that sees more
//   start    whoever claimed                      inside a hand_off_scope: kept for     start()
//                                                 this thread, run when its batch is
//                                                 done (run_kept); otherwise enqueued
//                                                 on the run's executor (enqueue)
//   run      an executor thread (run_enqueued),   the stage's loop: take a batch, call  run_activation()
//            or the thread that kept it           the task, pass the outputs on,
//            (run_kept)                           between batches
//   retire   the activation itself                --active_, heavy barrier, a last      release()
//                                                 look at the input (a new claim when
//                                                 items came)
//   done     the activation itself                the run's live count drops; the last  run_state::
//                                                 one ends run_state::join()            activation_done()
//
// Invariants: an activation holds at most one thread; active_ counts claimed slots, so it
// includes activations started and not yet run; the run's live count (run_state) counts
// activations started and not yet done, so join() waits for every one of them.
#pragma once

#include <atomic>
#include <cstddef>

namespace sluice::detail {

class run_state;

// Something a run owns that must be woken when the run stops (a queue, a stage).
class node {
 public:
  node() = default;
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  virtual ~node() = default;
  // Called once when the run stops: wake every thread blocked on this node.
  virtual void wake() noexcept {}
};

// A stage whose workers run as activations (see the table above).
class activation_target : public node {
 public:
  activation_target(run_state& run, std::size_t concurrency);

  // Called by a push after its item became visible and after a light barrier (barrier.hpp):
  // starts an activation when none is alive, or when every alive one is busy in a call and
  // fewer than `concurrency` are alive. Costs one or two relaxed loads otherwise. (A worker that
  // takes an item while more wait starts further workers itself; see task_runtime::spread.)
  void notify() noexcept {
    if (would_start() && claim()) start();
  }

  // Whether a push now would start an activation (notify's test), and whether any is alive.
  // Relaxed loads: port::offer uses the first as a hint (an item that would start a worker is
  // not held back; one that alive, idle workers will take may be), and reads the second after a
  // light barrier that pairs with the heavy one in release().
  bool would_start() const noexcept {
    const std::size_t alive = active_.load(std::memory_order_relaxed);
    if (alive >= concurrency_) return false;
    return alive == 0 || (busy_ != nullptr && busy_->load(std::memory_order_relaxed) >= alive);
  }
  bool alive() const noexcept { return active_.load(std::memory_order_relaxed) != 0; }

  // Whether this stage's activations run on sluice's spare threads rather than oneTBB's: those
  // of a stage whose calls wait for other processes, which would only hold a oneTBB worker while
  // oneTBB's idle workers spin beside it, taking the cores the other processes need.
  bool on_spare_threads() const noexcept { return spare_threads_; }

  // Called once the input is closed: makes sure an activation sees the close.
  void notify_closed() noexcept;

  // Run: the executor's entry point for an activation that enqueue() handed to it.
  void run_enqueued() noexcept;

  // While one exists on a thread, the first activation that a push on this thread claims is not
  // enqueued but kept for this thread to run when its own batch is done: an item going to an
  // idle stage then continues on the thread that made it, instead of waiting for a sleeping
  // worker to wake (the flow graph's try_put does the same for a successor). Only for a push
  // that is the last of its batch and cannot block: the kept activation does not run until the
  // batch is over.
  class hand_off_scope {
   public:
    hand_off_scope() noexcept;
    ~hand_off_scope();
    hand_off_scope(const hand_off_scope&) = delete;
    hand_off_scope& operator=(const hand_off_scope&) = delete;
  };
  // The activation kept by the last hand_off_scope on this thread, if any (cleared).
  static activation_target* take_hand_off() noexcept;
  // Run: runs a kept activation (its slot claimed) on this thread.
  void run_kept() noexcept;
  // Start: hands an activation (its slot claimed) to the run's executor.
  void enqueue() noexcept;

 protected:
  // Run: one activation. Must end with its slot released (see release()).
  virtual void run_activation() noexcept = 0;

  // Claim: takes a worker slot; false when `concurrency` are alive.
  bool claim() noexcept;

  // Start: one more activation, its slot claimed. Inside a hand_off_scope it is kept for this
  // thread (see take_hand_off); otherwise enqueued.
  void start() noexcept;

  // Retire: gives up this activation's slot before its last look at the input (heavy barrier
  // included). With `input_closed` (the caller saw its input closed before it called this) the
  // heavy barrier is skipped: no push can come any more, so there is no pusher to pair with, and
  // the closer's look at the live count pairs with this decrement through seq_cst alone.
  void release(bool input_closed = false) noexcept;

  run_state& run_;
  std::atomic<std::size_t> active_{0};
  std::size_t concurrency_;
  const std::atomic<std::size_t>* busy_ = nullptr;  // calls in progress, when the stage counts them
  bool spare_threads_ = false;  // see on_spare_threads(); set while the run is built
  std::size_t graph_node_ = 0;

 private:
  // Run, then done: the activation on this thread (its slot claimed, counted live by the run).
  void run_here() noexcept;

  friend class run_state;
};

}  // namespace sluice::detail
