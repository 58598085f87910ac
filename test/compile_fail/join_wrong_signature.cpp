// expect-error: sluice: task #2 is marked sluice::join but its callable does not take sluice::stream
// sluice::join on a callable that takes one item instead of the upstream stream is rejected when
// the pipeline is called. The twin takes sluice::stream<int>& and sums it.
#include <sluice/sluice.hpp>

namespace {
int produce_int(int n) { return n; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto sum_all = [](sluice::stream<int>& in) {
    int total = 0;
    for (int x : in) total += x;
    return total;
  };
  auto p = sluice::task(produce_int) | sluice::task(sum_all, sluice::join);
#else
  auto p = sluice::task(produce_int) | sluice::task([](int x) { return x; }, sluice::join);
#endif
  auto s = p(1);
  (void)s;
}
