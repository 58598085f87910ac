#include "process.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstddef>

#include <sluice/detail/engine/barrier.hpp>

namespace sluice::detail {
namespace {

std::atomic<bool> in_forked_child{false};
std::atomic<bool> in_worker_process{false};

// Fixed storage: the child handler must not allocate or lock.
std::array<std::atomic<void (*)()>, 16> forgetters{};
std::array<const void*, 64> abandoned{};  // written only by a child's one thread, at the fork
std::size_t abandoned_count = 0;

// Registered while the program starts, before any handler sluice or the program adds later:
// prepare handlers run in the reverse order of registration, so ASan's locks are taken after
// every other prepare handler has finished allocating, and released first in both processes.
[[maybe_unused]] const bool sanitizer_locks_held = (hold_sanitizer_locks_across_fork(), true);

void after_fork_in_child() noexcept {
  in_forked_child.store(true, std::memory_order_relaxed);
  for (auto& slot : forgetters) {
    if (auto* forget = slot.load(std::memory_order_relaxed)) forget();
  }
  renew_asymmetric_barrier();
}

}  // namespace

void watch_forks() noexcept {
  static const bool installed = pthread_atfork(nullptr, nullptr, &after_fork_in_child) == 0;
  static_cast<void>(installed);
}

void keep_abandoned(const void* state) noexcept {
  if (state != nullptr && abandoned_count < abandoned.size()) abandoned[abandoned_count++] = state;
}

void mark_worker_process() noexcept { in_worker_process.store(true, std::memory_order_relaxed); }
bool worker_process() noexcept { return in_worker_process.load(std::memory_order_relaxed); }

bool forked_child() noexcept { return in_forked_child.load(std::memory_order_relaxed); }

void forget_after_fork(void (*forget)()) noexcept {
  for (auto& slot : forgetters) {
    void (*empty)() = nullptr;
    if (slot.compare_exchange_strong(empty, forget, std::memory_order_acq_rel)) return;
  }
}

}  // namespace sluice::detail
