// expect-error: sluice: an enum without a fixed underlying type has no sluice::codec
// An enum without a fixed underlying type cannot go through sluice::codec: its valid values depend
// on its enumerators, which a codec cannot see, so decoding could not reject a value outside
// them. Encoding or decoding one is a compile error that says to give it one. The twin declares
// the same enum with a fixed underlying type and compiles.
#include <string>

#include <sluice/codec.hpp>

namespace {
#ifdef SLUICE_TWIN
enum light : int { red, amber, green };
#else
enum light { red, amber, green };
#endif
}  // namespace

int instantiate() {
  const std::string bytes = sluice::encode(green);
  return static_cast<int>(sluice::decode<light>(bytes));
}
