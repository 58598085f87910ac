// The work the workloads share, measured by none of it alone: the chain's producer and three
// maps (used by chain, shapes), and a calibrated CPU burn (used by cpu, blocking, memory) whose
// result can be checked without redoing the work.
#pragma once

#include <cstdint>
#include <string>

#include <sluice/sluice.hpp>

#include "harness.hpp"

namespace perf {

// --- the chain: producer of 0..n-1, x+1, x*2, x-1, summing sink (sum = n^2) -------------------

using item = std::int64_t;

inline item f1(item x) { return x + 1; }
inline item f2(item x) { return x * 2; }
inline item f3(item x) { return x - 1; }
inline item chain_sum(item n) { return n * n; }  // sum over i < n of 2(i+1)-1 = 2i+1

sluice::generator<item> numbers(item n);

// Keeps the optimiser from folding a serial loop into its closed form.
item opaque(item x);

// An implementation that runs `run(n)` once per round and checks that it returns `expected`;
// its value is ns per producer item.
implementation per_item(std::string name, std::string workload, item n, item expected,
                        item (*run)(item));

// --- CPU burn ---------------------------------------------------------------------------------

// Runs `iterations` steps of a 64-bit linear congruential generator from `seed` and returns the
// last state: pure, serial CPU work (each step depends on the one before) that no compiler folds.
std::uint64_t burn(std::uint64_t seed, std::uint64_t iterations);

// What burn(seed, iterations) returns, in O(log iterations): the LCG's affine step composed with
// itself. Lets every run check that all the work was done without doing it again.
std::uint64_t burn_result(std::uint64_t seed, std::uint64_t iterations);

// The sum (mod 2^64) of burn(i, iterations) for i in [0, n), again in O(log iterations).
std::uint64_t burn_sum(std::uint64_t n, std::uint64_t iterations);

// Iterations of burn() that take about `microseconds` on this machine (calibrated once).
std::uint64_t burn_iterations(double microseconds);

// Seconds one burn(_, iterations) takes, measured serially over about `budget_seconds`.
double measure_burn(std::uint64_t iterations, double budget_seconds);

}  // namespace perf
