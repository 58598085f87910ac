#include "tbb_engine.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include <sluice/detail/run.hpp>

namespace sluice::detail {

namespace {

// Arenas that runs have finished with, kept for the next run of the same size. TBB's workers
// stay in an arena, spinning, for a while after its work runs out; a fresh arena per run got
// none of them until they left the last one. On the 2-core VM, from a run's call to its
// producer's first line: 80 us with a serial stage, 640 us with a stage of concurrency 8;
// ~25 us with the pool. Thread-safe; each arena serves one run at a time.
class arena_pool {
 public:
  std::unique_ptr<tbb::task_arena> take(int slots) {
    {
      std::lock_guard lock(mu_);
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if ((*it)->max_concurrency() == slots) {
          auto found = std::move(*it);
          idle_.erase(it);
          return found;
        }
      }
    }
    return std::make_unique<tbb::task_arena>(slots, /*reserved_for_masters=*/1);
  }

  void give_back(std::unique_ptr<tbb::task_arena> arena) {
    std::unique_ptr<tbb::task_arena> dropped;  // declared first: destroyed outside the lock
    std::lock_guard lock(mu_);
    if (!keeping_) {
      dropped = std::move(arena);
      return;
    }
    idle_.push_back(std::move(arena));
    if (idle_.size() > kKept) {
      dropped = std::move(idle_.front());
      idle_.erase(idle_.begin());
    }
  }

  // Drops the idle arenas and keeps none from now on: the process is exiting.
  void drop_all() {
    std::vector<std::unique_ptr<tbb::task_arena>> dropped;
    std::lock_guard lock(mu_);
    keeping_ = false;
    dropped.swap(idle_);
  }

 private:
  static constexpr std::size_t kKept = 8;  // idle arenas kept; the oldest goes first

  std::mutex mu_;
  std::vector<std::unique_ptr<tbb::task_arena>> idle_;
  bool keeping_ = true;
};

arena_pool& pool() {
  // Never destroyed: a run may still give an arena back while the process exits. The handler is
  // registered after libtbb's statics were made (the library is loaded before any run), so it
  // drops the arenas before those are destroyed: no arena may outlive them. Without it, keep none.
  static arena_pool* const the_pool = [] {
    auto* made = new arena_pool;
    if (std::atexit([] { pool().drop_all(); }) != 0) made->drop_all();
    return made;
  }();
  return *the_pool;
}

// TBB hands the park to its workers inside libtbb, where ThreadSanitizer cannot see it; under
// TSan (CMakeLists.txt) these tell it that a worker's use of the park comes after its making.
#if defined(SLUICE_TSAN_ANNOTATE)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
void published(void* object) { __tsan_release(object); }
void seen(void* object) { __tsan_acquire(object); }
#else
void published(void*) {}
void seen(void*) {}
#endif

// Holds back, for up to kPark, each worker that joins an arena while no activation waits there
// for a thread: when work arrives in an idle arena, TBB wakes as many workers as the arena has
// slots (a far tier sized for 100 blocking calls: 100), and the ones that find nothing spin for
// a while (~0.1 ms each on the 2-core VM) before they sleep again. That herd kept the cores
// from the producer for 5-8 ms in about half the blocking workload's runs, before it could
// push the items the herd was woken for. Parked, a worker costs no CPU; it goes on at once when
// an activation is enqueued here (enqueued()), or when kPark is up. Only the far tier parks:
// the near one has a slot per core, so its herd is as small as it gets.
class herd_park final : public tbb::task_scheduler_observer {
 public:
  static constexpr std::chrono::milliseconds kPark{1};

  explicit herd_park(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
    published(this);
    observe(true);
  }
  ~herd_park() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    wake_.notify_all();
    observe(false);  // waits for the workers still in on_scheduler_entry
  }

  // One activation more waiting for a thread in this arena.
  void enqueued() {
    {
      std::lock_guard lock(mu_);
      ++waiting_;
    }
    wake_.notify_one();
  }
  // One activation less (it began on a thread).
  void begun() {
    seen(this);
    std::lock_guard lock(mu_);
    --waiting_;
  }

  void on_scheduler_entry(bool is_worker) override {
    if (!is_worker) return;
    seen(this);
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, kPark, [&] { return waiting_ > 0 || closing_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable wake_;
  long waiting_ = 0;
  bool closing_ = false;
};

}  // namespace

// One arena (plus a slot for the thread that waits), its graph and a node per stage.
struct tbb_engine::tier {
  tier(std::size_t threads, const std::vector<activation_target*>& targets, bool park_herd)
      : arena(pool().take(static_cast<int>(threads) + 1)) {
    arena->execute([&] {
      graph.emplace();
      for (activation_target* target : targets) {
        nodes.emplace_back(*graph, tbb::flow::unlimited, [this, target](tbb::flow::continue_msg) {
          if (park) park->begun();
          target->execute();
        });
      }
    });
    if (park_herd) park.emplace(*arena);
  }
  ~tier() {
    park.reset();
    nodes.clear();
    graph.reset();
    pool().give_back(std::move(arena));
  }

  void spawn(std::size_t index) {
    // Enqueued, not spawned: a spawned task sits in the calling thread's own deque, and that
    // thread may go on to block (a push waiting for room). TBB then need not wake another worker
    // to steal it, and the activation would wait for a thread that is asleep. An enqueued task
    // goes to the arena's shared queue, which always gets a worker. The node's body then runs on
    // that worker; the graph counts the enqueued task until it has handed the message over.
    graph->reserve_wait();
    if (park) park->enqueued();
    arena->enqueue([this, index] {
      nodes[index].try_put(tbb::flow::continue_msg{});
      graph->release_wait();
    });
  }

  void wait() {
    arena->execute([&] { graph->wait_for_all(); });
  }

  std::unique_ptr<tbb::task_arena> arena;  // from the pool, given back when the run ends
  std::optional<tbb::flow::graph> graph;  // constructed inside the arena, so it runs there
  std::deque<tbb::flow::function_node<tbb::flow::continue_msg>> nodes;
  std::optional<herd_park> park;  // the far tier's
};

struct tbb_engine::impl {
  impl(std::size_t near_threads, std::size_t far_size, const std::vector<activation_target*>& of)
      : near(near_threads, of, false), far_threads(far_size), targets(of) {}

  tier& far_tier() {
    std::call_once(far_made, [&] { far.emplace(far_threads, targets, /*park_herd=*/true); });
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
