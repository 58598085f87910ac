// expect-error: sluice: route's selector must be callable with the item
// A route whose selector cannot take the item (it takes a std::string, the items are ints) is
// rejected when the pipeline is called. The twin's selector takes an int and compiles.
#include <string>

#include <sluice/sluice.hpp>

namespace {
int produce_int(int n) { return n; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto selector = [](int x) { return x % 2; };
#else
  auto selector = [](const std::string& s) { return s.size() % 2; };
#endif
  auto p =
      sluice::task(produce_int) | sluice::route(selector, sluice::task([](int x) { return x; }),
                                                sluice::task([](int x) { return -x; }));
  auto s = p(1);
  (void)s;
}
