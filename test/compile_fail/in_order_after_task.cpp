// expect-error: sluice: the in_order after task #2 must directly follow a fan_out, route or zip
// in_order after a plain task has no numbering of inputs to restore and is rejected when the
// pipeline is called. The twin puts it right after a route and compiles.
#include <sluice/sluice.hpp>

namespace {
int produce_int(int n) { return n; }
int twice(int x) { return 2 * x; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto middle = sluice::route([](int x) { return x % 2; }, sluice::task(twice), sluice::task(twice));
#else
  auto middle = sluice::task(twice);
#endif
  auto p = sluice::task(produce_int) | middle | sluice::in_order();
  auto s = p(1);
  (void)s;
}
