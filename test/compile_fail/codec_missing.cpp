// expect-error: sluice: no sluice::codec<T> for this type
// Encoding or decoding a type that has no sluice::codec is a compile error whose message says how
// to add one. The twin specialises sluice::codec for the type and compiles.
#include <string>

#include <sluice/codec.hpp>

namespace {
struct meters {
  double value = 0;
};
}  // namespace

#ifdef SLUICE_TWIN
template <>
struct sluice::codec<meters> {
  static void encode(const meters& m, sluice::writer& w) { w.write(m.value); }
  static meters decode(sluice::reader& r) { return {r.read<double>()}; }
};
#endif

double instantiate() {
  const std::string bytes = sluice::encode(meters{1.5});
  return sluice::decode<meters>(bytes).value;
}
