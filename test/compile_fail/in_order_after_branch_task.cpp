// expect-error: sluice: the in_order after task #3 follows a fan_out or route with a branch that does not turn one item into exactly one
// A route branch marked sluice::branch (one item in, many out) leaves in_order unable to tell
// when an input is done; it is rejected when the pipeline is called. The twin's branch passes
// one item on and compiles.
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
  auto p = sluice::task(produce_int) |
           sluice::route([](int x) { return x % 2; },
                         sluice::task([](int x) { return std::vector<int>{x}; }), second) |
           sluice::in_order();
  auto s = p(1);
  (void)s;
}
