// expect-error: sluice: task #2 returns void; every task passes a value on
// A task in the middle whose callable returns void is rejected when the pipeline is called, with
// that one sentence: the caller's `int n = run(1);` adds no error of its own. The twin's task
// returns its item and compiles.
#include <cstddef>

#include <sluice/sluice.hpp>

namespace {
int produce_int(int n) { return n; }
}  // namespace

std::size_t instantiate() {
#ifdef SLUICE_TWIN
  auto run = (sluice::task(produce_int) | sluice::task([](int x) { return x; })) > sluice::count();
#else
  auto run = (sluice::task(produce_int) | sluice::task([](int) {})) > sluice::count();
#endif
  std::size_t n = run(1);
  return n;
}
