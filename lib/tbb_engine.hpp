// Internal to lib/: the executor on oneTBB, the only code that uses oneTBB's task arenas and
// flow graph (thread_budget.cpp sets its thread limit). Its .cpp is never built with
// ThreadSanitizer's instrumentation, like libtbb.so itself, whatever flags turn TSan on: TBB hands
// tasks between threads inside its library, where TSan cannot see the synchronisation, so
// instrumenting TBB's header code only yields reports about TBB's own objects. Everything sluice
// synchronises itself stays instrumented (activation_target::execute, pending_activations), and
// the hand-offs inside oneTBB are annotated (tsan_annotations.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "executor.hpp"

namespace sluice::detail {

// See executor.hpp and tbb_engine.cpp.
std::unique_ptr<executor> make_tbb_executor(std::size_t near_threads, std::size_t far_threads,
                                            const std::vector<activation_target*>& targets);

}  // namespace sluice::detail
