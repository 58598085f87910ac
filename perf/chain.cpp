// Workload "chain": the per-item hand-off cost. A producer of N int64 (0..N-1), three map stages
// (x+1, x*2, x-1) and a summing sink (sum = N^2), in sluice and in the baselines a user would
// pick instead: a serial loop (the floor), one std::thread per stage on moodycamel SPSC queues
// (per item spinning, per item blocking, batches of 256), tbb::parallel_pipeline with 4 and 16
// tokens, and a raw tbb::flow::graph with one message per item. Reports ns per item.
// Bars: sluice >= 5x the best tbb-pipeline; sluice >= 0.5x the spinning chain's items/s.
#include <algorithm>
#include <functional>
#include <vector>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/parallel_pipeline.h>

#include "spsc.hpp"
#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

item run_serial(item n) {
  item sum = 0;
  const item end = opaque(n);
  for (item i = 0; i < end; ++i) sum += f3(f2(f1(opaque(i))));
  return sum;
}

item run_sluice(item n) {
  static const auto chain = sluice::task(numbers, sluice::branch) | sluice::task(f1) |
                            sluice::task(f2) |
                            sluice::task(f3) > sluice::reduce(item{0}, std::plus<>{});
  return chain(n);
}

#if defined(SLUICE_PERF_HAVE_RWQUEUE)
template <template <class> class Queue>
item run_spsc_per_item(item n) {
  item sum = 0;
  spsc::run_chain<Queue, item>(
      [n](auto emit) {
        for (item i = 0; i < n; ++i) emit(i);
      },
      [&sum](item x) { sum += x; }, f1, f2, f3);
  return sum;
}

constexpr std::size_t batch_size = 256;
using batch = std::vector<item>;

template <item (*F)(item)>
batch map_batch(batch b) {
  for (item& x : b) x = F(x);
  return b;
}

item run_spsc_batched(item n) {
  item sum = 0;
  auto produce = [n](auto emit) {
    batch b;
    for (item i = 0; i < n; ++i) {
      if (b.empty()) b.reserve(batch_size);
      b.push_back(i);
      if (b.size() == batch_size) emit(std::exchange(b, {}));
    }
    if (!b.empty()) emit(std::move(b));
  };
  auto sink = [&sum](const batch& b) {
    for (const item x : b) sum += x;
  };
  spsc::run_chain<spsc::blocking_queue, batch>(produce, sink, map_batch<f1>, map_batch<f2>,
                                               map_batch<f3>);
  return sum;
}
#endif

item run_tbb_pipeline(item n, std::size_t tokens) {
  using oneapi::tbb::filter_mode;
  using oneapi::tbb::make_filter;
  item next = 0;
  item sum = 0;
  auto source = [&](oneapi::tbb::flow_control& fc) -> item {
    if (next >= n) {  // >=: stays stopped if called again (see run_tbb_flow_graph)
      fc.stop();
      return 0;
    }
    return next++;
  };
  oneapi::tbb::parallel_pipeline(
      tokens, make_filter<void, item>(filter_mode::serial_in_order, source) &
                  make_filter<item, item>(filter_mode::serial_in_order, &f1) &
                  make_filter<item, item>(filter_mode::serial_in_order, &f2) &
                  make_filter<item, item>(filter_mode::serial_in_order, &f3) &
                  make_filter<item, void>(filter_mode::serial_in_order, [&](item x) { sum += x; }));
  return sum;
}

item run_tbb_pipeline_4(item n) { return run_tbb_pipeline(n, 4); }
item run_tbb_pipeline_16(item n) { return run_tbb_pipeline(n, 16); }

// input_node -> f1 (rejecting: pulls one item at a time, so nothing piles up) -> f2 -> f3 ->
// sink, every node serial; one message (one TBB task) per item and node.
item run_tbb_flow_graph(item n) {
  namespace flow = oneapi::tbb::flow;
  flow::graph g;
  item next = 0;
  item sum = 0;
  flow::input_node<item> source(g, [&](oneapi::tbb::flow_control& fc) -> item {
    if (next >= n) {  // >=, not ==: oneTBB 2021.8 may call the body again after stop()
      fc.stop();
      return 0;
    }
    return next++;
  });
  flow::function_node<item, item, flow::rejecting> s1(g, flow::serial, f1);
  flow::function_node<item, item> s2(g, flow::serial, f2);
  flow::function_node<item, item> s3(g, flow::serial, f3);
  flow::function_node<item, flow::continue_msg> sink(g, flow::serial, [&](item x) {
    sum += x;
    return flow::continue_msg{};
  });
  flow::make_edge(source, s1);
  flow::make_edge(s1, s2);
  flow::make_edge(s2, s3);
  flow::make_edge(s3, sink);
  source.activate();
  g.wait_for_all();
  return sum;
}

std::vector<implementation> implementations(item n) {
  const item expected = chain_sum(n);
  std::vector<implementation> impls;
  auto add = [&](const char* name, item (*run)(item)) {
    impls.push_back(per_item(name, "chain", n, expected, run));
  };
  add("serial", run_serial);
  add("sluice", run_sluice);
#if defined(SLUICE_PERF_HAVE_RWQUEUE)
  add("spsc-spin", run_spsc_per_item<spsc::spinning_queue>);
  add("spsc-blocking", run_spsc_per_item<spsc::blocking_queue>);
  add("spsc-batched", run_spsc_batched);
#endif
  add("tbb-pipeline-t4", run_tbb_pipeline_4);
  add("tbb-pipeline-t16", run_tbb_pipeline_16);
  add("tbb-flow-graph", run_tbb_flow_graph);
  return impls;
}

void add_bars(result& r) {
  const double sluice = r.at("sluice").median_value();  // ns/item
  const double best_tbb =
      std::min(r.at("tbb-pipeline-t4").median_value(), r.at("tbb-pipeline-t16").median_value());
  const double vs_tbb = best_tbb / sluice;
  r.bars.push_back(
      make_bar("sluice >= 5x tbb-pipeline", vs_tbb, format("%.2fx", vs_tbb), vs_tbb >= 5));
  if (const row* spin = r.find("spsc-spin")) {
    const double vs_spin = spin->median_value() / sluice;  // = sluice items/s / spin items/s
    r.bars.push_back(make_bar("sluice >= 0.5x spsc-spin items/s", vs_spin, format("%.2fx", vs_spin),
                              vs_spin >= 0.5));
  }
}

}  // namespace

result run_chain(const options& o) {
  const item n = o.size(10'000'000, 50'000);
  result r{"chain", "ns/item"};
  r.parameters = {{"items", static_cast<double>(n)}};
  print_parameters(r);
  r.rows = run_rounds(r.workload, implementations(n), o);
  add_bars(r);
  return r;
}

}  // namespace perf
