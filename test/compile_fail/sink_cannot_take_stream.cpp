// expect-error: sluice: the sink cannot take the stream this pipeline produces
// A sink that takes a stream of another type (std::string, while the pipeline produces int) is
// rejected when the pipeline is called. The twin takes sluice::stream<int>& and compiles.
#include <string>

#include <sluice/sluice.hpp>

namespace {
int f_returning_int(int n) { return n; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  int r = (sluice::task(f_returning_int) > [](sluice::stream<int>&) { return 0; })(1);
#else
  int r = (sluice::task(f_returning_int) > [](sluice::stream<std::string>&) { return 0; })(1);
#endif
  (void)r;
}
