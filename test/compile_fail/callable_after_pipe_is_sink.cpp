// expect-error: sluice: the sink cannot take the stream this pipeline produces.*sluice::task\(f\)
// After `|`, a callable that is not a task is a sink: `a | [](int x) { ... }` does not make a
// task of the lambda, and the sentence says how to. The twin wraps it in sluice::task and ends
// with a sink; it compiles.
#include <vector>

#include <sluice/sluice.hpp>

namespace {
int f_returning_int(int n) { return n; }
}  // namespace

void instantiate() {
  auto add_one = [](int x) { return x + 1; };
#ifdef SLUICE_TWIN
  std::vector<int> r =
      (sluice::task(f_returning_int) | sluice::task(add_one) | sluice::to_vector())(1);
#else
  std::vector<int> r = (sluice::task(f_returning_int) | add_one)(1);
#endif
  (void)r;
}
