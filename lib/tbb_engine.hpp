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

// One task_arena of `threads` worker threads (plus a slot for the thread that waits), one flow
// graph inside it, and one function_node per stage whose message means "run an activation".
class tbb_engine {
 public:
  tbb_engine(std::size_t threads, const std::vector<activation_target*>& targets);
  tbb_engine(const tbb_engine&) = delete;
  tbb_engine& operator=(const tbb_engine&) = delete;
  ~tbb_engine();

  // Sends one message to the node of targets[index]: a TBB task will call its execute().
  void spawn(std::size_t index);
  // Waits for the graph's tasks to finish (after every activation has returned to us).
  void wait();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::detail
