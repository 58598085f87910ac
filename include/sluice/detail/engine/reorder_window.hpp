// Internal: the reorder window of an ordered concurrent task, where results wait until every
// earlier one has left.
//
// Workers take items in batches numbered by consecutive tickets (the task hands them out), call
// the task on them out of order, and settle() each batch's results here. An in_order stage
// (shape_runtime.hpp) settles one result at a time and, so that no result ever waits for room,
// has its tickets wait for room when they are handed out (wait_room()). A batch whose first
// ticket is next in order leaves at once from the worker's own results; the others wait in the
// window. The worker that emits also emits every run of results that later batches filed
// meanwhile, so one worker at a time emits and outputs leave in ticket order.
//
// Slot: default-constructible and move-assignable, with a `bool filled` that a settled result
// has set (a default-constructed slot is empty).
// Thread safety: settle(), wait_room() and wake_all() may be called from any worker at once.
// Cancellation: settle() and wait_room() return without filing or emitting once `stopped()` is
// true, and wake_all() ends every wait for room so that a stop is seen.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace sluice::detail {

template <class Slot>
class reorder_window {
 public:
  // `bound`: how many tickets may wait for an earlier one (at least 1). The ring starts with
  // min(bound, initial) slots and grows, doubling, only as results wait in it.
  reorder_window(std::size_t bound, std::size_t initial)
      : bound_(std::max<std::size_t>(bound, 1)),
        ring_(std::clamp<std::size_t>(initial, 1, bound_)) {}
  reorder_window(const reorder_window&) = delete;
  reorder_window& operator=(const reorder_window&) = delete;

  // Settles the results of tickets first .. first+count-1 (count >= 1, at most the bound): waits
  // until the last of them fits in the window, then either files them for the worker that emits
  // or, when `first` is next in order and nobody emits, calls emit(slots, n) on them and then on
  // every run of later results that is ready. emit runs without the window's lock; the slots it
  // gets are its to move from.
  template <class Stopped, class Emit>
  void settle(std::uint64_t first, Slot* results, std::size_t count, Stopped stopped, Emit emit) {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return stopped() || fits(first + count - 1); });
    if (stopped()) return;
    if (emitting_ || first != next_emit_) {
      grow(first + count);
      for (std::size_t i = 0; i < count; ++i) {
        ring_[(first + i) % ring_.size()] = std::move(results[i]);
      }
      return;
    }
    emitting_ = true;
    Slot* out = results;
    std::size_t out_count = count;
    std::uint64_t end = first + count;
    for (;;) {
      lock.unlock();
      emit(out, out_count);
      lock.lock();
      next_emit_ = end;
      emitted_.store(end, std::memory_order_release);
      room_.notify_all();
      if (stopped()) break;
      // Moves out the run of ready results, but frees their slots only once they are emitted:
      // the window plus what is being emitted never exceeds the bound.
      ready_.clear();
      for (; end < next_emit_ + ring_.size(); ++end) {
        Slot& head = ring_[end % ring_.size()];
        if (!head.filled) break;
        ready_.push_back(std::move(head));
        head = Slot{};
      }
      if (ready_.empty()) break;
      out = ready_.data();
      out_count = ready_.size();
    }
    emitting_ = false;
  }

  // Waits until ticket `last` fits in the window: until every ticket up to last - bound has been
  // emitted. False when stopped() (then the ticket must not be settled). Without waiting when
  // it fits already: one atomic load. What the emitter of earlier tickets wrote before it
  // emitted them happens before this returns.
  template <class Stopped>
  bool wait_room(std::uint64_t last, Stopped stopped) {
    if (last < emitted_.load(std::memory_order_acquire) + bound_) return true;
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return stopped() || fits(last); });
    return !stopped();
  }

  // True when no settled ticket waits in the window or is being emitted.
  bool idle() {
    std::lock_guard lock(mu_);
    if (emitting_) return false;
    for (const Slot& s : ring_) {
      if (s.filled) return false;
    }
    return true;
  }

  // Wakes every worker waiting for room, to see a stop.
  void wake_all() noexcept {
    std::lock_guard lock(mu_);
    room_.notify_all();
  }

 private:
  bool fits(std::uint64_t ticket) const { return ticket < next_emit_ + bound_; }

  // Makes room in the ring for tickets below `end` (end <= next_emit_ + bound_, as fits() let
  // them in). Moves just the span [next_emit_, next_emit_ + size), where every filed result is.
  void grow(std::uint64_t end) {
    const std::size_t size = ring_.size();
    const std::uint64_t needed = end - next_emit_;
    if (needed <= size) return;
    std::size_t grown = size;
    while (grown < needed) grown *= 2;
    grown = std::min(grown, bound_);
    std::vector<Slot> bigger(grown);
    for (std::uint64_t t = next_emit_; t < next_emit_ + size; ++t) {
      bigger[t % grown] = std::move(ring_[t % size]);
    }
    ring_.swap(bigger);
  }

  const std::size_t bound_;
  std::mutex mu_;                 // guards the members below
  std::condition_variable room_;  // a worker waits here until its last ticket fits
  std::vector<Slot> ring_;        // ticket t at t % size, for t in [next_emit_, next_emit_ + size)
  std::uint64_t next_emit_ = 0;   // every ticket below it has been emitted
  bool emitting_ = false;         // a worker emits; only it advances next_emit_
  std::atomic<std::uint64_t> emitted_{0};  // next_emit_, for wait_room() to read without mu_
  std::vector<Slot> ready_;       // what the emitting worker moved out of the ring
};

}  // namespace sluice::detail
