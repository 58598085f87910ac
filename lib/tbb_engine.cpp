#include "tbb_engine.hpp"

#include <deque>
#include <optional>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>

#include <sluice/detail/run.hpp>

namespace sluice::detail {

struct tbb_engine::impl {
  explicit impl(std::size_t threads)
      : arena(static_cast<int>(threads) + 1, /*reserved_for_masters=*/1) {}
  tbb::task_arena arena;
  std::optional<tbb::flow::graph> graph;  // constructed inside the arena, so it runs there
  std::deque<tbb::flow::function_node<tbb::flow::continue_msg>> nodes;
};

tbb_engine::tbb_engine(std::size_t threads, const std::vector<activation_target*>& targets)
    : impl_(std::make_unique<impl>(threads)) {
  impl_->arena.execute([&] {
    impl_->graph.emplace();
    for (activation_target* target : targets) {
      impl_->nodes.emplace_back(*impl_->graph, tbb::flow::unlimited,
                                [target](tbb::flow::continue_msg) { target->execute(); });
    }
  });
}

tbb_engine::~tbb_engine() {
  impl_->nodes.clear();
  impl_->graph.reset();
}

void tbb_engine::spawn(std::size_t index) {
  // Enqueued, not spawned: a spawned task sits in the calling thread's own deque, and that
  // thread may go on to block (a push waiting for room). TBB then need not wake another worker
  // to steal it, and the activation would wait for a thread that is asleep. An enqueued task
  // goes to the arena's shared queue, which always gets a worker. The node's body then runs on
  // that worker; the graph counts the enqueued task until it has handed the message over.
  impl_->graph->reserve_wait();
  impl_->arena.enqueue([impl = impl_.get(), index] {
    impl->nodes[index].try_put(tbb::flow::continue_msg{});
    impl->graph->release_wait();
  });
}

void tbb_engine::wait() {
  impl_->arena.execute([&] { impl_->graph->wait_for_all(); });
}

}  // namespace sluice::detail
