// expect-error: sluice: every branch of zip must turn one item into exactly one item
// A zip branch marked sluice::branch (one item in, many out) is rejected when the pipeline is
// called. The twin's branch passes one item on and compiles.
#include <vector>

#include <sluice/sluice.hpp>

namespace {
int produce_int(int n) { return n; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto second = sluice::task([](int x) { return std::vector<int>{x, x}; });
#else
  auto second = sluice::task([](int x) { return std::vector<int>{x, x}; }, sluice::branch);
#endif
  auto p = sluice::task(produce_int) | sluice::zip(sluice::task([](int x) { return x; }), second);
  auto s = p(1);
  (void)s;
}
