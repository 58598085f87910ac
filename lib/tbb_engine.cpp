#include "tbb_engine.hpp"

#include <algorithm>
#include <atomic>
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

#include <sluice/detail/engine/run.hpp>

#include "process.hpp"
#include "spare_threads.hpp"
#include "stall_watch.hpp"
#include "thread_budget.hpp"
#include "tsan_annotations.hpp"

namespace sluice::detail {

namespace {

// Arenas that runs have finished with, kept for the next run of the same size. oneTBB's workers
// stay in an arena, spinning, for a while after its work runs out, and a fresh arena gets none of
// them until they have left the last one; a pooled arena has them at once (docs/performance.md,
// "Decisions": arena pool). Thread-safe; each arena serves one run at a time.
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
  // A forked child never uses oneTBB, and leaves its parent's arenas alone (process.hpp).
  static const bool dropped_at_exit = std::atexit([] {
    if (!forked_child()) pool().drop_all();
  }) == 0;
  arena_pool& the_pool = per_process<arena_pool>();
  if (!dropped_at_exit) the_pool.drop_all();
  return the_pool;
}

// TBB hands the park and the enqueued tasks to its workers inside libtbb, where ThreadSanitizer
// cannot see it; under TSan these tell it that a worker's use of an object comes after what the
// thread that handed it over did before. This file is never instrumented (CMakeLists.txt), so
// the calls go to tsan_annotations.cpp, which knows whether the program is built with TSan.
void published(void* object) { tsan_published(object); }
void seen(void* object) { tsan_seen(object); }

// Holds back, for up to kPark, each worker that joins an arena while no activation waits there for
// a thread: when work arrives in an idle arena, TBB wakes as many workers as the arena has slots (a
// far tier sized for 100 blocking calls: 100), and the ones that find nothing spin for a while
// before they sleep again, keeping the cores from the thread that makes the work the herd was woken
// for (docs/performance.md, "Decisions": herd park). Parked, a worker costs no CPU; it goes on at
// once when an activation is enqueued here (enqueued()), or when kPark is up. Only the far tier
// parks: the near one has a slot per core, so its herd is as small as it gets.
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

// A run's activations on oneTBB, on two tiers, each a task_arena with a flow graph inside it and
// one function_node per stage whose message means "run an activation":
// - near: a slot per core at most, for a serial stage's activation while the run has no more
//   activations alive than that: the common case of a few quick stages;
// - far (made on first use): a slot for every call that may block, up to kFarSlots, for every
//   other activation. Beyond kFarSlots live far activations, the rest run on spare threads.
// Why two: when work arrives in an idle arena, oneTBB wakes as many sleeping workers as the arena
// has slots, and all but one find nothing. An arena sized for a hundred blocking calls made every
// hand-over to an idle stage wake a herd. The far tier still wakes a herd when its first
// activation comes; herd_park holds those workers back while nothing waits for them, so they do
// not take the cores from the thread that makes the work, and kFarSlots bounds the herd.
// Each tier's activations wait in a pending_activations, which the stall watch empties onto spare
// threads when oneTBB leaves it without a thread (stall_watch.hpp).
class tbb_executor final : public executor {
 public:
  // The far tier's slots at most: the size of its herd of oneTBB workers. A task of higher
  // concurrency gets its further calls on spare threads, one per call in flight.
  static constexpr std::size_t kFarSlots = 128;

  tbb_executor(std::size_t near_threads, std::size_t far_threads,
               const std::vector<activation_target*>& targets)
      : targets_(targets),
        far_slots_(std::min(far_threads, kFarSlots)),
        reserved_(far_slots_ + near_threads),
        near_(near_threads, targets, false) {}
  ~tbb_executor() override { far_.reset(); }

  void submit(std::size_t index, bool near) override {
    if (targets_[index]->on_spare_threads()) {
      run_on_spare_thread(&run_job, targets_[index]);
      return;
    }
    if (near) {
      near_.submit(index);
      return;
    }
    tier& far = far_tier();
    if (far.running() + far.queue.size() >= far_slots_) {
      run_on_spare_thread(&run_job, targets_[index]);  // every far slot has an activation
      return;
    }
    far.submit(index);
  }

  void wait() noexcept override {
    near_.wait();
    // Every activation has returned (run_state::join), so every submit happened before this: far
    // is made already or never will be.
    if (far_) far_->wait();
  }

 private:
  static void run_job(void* target) { static_cast<activation_target*>(target)->run_enqueued(); }

  // One arena (plus a slot for the thread that waits), its graph and a node per stage.
  struct tier {
    tier(std::size_t threads, const std::vector<activation_target*>& targets, bool park_herd)
        : arena(pool().take(static_cast<int>(threads) + 1)),
          queue(targets.data(), [this](std::size_t count) {
            for (std::size_t i = 0; i < count; ++i) begun();
          }) {
      arena->execute([&] {
        graph.emplace();
        for (activation_target* target : targets) {
          nodes.emplace_back(*graph, tbb::flow::unlimited, [this, target](tbb::flow::continue_msg) {
            seen(&queue);  // see submit(): the body may run on another thread than the take
            live.fetch_add(1, std::memory_order_relaxed);
            target->run_enqueued();
            live.fetch_sub(1, std::memory_order_relaxed);
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

    void submit(std::size_t index) {
      queue.push(index);
      // Enqueued, not spawned: a spawned task sits in the calling thread's own deque, and that
      // thread may go on to block (a push waiting for room). TBB then need not wake another worker
      // to steal it. An enqueued task goes to the arena's shared queue. The graph counts the
      // enqueued task until it has handed the message over.
      graph->reserve_wait();
      if (park) park->enqueued();
      published(&queue);  // oneTBB hands the task over out of ThreadSanitizer's sight
      arena->enqueue([this] {
        seen(&queue);
        std::size_t next = 0;
        if (queue.take(next)) {
          begun();
          // oneTBB may run the node's body on another of its threads, handed over inside the
          // library: what this thread saw of the submitter is published again for it.
          published(&queue);
          nodes[next].try_put(tbb::flow::continue_msg{});
        }
        published(&queue);  // for wait(), which oneTBB wakes out of ThreadSanitizer's sight
        graph->release_wait();
      });
    }

    void begun() {
      if (park) park->begun();
    }
    std::size_t running() const noexcept { return live.load(std::memory_order_relaxed); }

    void wait() {
      arena->execute([&] { graph->wait_for_all(); });
      seen(&queue);
    }

    std::unique_ptr<tbb::task_arena> arena;  // from the pool, given back when the run ends
    std::optional<tbb::flow::graph> graph;  // constructed inside the arena, so it runs there
    std::deque<tbb::flow::function_node<tbb::flow::continue_msg>> nodes;
    std::optional<herd_park> park;  // the far tier's
    pending_activations queue;      // activations waiting for a thread of this tier
    std::atomic<std::size_t> live{0};  // activations this tier's threads are running
  };

  tier& far_tier() {
    std::call_once(far_made_, [&] { far_.emplace(far_slots_, targets_, /*park_herd=*/true); });
    return *far_;
  }

  // oneTBB's thread limit raised for this run's threads from before its arenas exist until after
  // they are gone; both tiers may ask for workers at once, so it covers their sizes together.
  class reservation {
   public:
    explicit reservation(std::size_t threads) : threads_(threads) { reserve_threads(threads); }
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;
    ~reservation() { release_threads(threads_); }

   private:
    std::size_t threads_;
  };

  const std::vector<activation_target*>& targets_;
  const std::size_t far_slots_;
  reservation reserved_;
  tier near_;
  std::once_flag far_made_;
  std::optional<tier> far_;
};

}  // namespace

std::unique_ptr<executor> make_tbb_executor(std::size_t near_threads, std::size_t far_threads,
                                            const std::vector<activation_target*>& targets) {
  return std::make_unique<tbb_executor>(near_threads, far_threads, targets);
}

}  // namespace sluice::detail
