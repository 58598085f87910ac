// Internal to lib/: the guarantee that an activation handed to oneTBB runs even when oneTBB gives
// its arena no thread.
//
// oneTBB decides which arena its worker threads serve. It can leave an arena without any: while
// another run's calls hold a hundred of its workers, or for a nested run's new arena (seen to
// hang a run for good). A run must never depend on that choice, so each tier keeps the
// activations it enqueued on oneTBB in a pending_activations, and oneTBB's task takes the oldest
// one from there when it runs. The stall watch, one thread for the process, looks at every such
// queue every kTick while any has work: a queue with activations waiting, none of which was
// taken since the last look, has stalled, and the watch runs everything waiting in it on spare
// threads (spare_threads.hpp). oneTBB's task, when it comes later, finds nothing to take.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace sluice::detail {

class activation_target;

class pending_activations {
 public:
  static constexpr std::chrono::milliseconds kTick{2};

  // `rescued(n)` is told, under no lock of this queue, that n activations were taken by the watch.
  pending_activations(activation_target* const* targets, std::function<void(std::size_t)> rescued);
  pending_activations(const pending_activations&) = delete;
  pending_activations& operator=(const pending_activations&) = delete;
  ~pending_activations();  // stops the watch looking here; waits for a look in progress

  // One more activation of targets[index] waits for a thread.
  void push(std::size_t index);
  // oneTBB's task takes the oldest waiting activation; false when the watch took them all.
  bool take(std::size_t& index) noexcept;
  // Activations waiting now.
  std::size_t size() const noexcept;

  // The watch's look: takes and runs everything waiting when nothing was taken since the last
  // look (and something waited then). Returns whether anything waits or was rescued.
  bool look() noexcept;

 private:
  activation_target* const* targets_;
  std::function<void(std::size_t)> rescued_;
  mutable std::mutex mu_;  // guards the members below
  std::deque<std::size_t> waiting_;
  std::size_t taken_ = 0;            // activations taken so far (by oneTBB or the watch)
  std::size_t taken_at_look_ = 0;    // taken_ at the watch's last look
  bool waited_at_look_ = false;      // whether anything waited at the last look
};

}  // namespace sluice::detail
