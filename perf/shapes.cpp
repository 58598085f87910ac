// Workload "shapes": what fan_out, ordered tasks and batch cost against the plain chain. The
// chain workload's producer and maps (see chain.cpp), in sluice only, as
//   plain         the plain chain: numbers | f1 | f2 | f3 > sum (the reference of the ratios)
//   fanout        numbers | fan_out(f1 | f2 | f3, f1 | f2 | f3) > sum   (sum = 2 N^2)
//   ordered       each map with {.concurrency = 4, .ordered = true}; the sink also checks order
//   batch         numbers | f1 | f2 | f3 | batch(256) > sum of each vector
// Reports ns per producer item. Bars: each shape >= 0.5x the plain chain's items/s.
#include <functional>
#include <numeric>
#include <vector>

#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

item run_plain(item n) {
  static const auto chain = sluice::task(numbers, sluice::branch) | sluice::task(f1) |
                            sluice::task(f2) |
                            sluice::task(f3) > sluice::reduce(item{0}, std::plus<>{});
  return chain(n);
}

item run_fanout(item n) {
  static const auto maps = sluice::task(f1) | sluice::task(f2) | sluice::task(f3);
  static const auto chain = sluice::task(numbers, sluice::branch) |
                            sluice::fan_out(maps, maps) > sluice::reduce(item{0}, std::plus<>{});
  return chain(n);
}

// The ordered chain's outputs are 2i+1: strictly increasing when they arrive in input order.
struct ordered_sum {
  item sum = 0;
  item last = -1;
  bool in_order = true;
};

ordered_sum add_in_order(ordered_sum s, item x) {
  s.in_order = s.in_order && x > s.last;
  s.last = x;
  s.sum += x;
  return s;
}

item run_ordered(item n) {
  static const sluice::task_options opts{.concurrency = 4, .ordered = true};
  static const auto chain = sluice::task(numbers, sluice::branch) | sluice::task(f1, opts) |
                            sluice::task(f2, opts) |
                            sluice::task(f3, opts) > sluice::reduce(ordered_sum{}, add_in_order);
  const ordered_sum s = chain(n);
  return s.in_order ? s.sum : -1;  // -1: never a sum of positive outputs; fails the check
}

item add_batch(item sum, const std::vector<item>& b) {
  return std::accumulate(b.begin(), b.end(), sum);
}

item run_batch(item n) {
  static const auto chain = sluice::task(numbers, sluice::branch) | sluice::task(f1) |
                            sluice::task(f2) | sluice::task(f3) |
                            sluice::batch(256) > sluice::reduce(item{0}, add_batch);
  return chain(n);
}

}  // namespace

result run_shapes(const options& o) {
  const item n = o.size(10'000'000, 50'000);
  result r{"shapes", "ns/item", "plain"};
  r.parameters = {{"items", static_cast<double>(n)}};
  print_parameters(r);
  const item sum = chain_sum(n);
  r.rows = run_rounds(r.workload,
                      {per_item("plain", "shapes", n, sum, run_plain),
                       per_item("fanout", "shapes", n, 2 * sum, run_fanout),
                       per_item("ordered", "shapes", n, sum, run_ordered),
                       per_item("batch", "shapes", n, sum, run_batch)},
                      o);

  const double plain = r.at("plain").median_value();
  for (const char* shape : {"fanout", "ordered", "batch"}) {
    const double vs_plain = plain / r.at(shape).median_value();  // = items/s ratio
    r.bars.push_back(make_bar(format("%s >= 0.5x plain chain items/s", shape), vs_plain,
                              format("%.2fx", vs_plain), vs_plain >= 0.5));
  }
  return r;
}

}  // namespace perf
