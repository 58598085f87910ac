// Workload "latency": how long one item takes through idle stages, cold. A producer sleeps 2 ms
// before each of N items (200), stamps it with steady_clock just before handing it on, and the
// sink subtracts the stamp on arrival, after three pass-through stages. Every item finds the
// pipeline idle, so this measures waking each stage. Implementations: sluice, the blocking SPSC
// thread chain (see spsc.hpp), and a raw tbb::flow::graph fed by try_put from the caller.
// Reports the p50 latency in us per round (p99 as an extra). Bar: sluice p50 <= 50 us.
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <oneapi/tbb/flow_graph.h>

#include "spsc.hpp"
#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

constexpr auto gap = std::chrono::milliseconds(2);

struct stamp {
  std::int64_t index = 0;
  std::int64_t sent_ns = 0;
};

stamp pass(stamp s) { return s; }

// What the sink saw: one latency per item, and the indices' sum as the checksum.
struct arrivals {
  std::vector<double> micros;
  std::int64_t index_sum = 0;

  void record(const stamp& s) {
    micros.push_back(static_cast<double>(now_ns() - s.sent_ns) * 1e-3);
    index_sum += s.index;
  }
};

sluice::generator<stamp> paced(std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    std::this_thread::sleep_for(gap);
    co_yield stamp{i, now_ns()};
  }
}

arrivals run_sluice(std::int64_t n) {
  arrivals a;
  const auto pipeline =
      sluice::task(paced, sluice::branch) | sluice::task(pass) | sluice::task(pass) |
      sluice::task(pass) > sluice::for_each([&a](const stamp& s) { a.record(s); });
  pipeline(n);
  return a;
}

#if defined(SLUICE_PERF_HAVE_RWQUEUE)
arrivals run_spsc(std::int64_t n) {
  arrivals a;
  spsc::run_chain<spsc::blocking_queue, stamp>(
      [n](auto emit) {
        for (std::int64_t i = 0; i < n; ++i) {
          std::this_thread::sleep_for(gap);
          emit(stamp{i, now_ns()});
        }
      },
      [&a](const stamp& s) { a.record(s); }, pass, pass, pass);
  return a;
}
#endif

arrivals run_tbb_flow_graph(std::int64_t n) {
  namespace flow = oneapi::tbb::flow;
  arrivals a;
  flow::graph g;
  flow::function_node<stamp, stamp> s1(g, flow::serial, pass);
  flow::function_node<stamp, stamp> s2(g, flow::serial, pass);
  flow::function_node<stamp, stamp> s3(g, flow::serial, pass);
  flow::function_node<stamp, flow::continue_msg> sink(g, flow::serial, [&a](const stamp& s) {
    a.record(s);
    return flow::continue_msg{};
  });
  flow::make_edge(s1, s2);
  flow::make_edge(s2, s3);
  flow::make_edge(s3, sink);
  for (std::int64_t i = 0; i < n; ++i) {
    std::this_thread::sleep_for(gap);
    s1.try_put(stamp{i, now_ns()});
  }
  g.wait_for_all();
  return a;
}

implementation measured(std::string name, std::int64_t n, arrivals (*run)(std::int64_t)) {
  std::string who = "latency/" + name;
  return {std::move(name), [who = std::move(who), n, run] {
            const arrivals a = run(n);
            expect_equal(who, "items", static_cast<long long>(a.micros.size()),
                         static_cast<long long>(n));
            expect_equal(who, "index sum", static_cast<long long>(a.index_sum),
                         static_cast<long long>(n * (n - 1) / 2));
            return sample{
                percentile(a.micros, 50), not_applicable, {{"p99_us", percentile(a.micros, 99)}}};
          }};
}

}  // namespace

result run_latency(const options& o) {
  const std::int64_t n = o.size(200, 20, 2);
  result r{"latency", "us p50"};
  r.parameters = {{"items", static_cast<double>(n)},
                  {"gap_ms", std::chrono::duration<double, std::milli>(gap).count()}};
  print_parameters(r);
  std::vector<implementation> impls;
  impls.push_back(measured("sluice", n, run_sluice));
#if defined(SLUICE_PERF_HAVE_RWQUEUE)
  impls.push_back(measured("spsc-blocking", n, run_spsc));
#endif
  impls.push_back(measured("tbb-flow-graph", n, run_tbb_flow_graph));
  r.rows = run_rounds(r.workload, impls, o);

  const row& sluice = r.at("sluice");
  const double p50 = sluice.median_value();
  r.bars.push_back(make_bar("sluice p50 <= 50 us", p50,
                            format("%.1f us (p99 %.1f us)", p50, sluice.median_extra("p99_us")),
                            p50 <= 50));
  return r;
}

}  // namespace perf
