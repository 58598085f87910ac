// expect-error: sluice: task #2 uses sluice::process, but its input type T has no sluice::codec<T>
// A process task's input crosses to a worker process as bytes, so a type without a codec is
// rejected when the pipeline is called, naming the task. The twin gives the type a codec.
#include <vector>

#include <sluice/sluice.hpp>

namespace {
struct reading {
  double celsius = 0;
};
std::vector<reading> readings() { return {{20.5}, {21.0}}; }
}  // namespace

#ifdef SLUICE_TWIN
template <>
struct sluice::codec<reading> {
  static void encode(const reading& r, sluice::writer& w) { w.write(r.celsius); }
  static reading decode(sluice::reader& r) { return {r.read<double>()}; }
};
#endif

void instantiate() {
  auto p = sluice::task(readings, sluice::branch) |
           sluice::task([](reading r) { return r.celsius; }, sluice::process);
  auto s = p();
  (void)s;
}
