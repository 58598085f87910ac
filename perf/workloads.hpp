// The workloads of sluice-perf, one per file (chain.cpp, cpu.cpp, ...). Each runs sluice and its
// baselines interleaved for options::repeat rounds, checks every result, and returns its rows
// and bar lines (see harness.hpp).
#pragma once

#include <string>
#include <vector>

#include "harness.hpp"

namespace perf {

result run_chain(const options& o);       // chain.cpp
result run_cpu(const options& o);         // cpu.cpp
result run_blocking(const options& o);    // blocking.cpp
result run_memory(const options& o);      // memory.cpp
result run_shapes(const options& o);      // shapes.cpp
result run_latency(const options& o);     // latency.cpp
result run_resilience(const options& o);  // resilience.cpp
result run_rate(const options& o);        // resilience.cpp
result run_pmap(const options& o);        // pmap.cpp
result run_pmap_sleep(const options& o);  // pmap.cpp
result run_process(const options& o);     // process.cpp
result run_process_latency(const options& o);  // process.cpp
result run_jobs(const options& o);             // jobs.cpp

// The memory workload's child process (`--child memory IMPLEMENTATION ITEMS BURN_ITERATIONS`):
// runs one implementation and prints what it measured on stdout. Returns the exit status.
int memory_child(const std::vector<std::string>& args);

}  // namespace perf
