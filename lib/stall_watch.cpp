#include "stall_watch.hpp"

#include <atomic>
#include <condition_variable>
#include <thread>
#include <utility>
#include <vector>

#include <sluice/detail/engine/run.hpp>

#include "process.hpp"
#include "spare_threads.hpp"

namespace sluice::detail {
namespace {

// The watch's thread, made on first use; it sleeps while no queue has work for a while.
class stall_watch {
 public:
  void add(pending_activations* queue) {
    std::lock_guard lock(mu_);
    queues_.push_back(queue);
    if (!started_) {
      std::thread([this] { loop(); }).detach();
      started_ = true;
    }
  }

  void remove(pending_activations* queue) noexcept {
    std::lock_guard lock(mu_);  // a look runs under this lock: none is in progress after it
    std::erase(queues_, queue);
  }

  // A queue got work: makes sure the watch looks within two ticks. After the push, whose lock
  // orders it against the look that follows the watch's `polling_ = false` (see loop()).
  void poke() {
    if (polling_.load(std::memory_order_seq_cst)) return;
    {
      std::lock_guard lock(mu_);
      polling_.store(true, std::memory_order_seq_cst);
    }
    changed_.notify_one();
  }

 private:
  // Ticks without work anywhere before the watch sleeps until poked.
  static constexpr int kQuietTicks = 50;

  [[noreturn]] void loop() {
    std::unique_lock lock(mu_);
    int quiet = 0;
    for (;;) {
      changed_.wait(lock, [&] { return polling_.load(std::memory_order_relaxed); });
      changed_.wait_for(lock, pending_activations::kTick);
      if (look_all()) {
        quiet = 0;
        continue;
      }
      if (++quiet < kQuietTicks) continue;
      // Stop polling, then look once more: a push that saw `polling_` still true is seen here.
      polling_.store(false, std::memory_order_seq_cst);
      if (look_all()) polling_.store(true, std::memory_order_seq_cst);
      quiet = 0;
    }
  }

  bool look_all() noexcept {  // mu_ held
    bool any = false;
    for (pending_activations* queue : queues_) any = queue->look() || any;
    return any;
  }

  std::mutex mu_;  // guards queues_ and started_; held during looks
  std::condition_variable changed_;
  std::vector<pending_activations*> queues_;
  bool started_ = false;
  std::atomic<bool> polling_{false};
};

stall_watch& the_watch() {
  watch_forks();
  return per_process<stall_watch>();
}

void run_activation_job(void* target) { static_cast<activation_target*>(target)->run_enqueued(); }

}  // namespace

pending_activations::pending_activations(activation_target* const* targets,
                                         std::function<void(std::size_t)> rescued)
    : targets_(targets), rescued_(std::move(rescued)) {
  the_watch().add(this);
}

pending_activations::~pending_activations() { the_watch().remove(this); }

void pending_activations::push(std::size_t index) {
  {
    std::lock_guard lock(mu_);
    waiting_.push_back(index);
  }
  the_watch().poke();
}

bool pending_activations::take(std::size_t& index) noexcept {
  std::lock_guard lock(mu_);
  if (waiting_.empty()) return false;
  index = waiting_.front();
  waiting_.pop_front();
  ++taken_;
  return true;
}

std::size_t pending_activations::size() const noexcept {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

bool pending_activations::look() noexcept {
  std::deque<std::size_t> stalled;
  bool waits = false;
  {
    std::lock_guard lock(mu_);
    const bool stuck = waited_at_look_ && taken_ == taken_at_look_ && !waiting_.empty();
    if (stuck) {
      stalled.swap(waiting_);
      taken_ += stalled.size();
    }
    taken_at_look_ = taken_;
    waits = waited_at_look_ = !waiting_.empty();
  }
  if (stalled.empty()) return waits;
  rescued_(stalled.size());
  for (std::size_t index : stalled) run_on_spare_thread(&run_activation_job, targets_[index]);
  return true;
}

}  // namespace sluice::detail
