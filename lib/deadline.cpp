// The timer thread behind detail::deadline_guard: armed guards ordered by deadline; at each
// deadline the guard's stop_source is asked to stop. One thread serves the whole process and
// is started on first use.
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <sluice/detail/resilience/deadline.hpp>
#include <sluice/detail/saturate.hpp>

#include "process.hpp"

namespace sluice::detail {
namespace {

class timer {
 public:
  using key = std::pair<std::chrono::steady_clock::time_point, std::uint64_t>;

  std::uint64_t arm(std::chrono::steady_clock::time_point at, std::stop_source* source,
                    std::atomic<bool>* expired) {
    std::lock_guard lock(mu_);
    if (!thread_started_) {
      std::thread([this] { loop(); }).detach();  // the timer lives as long as the process
      thread_started_ = true;
    }
    const std::uint64_t id = ++last_id_;
    const bool first = armed_.empty() || key{at, id} < armed_.begin()->first;
    armed_.emplace(key{at, id}, entry{source, expired});
    if (first) changed_.notify_one();
    return id;
  }

  void disarm(std::chrono::steady_clock::time_point at, std::uint64_t id) {
    std::lock_guard lock(mu_);
    armed_.erase(key{at, id});  // absent once fired: the stop was requested under this lock
  }

 private:
  struct entry {
    std::stop_source* source;
    std::atomic<bool>* expired;
  };

  [[noreturn]] void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (armed_.empty()) {
        changed_.wait(lock);
        continue;
      }
      const auto next = armed_.begin();
      // A copy: wait_until reads its deadline again after relocking, and by then a disarm may
      // have erased the entry it came from.
      const std::chrono::steady_clock::time_point due = next->first.first;
      if (std::chrono::steady_clock::now() < due) {
        changed_.wait_until(lock, due);
        continue;
      }
      next->second.expired->store(true, std::memory_order_release);
      next->second.source->request_stop();  // under the lock: the guard cannot vanish meanwhile
      armed_.erase(next);
    }
  }

  std::mutex mu_;  // guards everything below
  std::condition_variable changed_;
  std::map<key, entry> armed_;
  std::uint64_t last_id_ = 0;
  bool thread_started_ = false;
};

// Never destroyed: its thread outlives main(). A forked child makes its own (process.hpp).
timer& the_timer() {
  watch_forks();
  return per_process<timer>();
}

}  // namespace

deadline_guard::deadline_guard(std::stop_source source, std::chrono::milliseconds after)
    : source_(std::move(source)), at_(saturating_add(std::chrono::steady_clock::now(), after)) {
  id_ = the_timer().arm(at_, &source_, &expired_);
}

deadline_guard::~deadline_guard() { the_timer().disarm(at_, id_); }

bool deadline_guard::expired() const noexcept { return expired_.load(std::memory_order_acquire); }

}  // namespace sluice::detail
