// membarrier(2) for detail::heavy_barrier; see include/sluice/detail/barrier.hpp.
#include <sluice/detail/engine/barrier.hpp>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sluice::detail {
namespace {

#if defined(__linux__) && defined(__NR_membarrier)
long membarrier(int command) { return syscall(__NR_membarrier, command, 0U, 0); }

bool register_membarrier() noexcept {
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}
#else
bool register_membarrier() noexcept { return false; }
#endif

}  // namespace

void enable_asymmetric_barrier() noexcept {
  static const bool registered = [] {
    const bool ok = register_membarrier();
    if (ok) asymmetric_barrier_on.store(true, std::memory_order_seq_cst);
    return ok;
  }();
  static_cast<void>(registered);
}

void renew_asymmetric_barrier() noexcept {
  // A forked child starts with its own memory map; registering again is harmless where the
  // registration was inherited, and without it the light side would pair with nothing.
  if (asymmetric_barrier_on.load(std::memory_order_relaxed) && !register_membarrier()) {
    asymmetric_barrier_on.store(false, std::memory_order_seq_cst);
  }
}

void heavy_barrier() noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  if (asymmetric_barrier_on.load(std::memory_order_relaxed)) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Cannot fail once registered (membarrier(2): only EINVAL/EPERM before registration).
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  }
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace sluice::detail
