#include "thread_budget.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include <oneapi/tbb/global_control.h>

#include "process.hpp"

namespace sluice::detail {
namespace {

using namespace std::chrono_literals;

// How long the raised limit outlives the last run. Dropping it the moment a run ends and raising it
// when the next starts makes oneTBB retire and re-wake its workers on every short run (a pmap of a
// few items, a nested pipeline per item) (docs/performance.md, "Decisions": thread limit).
constexpr auto kLinger = 100ms;

class budget;
budget& the_budget();

class budget {
 public:
  void change(std::size_t add, std::size_t remove) {
    std::lock_guard lock(mu_);
    reserved_ = reserved_ + add - remove;
    if (reserved_ == 0) {  // the last run ended: the keeper lowers the limit kLinger from now
      idle_since_ = std::chrono::steady_clock::now();
      start_keeper();
      if (exiting_) drop();  // no lingering once the process is exiting (see at_exit)
      idle_.notify_one();
      return;
    }
    const std::size_t hardware = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t wanted = hardware + reserved_ + 1;
    if (wanted <= limit_) return;  // a higher limit from a run that just ended is still good
    // The effective limit is the smallest of all live global_control objects: the larger one
    // takes effect when the old one goes. Made first, so that there is no moment without either:
    // TBB would fall back to the hardware limit then, and an arena asking for workers in that
    // moment is refused them until its next request (two runs starting at once could hang).
    auto raised = std::make_unique<tbb::global_control>(
        tbb::global_control::max_allowed_parallelism, wanted);
    control_ = std::move(raised);
    limit_ = wanted;
  }

 private:
  // One thread for the process's life, asleep unless a lowering is due.
  // Without one (no thread could be made), the limit is dropped at once, as it used to be.
  void start_keeper() {  // mu_ held
    if (keeper_started_) return;
    try {
      std::thread([this] { keep(); }).detach();
      keeper_started_ = true;
      std::atexit([] { the_budget().at_exit(); });
    } catch (...) {
      drop();
    }
  }

  // Registered after libtbb's own statics, so it runs before they are destroyed: the control
  // must not outlive them (destroying it then called a pure virtual function), and the keeper,
  // still asleep in the exiting process, must not touch it afterwards.
  void at_exit() {
    std::lock_guard lock(mu_);
    exiting_ = true;
    if (reserved_ == 0) drop();
  }

  void drop() {  // mu_ held
    control_.reset();
    limit_ = 0;
  }

  void keep() {
    std::unique_lock lock(mu_);
    for (;;) {
      idle_.wait(lock, [&] { return reserved_ == 0 && control_ != nullptr; });
      const auto due = idle_since_ + kLinger;
      if (idle_.wait_until(lock, due, [&] { return reserved_ != 0; })) continue;
      if (std::chrono::steady_clock::now() < idle_since_ + kLinger) continue;  // idle again since
      drop();
    }
  }

  std::mutex mu_;  // guards the members below
  std::condition_variable idle_;
  std::size_t reserved_ = 0;
  std::size_t limit_ = 0;
  std::unique_ptr<tbb::global_control> control_;
  std::chrono::steady_clock::time_point idle_since_{};
  bool keeper_started_ = false;
  bool exiting_ = false;
};

budget& the_budget() { return per_process<budget>(); }  // never destroyed: runs may end at exit

}  // namespace

void reserve_threads(std::size_t count) { the_budget().change(count, 0); }
void release_threads(std::size_t count) noexcept { the_budget().change(0, count); }

}  // namespace sluice::detail
