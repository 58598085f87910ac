// Internal to lib/: what sluice knows about the process it runs in, and how its process-wide
// services survive fork().
//
// A child made by fork() has one thread: the parent's worker threads (oneTBB's, the timer's,
// the spare threads') do not exist in it, and a lock one of them held at the fork stays held.
// oneTBB cannot work there at all: an arena made in such a child gets no worker thread. So a
// forked child abandons every process-wide service its parent made (never destroying it: that
// would wait for threads that are gone or take locks that are held) and makes its own on first
// use; its runs execute on sluice's own threads, never on oneTBB (see executor.hpp).
#pragma once

#include <atomic>

namespace sluice::detail {

// Installs the fork handler, once per process (and inherited by children). Every process-wide
// service calls it before it makes its first thread, so a fork after that is noticed.
void watch_forks() noexcept;

// Under AddressSanitizer whose runtime does not do it itself: makes every fork() hold ASan's
// allocator, thread and stack-trace locks, so that no child inherits one of them held
// (asan_fork.cpp). Called once, while the program starts; does nothing in other builds.
void hold_sanitizer_locks_across_fork() noexcept;

// Under ThreadSanitizer: fills the calling thread's allocator cache, right before it forks, so
// that the child does not block on an allocator lock another thread held at the fork
// (tsan_fork.cpp). Does nothing in other builds.
void prime_allocator_before_fork() noexcept;

// Marks this process as a worker process (spawner.cpp, in the child, before the callable runs);
// worker_process() then says so.
void mark_worker_process() noexcept;
bool worker_process() noexcept;

// True in a child made by fork() after sluice had started a thread in an ancestor.
bool forked_child() noexcept;

// Registers `forget`, called in the child right after a fork (with the child's only thread):
// it must drop the service's pointer to its process-wide state without touching that state.
// Up to 16 services; called from a service's first use, under no lock of its own.
void forget_after_fork(void (*forget)()) noexcept;

// Keeps a pointer to state a forked child abandoned, so that leak checkers see it reachable.
void keep_abandoned(const void* state) noexcept;

// The process-wide instance of `Service`, made on first use and made anew in a forked child.
// Never destroyed: threads of the service may still run while the process exits.
// Thread-safe; cheap after the first call (one acquire load).
template <class Service>
Service& per_process() {
  static std::atomic<Service*> instance{nullptr};
  Service* found = instance.load(std::memory_order_acquire);
  if (found != nullptr) return *found;
  static std::atomic<bool> registered{false};
  if (!registered.exchange(true, std::memory_order_acq_rel)) {
    forget_after_fork([] { keep_abandoned(instance.exchange(nullptr, std::memory_order_relaxed)); });
  }
  auto* made = new Service();
  if (instance.compare_exchange_strong(found, made, std::memory_order_acq_rel)) return *made;
  delete made;  // another thread made it first
  return *found;
}

}  // namespace sluice::detail
