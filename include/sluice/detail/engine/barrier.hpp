// Internal: the asymmetric barrier of the hand-off between a queue's producers and a consumer
// that is about to retire or sleep.
//
// Every push must check whether its consumer is still awake, and a consumer that finds its queue
// empty must check for a push it raced with. Both sides need a full barrier between their write
// and their read (a Dekker handshake). Pushes happen once per item and retirements rarely, so the
// cost is moved to the rare side: with Linux's membarrier(2), a retiring consumer forces a
// barrier on every running thread of the process and a push needs only a compiler barrier.
// Where membarrier is unavailable both sides use std::atomic_thread_fence(seq_cst).
#pragma once

#include <atomic>

namespace sluice::detail {

// True once membarrier is registered; never goes back to false. Set by enable_asymmetric_barrier.
inline std::atomic<bool> asymmetric_barrier_on{false};

// Registers this process for membarrier's private expedited barrier once (lib/barrier.cpp).
// Called when a run starts, before any of its workers push.
void enable_asymmetric_barrier() noexcept;

// In a child made by fork(): registers the child, or falls back to fences on both sides.
void renew_asymmetric_barrier() noexcept;

// The frequent side: after making an item visible, before reading the consumer's state.
inline void light_barrier() noexcept {
  if (asymmetric_barrier_on.load(std::memory_order_relaxed)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// The rare side: after announcing "I am retiring", before the last look at the queue.
void heavy_barrier() noexcept;

}  // namespace sluice::detail
