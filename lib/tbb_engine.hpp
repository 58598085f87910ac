// Internal to lib/: the only place that touches oneTBB's flow graph. Under ThreadSanitizer this
// file's .cpp is built without instrumentation, like libtbb.so itself: TBB hands tasks between
// threads inside its library, where TSan cannot see the synchronisation, so instrumenting TBB's
// header code only yields reports about TBB's own objects. Everything sluice synchronises
// itself stays instrumented (see activation_target::execute).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace sluice::detail {

class activation_target;

// Runs activations on two tiers, each a task_arena with a flow graph inside it and one
// function_node per stage whose message means "run an activation":
// - near: `near_threads` worker slots, for activations that start while the run has at most
//   that many alive: the common case of a few quick stages;
// - far: `far_threads` slots (made on first use), for every activation beyond, which is how a
//   run gets a thread for each call that may block.
// Why two: when work arrives in an idle arena, TBB wakes as many sleeping workers as the arena
// has slots, and all but one find nothing. An arena sized for a hundred blocking calls made
// every hand-over to an idle stage wake a herd (on the 2-core VM, 25 us instead of 8 us to the
// first call, and the herd then delayed the caller's wake-up too). The far tier still wakes a
// herd when its first activation comes; it holds those workers back while nothing waits for
// them (herd_park, .cpp), so they do not take the cores from the thread that makes the work.
class tbb_engine {
 public:
  tbb_engine(std::size_t near_threads, std::size_t far_threads,
             const std::vector<activation_target*>& targets);
  tbb_engine(const tbb_engine&) = delete;
  tbb_engine& operator=(const tbb_engine&) = delete;
  ~tbb_engine();

  // Sends one message to the node of targets[index] on the near or far tier: a TBB task will
  // call its execute().
  void spawn(std::size_t index, bool near);
  // Waits for the graphs' tasks to finish (after every activation has returned to us).
  void wait();

 private:
  struct tier;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::detail
