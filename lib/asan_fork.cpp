// Under AddressSanitizer only: holds ASan's own locks across fork(), as glibc does for malloc.
//
// The ASan runtimes of g++ before 14 and clang before 18 do not: a thread of the parent that is
// inside the allocator's slow path at the fork (refilling or draining its cache, which every
// thread does when it exits), creating a thread, or recording a stack trace leaves that lock
// held in the child, whose first allocation then blocks forever. Newer runtimes take these same
// locks themselves, so this file does nothing there (taking them twice would deadlock).
//
// The functions are ASan's internals, reached only when the runtime is linked statically (clang's
// default; `-static-libasan` for g++, which sluice's sanitizer build uses): they are declared weak
// and skipped when absent, e.g. with g++'s shared libasan, where a fork stays as unsafe as it is
// for any program under that runtime.
//
// Also, under any ASan: a worker process does not check for leaks when it exits (through a
// callable's exit(), say). Its heap is a copy of its parent's, whose owners are threads that do
// not exist in it, so every block would look leaked, and the report would turn the worker's exit
// code into an abort.
#include "sanitizer_macros.hpp"

#include "process.hpp"

#if defined(SLUICE_ASAN)
// LeakSanitizer's hook, called when the process exits. Weak: a program's own definition wins.
extern "C" [[gnu::weak]] int __lsan_is_turned_off() {  // NOLINT: the runtime's name
  return sluice::detail::worker_process() ? 1 : 0;
}
#endif

#if defined(SLUICE_ASAN) && ((defined(__clang__) && __clang_major__ < 18) || \
                             (!defined(__clang__) && defined(__GNUC__) && __GNUC__ < 14))
#include <pthread.h>

namespace __asan {  // NOLINT: the runtime's own names
[[gnu::weak]] void asan_mz_force_lock();
[[gnu::weak]] void asan_mz_force_unlock();
}  // namespace __asan
namespace __lsan {  // NOLINT
[[gnu::weak]] void LockThreadRegistry();
[[gnu::weak]] void UnlockThreadRegistry();
}  // namespace __lsan
namespace __sanitizer {  // NOLINT
[[gnu::weak]] void StackDepotLockAll();
[[gnu::weak]] void StackDepotUnlockAll();
}  // namespace __sanitizer

namespace sluice::detail {
namespace {

// Taken in the order the newer runtimes take them: threads, allocator, stack traces.
void lock_before_fork() {
  __lsan::LockThreadRegistry();
  __asan::asan_mz_force_lock();
  __sanitizer::StackDepotLockAll();
}

void unlock_after_fork() {
  __sanitizer::StackDepotUnlockAll();
  __asan::asan_mz_force_unlock();
  __lsan::UnlockThreadRegistry();
}

bool runtime_has_them() {
  return &__asan::asan_mz_force_lock != nullptr && &__asan::asan_mz_force_unlock != nullptr &&
         &__lsan::LockThreadRegistry != nullptr && &__lsan::UnlockThreadRegistry != nullptr &&
         &__sanitizer::StackDepotLockAll != nullptr && &__sanitizer::StackDepotUnlockAll != nullptr;
}

}  // namespace

void hold_sanitizer_locks_across_fork() noexcept {
  if (runtime_has_them()) {
    pthread_atfork(&lock_before_fork, &unlock_after_fork, &unlock_after_fork);
  }
}

}  // namespace sluice::detail
#else
void sluice::detail::hold_sanitizer_locks_across_fork() noexcept {}
#endif
