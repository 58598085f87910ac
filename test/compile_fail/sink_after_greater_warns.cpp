// expect-error: suggest parentheses around comparison in operand of
// g++ -Wall reads `a | b > sink` as a comparison inside `|` and warns (-Wparentheses; this case
// makes that warning an error). The twin ends the pipeline with `|` instead, `a | b | sink`,
// which means the same and compiles without a warning under the flags users' code gets.
#include <vector>

#include <sluice/sluice.hpp>

namespace {
sluice::generator<int> numbers(int limit) {
  for (int i = 0; i < limit; ++i) co_yield i;
}
int twice(int x) { return 2 * x; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto run = sluice::task(numbers, sluice::branch) | sluice::task(twice) | sluice::to_vector();
#else
  auto run = sluice::task(numbers, sluice::branch) | sluice::task(twice) > sluice::to_vector();
#endif
  std::vector<int> doubled = run(3);
  (void)doubled;
}
