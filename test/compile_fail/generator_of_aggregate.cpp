// expect-error: sluice: generator<T> of an aggregate whose members have destructors does not compile with g\+\+ 12
// With g++ 12, `co_yield line{...}` of an aggregate with a std::string member frees the string
// twice, so a generator of such an aggregate is rejected with a sentence (test/CMakeLists.txt
// builds this case only with g++ 12). The twin gives the type a constructor and compiles.
#include <string>
#include <utility>

#include <sluice/sluice.hpp>

namespace {
#ifdef SLUICE_TWIN
struct line {
  line(std::string t, int n) : text(std::move(t)), no(n) {}
  std::string text;
  int no;
};
#else
struct line {
  std::string text;
  int no = 0;
};
#endif

sluice::generator<line> lines(int n) {
  for (int i = 0; i < n; ++i) co_yield line{std::to_string(i), i};
}
}  // namespace

void instantiate() {
  for (const line& l : lines(2)) static_cast<void>(l);
}
