// A consumer of sluice: runs a two-stage pipeline and exits with 0 only if the result is right.
// Shared by the find_package/ and add_subdirectory/ consumer projects, which compile it with
// strict warnings as errors: sluice's headers are system headers to a consumer, so only the
// consumer's own code is warned about, and a pipeline ended with `| sink` is warning-free.
#include <algorithm>
#include <cstdio>
#include <vector>

#include <sluice/sluice.hpp>

sluice::generator<int> numbers(int limit) {
  for (int i = 0; i < limit; ++i) co_yield i;
}

int main() {
  auto run = sluice::task(numbers, sluice::branch) | sluice::task([](int x) { return 2 * x; }) |
             sluice::to_vector();
  std::vector<int> got = run(5);
  std::sort(got.begin(), got.end());
  const std::vector<int> want{0, 2, 4, 6, 8};
  if (got != want) {
    std::fprintf(stderr, "consumer: wrong result (%zu items)\n", got.size());
    return 1;
  }
  std::puts("consumer: ok");
  return 0;
}
