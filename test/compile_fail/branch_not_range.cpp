// expect-error: sluice: task #1 is marked sluice::branch but its callable does not return a range
// sluice::branch on a callable that returns a plain int is rejected when the pipeline is called.
// The twin returns a std::vector<int> and compiles.
#include <vector>

#include <sluice/sluice.hpp>

void instantiate() {
#ifdef SLUICE_TWIN
  auto p = sluice::task([](int n) { return std::vector<int>(static_cast<std::size_t>(n), 1); },
                        sluice::branch) |
           sluice::task([](int x) { return x + 1; });
#else
  auto p = sluice::task([](int n) { return n; }, sluice::branch) |
           sluice::task([](int x) { return x + 1; });
#endif
  auto s = p(3);
  (void)s;
}
