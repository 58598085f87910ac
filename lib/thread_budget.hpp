// Internal to lib/: how many threads TBB may run in this process.
#pragma once

#include <cstddef>

namespace sluice::detail {

// TBB caps its worker threads at the hardware concurrency. A sluice stage may block a thread
// in every call (a sleeping or I/O-bound task at concurrency 100 holds 100 threads), so each
// run reserves the threads its stages may block, and the cap is raised to the hardware
// concurrency plus everything reserved by the runs alive now. While runs come and go it is only
// raised; it is dropped 100 ms after the last run ends (see thread_budget.cpp).
void reserve_threads(std::size_t count);
void release_threads(std::size_t count) noexcept;

}  // namespace sluice::detail
