// Internal: a pool's amap calls, each a std::thread that runs the call's map and fulfils its
// future. Threads that have finished are joined when the next one starts; the destructor joins
// the rest. Thread-safe.
#pragma once

#include <atomic>
#include <future>
#include <list>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace sluice::detail {

// A callable that runs `map` and gives its result (or its exception) to `promise`.
template <class Out, class Map>
auto fulfil(std::promise<Out> promise, Map map) {
  return [promise = std::move(promise), map = std::move(map)]() mutable {
    try {
      if constexpr (std::is_void_v<Out>) {
        map();
        promise.set_value();
      } else {
        promise.set_value(map());
      }
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  };
}

class background_maps {
 public:
  background_maps() = default;
  background_maps(const background_maps&) = delete;
  background_maps& operator=(const background_maps&) = delete;
  ~background_maps() { join_all(); }

  template <class Work>
  void start(Work work) {
    std::lock_guard lock(mu_);
    reap();
    auto& started = jobs_.emplace_back();
    started.thread = std::thread([&done = started.done, work = std::move(work)]() mutable {
      work();
      done.store(true, std::memory_order_release);
    });
  }

  void join_all() noexcept {
    std::lock_guard lock(mu_);
    for (auto& running : jobs_) running.thread.join();
    jobs_.clear();
  }

 private:
  struct map_thread {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void reap() {  // mu_ held
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->done.load(std::memory_order_acquire)) {
        it->thread.join();
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::mutex mu_;
  std::list<map_thread> jobs_;  // guarded by mu_
};

}  // namespace sluice::detail
