// Workloads "pmap" and "pmap_sleep": sluice::pmap against what a user would write
// instead.
//   pmap:       1 M int64 through a trivial f (2x + 1) into a std::vector, at workers = the
//               hardware threads. Baselines: a hand-written chunked loop (one std::thread per
//               core, a static split) and tbb::parallel_for over a blocked_range (auto
//               partitioner). Every implementation allocates its output vector inside the
//               timing. Bar: sluice >= 0.8x the faster baseline's items/s.
//   pmap_sleep: 1000 calls that each sleep 10 ms, at workers = 100: elapsed against the ideal
//               ceil(1000 / 100) x 10 ms = 0.1 s. Baseline: 100 std::threads taking positions
//               from a shared atomic counter. Bar: sluice <= 1.1x the ideal.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

// ---- pmap: trivial items ------------------------------------------------------------------------

struct trivial_setup {
  std::vector<item> input;
  std::size_t cores = 1;
};

inline item trivial(item x) { return 2 * x + 1; }  // sums to n^2 over 0..n-1

item sum_of(const std::vector<item>& v) { return std::accumulate(v.begin(), v.end(), item{0}); }

std::vector<item> run_pmap(const trivial_setup& s) {
  return sluice::pmap([](item x) { return trivial(x); }, s.input, {.workers = s.cores});
}

// Thread k of `cores` maps the positions [k*n/cores, (k+1)*n/cores).
std::vector<item> run_chunked_threads(const trivial_setup& s) {
  const std::size_t n = s.input.size();
  std::vector<item> out(n);
  std::vector<std::thread> threads;
  threads.reserve(s.cores);
  for (std::size_t k = 0; k < s.cores; ++k)
    threads.emplace_back([&, k] {
      for (std::size_t i = k * n / s.cores; i < (k + 1) * n / s.cores; ++i)
        out[i] = trivial(s.input[i]);
    });
  for (auto& t : threads) t.join();
  return out;
}

std::vector<item> run_parallel_for(const trivial_setup& s) {
  std::vector<item> out(s.input.size());
  oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<std::size_t>(0, s.input.size()),
                            [&](const oneapi::tbb::blocked_range<std::size_t>& r) {
                              for (std::size_t i = r.begin(); i != r.end(); ++i)
                                out[i] = trivial(s.input[i]);
                            });
  return out;
}

implementation trivial_impl(const char* name, const std::shared_ptr<trivial_setup>& s,
                            std::vector<item> (*run)(const trivial_setup&)) {
  return {name, [name, s, run] {
            std::vector<item> out;
            const double seconds = time_seconds([&] { out = run(*s); });
            const auto n = static_cast<item>(s->input.size());
            expect_equal(std::string("pmap/") + name, "size", static_cast<item>(out.size()), n);
            expect_equal(std::string("pmap/") + name, "sum", sum_of(out), n * n);
            const double count = static_cast<double>(n);
            return sample{seconds * 1e9 / count, count / seconds};
          }};
}

// ---- pmap_sleep: blocking calls -------------------------------------------------------------------

constexpr std::size_t sleep_workers = 100;
constexpr auto nap = std::chrono::milliseconds(10);

struct sleep_setup {
  std::int64_t n = 0;
  double ideal_seconds = 0;
};

std::int64_t napped(std::int64_t i) {
  std::this_thread::sleep_for(nap);
  return i;
}

std::int64_t run_pmap_sleep(const sleep_setup& s) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(s.n));
  std::iota(ids.begin(), ids.end(), std::int64_t{0});
  const auto out = sluice::pmap(napped, ids, {.workers = sleep_workers});
  return std::accumulate(out.begin(), out.end(), std::int64_t{0});
}

std::int64_t run_threads_sleep(const sleep_setup& s) {
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> sum{0};
  std::vector<std::thread> threads;
  threads.reserve(sleep_workers);
  for (std::size_t k = 0; k < sleep_workers; ++k)
    threads.emplace_back([&] {
      for (std::int64_t i; (i = next.fetch_add(1)) < s.n;) sum.fetch_add(napped(i));
    });
  for (auto& t : threads) t.join();
  return sum.load();
}

implementation sleep_impl(const char* name, const std::shared_ptr<sleep_setup>& s,
                          std::int64_t (*run)(const sleep_setup&)) {
  return {name, [name, s, run] {
            std::int64_t got = 0;
            const double seconds = time_seconds([&] { got = run(*s); });
            expect_equal(std::string("pmap_sleep/") + name, "sum", got, s->n * (s->n - 1) / 2);
            return sample{seconds * 1e3, not_applicable, {{"x_ideal", seconds / s->ideal_seconds}}};
          }};
}

}  // namespace

result run_pmap(const options& o) {
  auto s = std::make_shared<trivial_setup>();
  s->input.resize(static_cast<std::size_t>(o.size(1'000'000, 10'000)));
  std::iota(s->input.begin(), s->input.end(), item{0});
  s->cores = std::max(1U, std::thread::hardware_concurrency());

  result r{"pmap", "ns/item"};
  r.parameters = {{"items", static_cast<double>(s->input.size())},
                  {"workers", static_cast<double>(s->cores)}};
  print_parameters(r);
  const std::vector<implementation> impls = {
      trivial_impl("sluice", s, run_pmap),
      trivial_impl("chunked-threads", s, run_chunked_threads),
      trivial_impl("tbb-parallel-for", s, run_parallel_for)};
  r.rows = run_rounds(r.workload, impls, o);

  const double ours = r.at("sluice").median_items_per_second();
  const double threads = r.at("chunked-threads").median_items_per_second();
  const double tbb = r.at("tbb-parallel-for").median_items_per_second();
  const double ratio = ours / std::max(threads, tbb);
  r.bars.push_back(make_bar("sluice >= 0.8x the faster of chunked-threads and tbb-parallel-for",
                            ratio,
                            format("%.2fx (chunked-threads %.2fx, tbb-parallel-for %.2fx)", ratio,
                                   ours / threads, ours / tbb),
                            ratio >= 0.8));
  return r;
}

result run_pmap_sleep(const options& o) {
  auto s = std::make_shared<sleep_setup>();
  s->n = o.size(1000, 200);
  const auto rounds = (s->n + static_cast<std::int64_t>(sleep_workers) - 1) /
                      static_cast<std::int64_t>(sleep_workers);
  s->ideal_seconds = static_cast<double>(rounds) * std::chrono::duration<double>(nap).count();

  result r{"pmap_sleep", "ms"};
  r.parameters = {{"items", static_cast<double>(s->n)},
                  {"workers", static_cast<double>(sleep_workers)},
                  {"ideal_ms", s->ideal_seconds * 1e3}};
  print_parameters(r);
  const std::vector<implementation> impls = {sleep_impl("sluice", s, run_pmap_sleep),
                                             sleep_impl("std-threads", s, run_threads_sleep)};
  r.rows = run_rounds(r.workload, impls, o);

  const double x = r.at("sluice").median_extra("x_ideal");
  r.bars.push_back(make_bar("sluice <= 1.1x the ideal", x,
                            format("%.3fx of %.0f ms (std-threads %.3fx)", x,
                                   s->ideal_seconds * 1e3,
                                   r.at("std-threads").median_extra("x_ideal")),
                            x <= 1.1));
  return r;
}

}  // namespace perf
