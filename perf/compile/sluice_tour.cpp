// The README's first pipeline, as a user's translation unit: perf/compile-cost times compiling it.
#include <sluice/generator.hpp>
#include <sluice/task.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

sluice::generator<int> numbers(int limit) { for (int i = 0; i < limit; ++i) co_yield i; }
int slow_double(int x) { std::this_thread::sleep_for(1ms); return 2 * x; }
int sum(sluice::stream<int>& in) { int t = 0; for (int x : in) t += x; return t; }

int main() {
  auto run = sluice::task(numbers, sluice::branch)
           | sluice::task(slow_double, {.concurrency = 20})
           > sum;
  std::printf("%d\n", run(20));
}
