// Internal to lib/: what runs a run's activations on threads.
//
// An executor is handed an activation (the index of its stage in the run's targets) and makes
// sure that targets[index]->run_enqueued() is called once, soon, on a thread that may block as long
// as the activation does. Each live activation holds at most one thread. Two executors:
// - oneTBB's (tbb_engine.cpp), in a process that has not been forked: two tiers of task arenas
//   with a flow graph each, and the stall watch (stall_watch.hpp) behind them, which runs an
//   activation on a spare thread when oneTBB leaves it waiting;
// - sluice's own spare threads (spare_threads.hpp), in a forked child, where oneTBB cannot work.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace sluice::detail {

class activation_target;

class executor {
 public:
  executor() = default;
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;
  virtual ~executor() = default;

  // Runs targets[index]->run_enqueued() once. `near`: a serial stage's activation while the run has a
  // free slot for one on the near tier (see tbb_engine.cpp). Thread-safe.
  virtual void submit(std::size_t index, bool near) = 0;
  // Called once every activation has returned from run_enqueued(): waits until the executor no
  // longer touches the run (oneTBB's tasks finishing their bookkeeping).
  virtual void wait() noexcept = 0;
};

// The executor of one run whose stages may block up to `far_threads` threads at once, of which
// `near_threads` (at most the core count) serve serial stages; `targets` outlive it.
// Exceptions: what making oneTBB's arenas throws (std::bad_alloc, std::runtime_error).
std::unique_ptr<executor> make_executor(std::size_t near_threads, std::size_t far_threads,
                                        const std::vector<activation_target*>& targets);

}  // namespace sluice::detail
