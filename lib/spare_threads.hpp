// Internal to lib/: threads of sluice's own, made when a job finds none idle and ended after a
// while without work. They run activations that oneTBB does not (executor.hpp): every
// activation in a forked child, and in the parent those that waited too long for oneTBB.
#pragma once

#include <cstddef>

namespace sluice::detail {

// Runs job(arg) on a spare thread: an idle one, or a new one when none is idle. Returns at once.
// A thread idle for about a second ends. If no thread can be made, the job waits for one of the
// spare threads to finish what it runs; when none exists, this retries making one on every
// later call.
// Thread safety: may be called from any thread. Exceptions: none.
void run_on_spare_thread(void (*job)(void*), void* arg) noexcept;

// The spare threads alive now (running a job or waiting for one), for the tests' thread
// accounting. Thread safety: may be called from any thread.
std::size_t spare_threads_alive() noexcept;

}  // namespace sluice::detail
