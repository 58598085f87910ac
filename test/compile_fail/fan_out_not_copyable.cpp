// expect-error: sluice: fan_out copies every item to each branch, so its item type must be copyable
// fan_out on a move-only item (std::unique_ptr) is rejected when the pipeline is called. The twin
// fans out an int and compiles.
#include <memory>

#include <sluice/sluice.hpp>

namespace {
std::unique_ptr<int> box(int n) { return std::make_unique<int>(n); }
int unbox(const std::unique_ptr<int>& p) { return *p; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto p = sluice::task(unbox) | sluice::fan_out(sluice::task([](int x) { return x; }),
                                                 sluice::task([](int x) { return -x; }));
  auto s = p(box(1));
#else
  auto p = sluice::task(box) | sluice::fan_out(sluice::task(unbox), sluice::task(unbox));
  auto s = p(1);
#endif
  (void)s;
}
