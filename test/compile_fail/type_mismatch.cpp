// expect-error: sluice: task #2 cannot take the output of the task before it
// A task whose callable cannot take the previous task's output (int -> const std::string&) is
// rejected when the pipeline is called. The twin takes an int and compiles.
#include <string>

#include <sluice/sluice.hpp>

namespace {
int produce_int(int n) { return n; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto p = sluice::task(produce_int) | sluice::task([](int x) { return std::to_string(x); });
#else
  auto p = sluice::task(produce_int) | sluice::task([](const std::string& s) { return s.size(); });
#endif
  auto s = p(1);
  (void)s;
}
