#include "tbb_engine.hpp"

#include <deque>
#include <mutex>
#include <optional>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>

#include <sluice/detail/run.hpp>

namespace sluice::detail {

// One arena (plus a slot for the thread that waits), its graph and a node per stage.
struct tbb_engine::tier {
  tier(std::size_t threads, const std::vector<activation_target*>& targets)
      : arena(static_cast<int>(threads) + 1, /*reserved_for_masters=*/1) {
    arena.execute([&] {
      graph.emplace();
      for (activation_target* target : targets) {
        nodes.emplace_back(*graph, tbb::flow::unlimited,
                           [target](tbb::flow::continue_msg) { target->execute(); });
      }
    });
  }
  ~tier() {
    nodes.clear();
    graph.reset();
  }

  void spawn(std::size_t index) {
    // Enqueued, not spawned: a spawned task sits in the calling thread's own deque, and that
    // thread may go on to block (a push waiting for room). TBB then need not wake another worker
    // to steal it, and the activation would wait for a thread that is asleep. An enqueued task
    // goes to the arena's shared queue, which always gets a worker. The node's body then runs on
    // that worker; the graph counts the enqueued task until it has handed the message over.
    graph->reserve_wait();
    arena.enqueue([this, index] {
      nodes[index].try_put(tbb::flow::continue_msg{});
      graph->release_wait();
    });
  }

  void wait() {
    arena.execute([&] { graph->wait_for_all(); });
  }

  tbb::task_arena arena;
  std::optional<tbb::flow::graph> graph;  // constructed inside the arena, so it runs there
  std::deque<tbb::flow::function_node<tbb::flow::continue_msg>> nodes;
};

struct tbb_engine::impl {
  impl(std::size_t near_threads, std::size_t far_size, const std::vector<activation_target*>& of)
      : near(near_threads, of), far_threads(far_size), targets(of) {}

  tier& far_tier() {
    std::call_once(far_made, [&] { far.emplace(far_threads, targets); });
    return *far;
  }

  tier near;
  std::size_t far_threads;
  std::vector<activation_target*> targets;
  std::once_flag far_made;
  std::optional<tier> far;
};

tbb_engine::tbb_engine(std::size_t near_threads, std::size_t far_threads,
                       const std::vector<activation_target*>& targets)
    : impl_(std::make_unique<impl>(near_threads, far_threads, targets)) {}

tbb_engine::~tbb_engine() = default;

void tbb_engine::spawn(std::size_t index, bool near) {
  (near ? impl_->near : impl_->far_tier()).spawn(index);
}

void tbb_engine::wait() {
  impl_->near.wait();
  // Every activation has returned (run_state::join), so every spawn happened before this: far
  // is made already or never will be.
  if (impl_->far) impl_->far->wait();
}

}  // namespace sluice::detail
