// Workload "cpu": how much of the machine a CPU-bound stage gets. N items (200 k) go through a
// stage that burns ~20 us each (a calibrated LCG loop, see work.hpp) at concurrency = the number
// of hardware threads, in sluice, tbb::parallel_pipeline with a parallel filter, and a static
// split of the items over std::threads. Reports ns per item and the efficiency
// (items x per-item burn time / cores) / elapsed, where the per-item burn time is measured
// serially at the start of each round. Bar: sluice efficiency >= 0.95.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <oneapi/tbb/parallel_pipeline.h>

#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

struct setup {
  item n = 0;
  std::uint64_t iterations = 0;  // of burn() per item
  std::size_t cores = 1;
  double burn_seconds = 0;  // one burn, measured serially; updated every round
};

std::uint64_t run_sluice(const setup& s) {
  const auto pipeline =
      sluice::task(numbers, sluice::branch) |
      sluice::task([it = s.iterations](item i) { return burn(static_cast<std::uint64_t>(i), it); },
                   {.concurrency = s.cores}) > sluice::reduce(std::uint64_t{0}, std::plus<>{});
  return pipeline(s.n);
}

std::uint64_t run_tbb_pipeline(const setup& s) {
  using oneapi::tbb::filter_mode;
  using oneapi::tbb::make_filter;
  item next = 0;
  std::uint64_t sum = 0;
  auto source = [&](oneapi::tbb::flow_control& fc) -> item {
    if (next >= s.n) {  // >=: stays stopped if called again (see run_tbb_flow_graph in chain.cpp)
      fc.stop();
      return 0;
    }
    return next++;
  };
  auto work = [&](item i) { return burn(static_cast<std::uint64_t>(i), s.iterations); };
  oneapi::tbb::parallel_pipeline(
      4 * s.cores, make_filter<void, item>(filter_mode::serial_in_order, source) &
                       make_filter<item, std::uint64_t>(filter_mode::parallel, work) &
                       make_filter<std::uint64_t, void>(filter_mode::serial_out_of_order,
                                                        [&](std::uint64_t x) { sum += x; }));
  return sum;
}

// Thread k of `cores` burns the items [k*n/cores, (k+1)*n/cores).
std::uint64_t run_static_threads(const setup& s) {
  std::vector<std::uint64_t> sums(s.cores, 0);
  std::vector<std::thread> threads;
  const auto cores = static_cast<item>(s.cores);
  for (item k = 0; k < cores; ++k)
    threads.emplace_back([&s, &sums, k, cores] {
      std::uint64_t sum = 0;
      for (item i = k * s.n / cores; i < (k + 1) * s.n / cores; ++i)
        sum += burn(static_cast<std::uint64_t>(i), s.iterations);
      sums[static_cast<std::size_t>(k)] = sum;
    });
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < s.cores; ++k) {
    threads[k].join();
    total += sums[k];
  }
  return total;
}

implementation measured(const char* name, const std::shared_ptr<setup>& s,
                        std::uint64_t (*run)(const setup&)) {
  return {name, [name, s, run] {
            std::uint64_t got = 0;
            const double seconds = time_seconds([&] { got = run(*s); });
            expect_equal(std::string("cpu/") + name, "burn sum", got,
                         burn_sum(static_cast<std::uint64_t>(s->n), s->iterations));
            const double n = static_cast<double>(s->n);
            const double ideal = n * s->burn_seconds / static_cast<double>(s->cores);
            return sample{seconds * 1e9 / n, n / seconds, {{"efficiency", ideal / seconds}}};
          }};
}

}  // namespace

result run_cpu(const options& o) {
  auto s = std::make_shared<setup>();
  s->n = o.size(200'000, 2'000);
  s->iterations = burn_iterations(20.0);
  s->cores = std::max(1U, std::thread::hardware_concurrency());
  s->burn_seconds = measure_burn(s->iterations, 0.05);

  result r{"cpu", "ns/item"};
  r.parameters = {{"items", static_cast<double>(s->n)},
                  {"concurrency", static_cast<double>(s->cores)},
                  {"burn_us", s->burn_seconds * 1e6}};
  print_parameters(r);
  const std::vector<implementation> impls = {measured("sluice", s, run_sluice),
                                             measured("tbb-pipeline", s, run_tbb_pipeline),
                                             measured("static-threads", s, run_static_threads)};
  const double budget = o.quick ? 0.01 : 0.1;
  std::vector<double> burn_us;
  r.rows = run_rounds(r.workload, impls, o, [&](int) {
    s->burn_seconds = measure_burn(s->iterations, budget);
    burn_us.push_back(s->burn_seconds * 1e6);
  });
  r.parameters.back().second = median(burn_us);

  // The baselines' efficiencies show how much of the machine was free for everyone.
  const double efficiency = r.at("sluice").median_extra("efficiency");
  r.bars.push_back(make_bar("sluice efficiency >= 0.95", efficiency,
                            format("%.3f (tbb-pipeline %.3f, static-threads %.3f)", efficiency,
                                   r.at("tbb-pipeline").median_extra("efficiency"),
                                   r.at("static-threads").median_extra("efficiency")),
                            efficiency >= 0.95));
  return r;
}

}  // namespace perf
