// The work the workloads share (see work.hpp): the chain's producer, the per-item implementation
// wrapper that times and checks a chain, and the calibrated CPU burn with its O(log n) check.
#include "work.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace perf {

sluice::generator<item> numbers(item n) {
  for (item i = 0; i < n; ++i) co_yield i;
}

item opaque(item x) {
  volatile item v = x;
  return v;
}

implementation per_item(std::string name, std::string workload, item n, item expected,
                        item (*run)(item)) {
  std::string who = workload + "/" + name;
  return {std::move(name), [who = std::move(who), n, expected, run] {
            item got = 0;
            const double seconds = time_seconds([&] { got = run(n); });
            expect_equal(who, "sum", got, expected);
            const double count = static_cast<double>(n);
            return sample{seconds * 1e9 / count, count / seconds};
          }};
}

// --- CPU burn ---------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t lcg_multiplier = 6364136223846793005ULL;  // Knuth's MMIX LCG
constexpr std::uint64_t lcg_increment = 1442695040888963407ULL;

// s -> a*s + c (mod 2^64)
struct affine {
  std::uint64_t a;
  std::uint64_t c;
};

// Applies `first`, then `second`.
affine then(affine first, affine second) {
  return {second.a * first.a, second.a * first.c + second.c};
}

// The LCG step applied `n` times, by repeated squaring.
affine lcg_power(std::uint64_t n) {
  affine result{1, 0};
  affine step{lcg_multiplier, lcg_increment};
  for (; n != 0; n >>= 1) {
    if ((n & 1) != 0) result = then(result, step);
    step = then(step, step);
  }
  return result;
}

volatile std::uint64_t burn_sink;  // calibration results land here so they are not discarded

double iterations_per_microsecond() {
  static const double rate = [] {
    constexpr std::uint64_t probe = std::uint64_t{1} << 21;
    double best = std::numeric_limits<double>::infinity();
    for (std::uint64_t attempt = 0; attempt < 3; ++attempt)
      best = std::min(best, time_seconds([&] { burn_sink = burn(attempt, probe); }));
    return static_cast<double>(probe) / (best * 1e6);
  }();
  return rate;
}

}  // namespace

std::uint64_t burn(std::uint64_t seed, std::uint64_t iterations) {
  std::uint64_t state = seed;
  for (std::uint64_t i = 0; i < iterations; ++i) state = state * lcg_multiplier + lcg_increment;
  return state;
}

std::uint64_t burn_result(std::uint64_t seed, std::uint64_t iterations) {
  const affine p = lcg_power(iterations);
  return p.a * seed + p.c;
}

std::uint64_t burn_sum(std::uint64_t n, std::uint64_t iterations) {
  // sum of (a*i + c) for i < n = a * n(n-1)/2 + n*c, all mod 2^64
  const affine p = lcg_power(iterations);
  const std::uint64_t triangle = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
  return p.a * triangle + n * p.c;
}

std::uint64_t burn_iterations(double microseconds) {
  const double iterations = std::round(microseconds * iterations_per_microsecond());
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(iterations));
}

double measure_burn(std::uint64_t iterations, double budget_seconds) {
  const double one = static_cast<double>(iterations) / (iterations_per_microsecond() * 1e6);
  const auto calls = std::max<std::uint64_t>(10, static_cast<std::uint64_t>(budget_seconds / one));
  std::uint64_t total = 0;
  const double seconds = time_seconds([&] {
    for (std::uint64_t i = 0; i < calls; ++i) total += burn(i, iterations);
  });
  burn_sink = total;
  return seconds / static_cast<double>(calls);
}

}  // namespace perf
