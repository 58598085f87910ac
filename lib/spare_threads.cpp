#include "spare_threads.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "process.hpp"

namespace sluice::detail {
namespace {

using namespace std::chrono_literals;

class spare_threads {
 public:
  // How long a thread without work waits for one before it ends.
  static constexpr auto kLinger = 1s;

  std::size_t alive() noexcept {
    std::lock_guard lock(mu_);
    return threads_;
  }

  void run(void (*job)(void*), void* arg) noexcept {
    std::unique_lock lock(mu_);
    jobs_.push_back({job, arg});
    if (idle_ >= jobs_.size()) {  // an idle thread for this job and for each queued before it
      lock.unlock();
      ready_.notify_one();
      return;
    }
    ++threads_;
    lock.unlock();
    try {
      std::thread([this] { serve(); }).detach();
    } catch (...) {
      // No thread now: the job waits for a thread that finishes its own.
      lock.lock();
      --threads_;
    }
  }

 private:
  struct job_ref {
    void (*job)(void*);
    void* arg;
  };

  void serve() noexcept {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      const bool got = ready_.wait_for(lock, kLinger, [&] { return !jobs_.empty(); });
      --idle_;
      if (!got) break;
      const job_ref next = jobs_.front();
      jobs_.pop_front();
      lock.unlock();
      next.job(next.arg);
      lock.lock();
    }
    --threads_;
  }

  std::mutex mu_;  // guards the members below
  std::condition_variable ready_;
  std::deque<job_ref> jobs_;  // not yet taken by a thread
  std::size_t idle_ = 0;      // threads waiting for a job
  std::size_t threads_ = 0;   // threads alive
};

}  // namespace

void run_on_spare_thread(void (*job)(void*), void* arg) noexcept {
  watch_forks();
  per_process<spare_threads>().run(job, arg);
}

std::size_t spare_threads_alive() noexcept { return per_process<spare_threads>().alive(); }

}  // namespace sluice::detail
