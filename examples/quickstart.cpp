// Shows the quick-start pipeline: 20 one-second calls of slow_double, 20 at a time, take ~1 s.
#include <chrono>
#include <cstdio>
#include <thread>

#include <sluice/generator.hpp>
#include <sluice/task.hpp>

using namespace std::chrono_literals;

sluice::generator<int> numbers(int limit) {
  for (int i = 0; i < limit; ++i) co_yield i;
}

int slow_double(int x) {
  std::this_thread::sleep_for(1s);
  return 2 * x;
}

int sum(sluice::stream<int>& in) {
  int t = 0;
  for (int x : in) t += x;
  return t;
}

int main() {
  // A sink after `|` ends the pipeline; `a | b > sum` means the same, but g++ -Wall warns on it
  // (-Wparentheses: it reads like a comparison).
  auto run = sluice::task(numbers, sluice::branch) |
             sluice::task(slow_double, {.concurrency = 20}) | sum;

  const auto start = std::chrono::steady_clock::now();
  const int total = run(20);  // about 1 s, not 20 s
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  std::printf(
      "sum of 2*i for i < 20 = %d, computed in %.2f s (20 calls of 1 s each, 20 at a time)\n",
      total, elapsed.count());
  if (total != 380) {
    std::fprintf(stderr, "quickstart: expected 380\n");
    return 1;
  }
  if (elapsed > 10s) {  // one call after another would take 20 s
    std::fprintf(stderr, "quickstart: the 20 calls did not run concurrently\n");
    return 1;
  }
  return 0;
}
