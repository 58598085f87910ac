// expect-error: sluice: task #1 uses sluice::process, which runs one call per item in a worker process; a producer
// A producer is called once, not per item, so it cannot be a process task: rejected when the
// pipeline is called. The twin runs the per-item work in a process task after the producer.
#include <vector>

#include <sluice/sluice.hpp>

namespace {
std::vector<int> numbers(int n) { return std::vector<int>(static_cast<std::size_t>(n), 1); }
int twice(int x) { return 2 * x; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto p = sluice::task(numbers, sluice::branch) | sluice::task(twice, sluice::process);
#else
  auto p = sluice::task(numbers, sluice::branch | sluice::process) | sluice::task(twice);
#endif
  auto s = p(3);
  (void)s;
}
