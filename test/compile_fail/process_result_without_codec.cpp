// expect-error: sluice: task #2 uses sluice::process, but the type T its callable returns has no sluice::codec<T>
// A process task's result comes back from a worker process as bytes, so a result type without a
// codec is rejected when the pipeline is called, naming the task. The twin gives it a codec.
#include <vector>

#include <sluice/sluice.hpp>

namespace {
struct reading {
  double celsius = 0;
};
std::vector<double> temperatures() { return {20.5, 21.0}; }
}  // namespace

#ifdef SLUICE_TWIN
template <>
struct sluice::codec<reading> {
  static void encode(const reading& r, sluice::writer& w) { w.write(r.celsius); }
  static reading decode(sluice::reader& r) { return {r.read<double>()}; }
};
#endif

void instantiate() {
  auto p = sluice::task(temperatures, sluice::branch) |
           sluice::task([](double c) { return reading{c}; }, sluice::process);
  auto s = p();
  (void)s;
}
