// The same pipeline as sluice_tour.cpp on tbb::parallel_pipeline, written as a TBB user would:
// the baseline perf/compile-cost compares compile time and memory against.
#include <oneapi/tbb/parallel_pipeline.h>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

int slow_double(int x) { std::this_thread::sleep_for(1ms); return 2 * x; }

int main() {
  const int limit = 20;
  int next = 0;
  int total = 0;
  oneapi::tbb::parallel_pipeline(
      20,
      oneapi::tbb::make_filter<void, int>(oneapi::tbb::filter_mode::serial_in_order,
                                          [&](oneapi::tbb::flow_control& fc) {
                                            if (next == limit) {
                                              fc.stop();
                                              return 0;
                                            }
                                            return next++;
                                          }) &
          oneapi::tbb::make_filter<int, int>(oneapi::tbb::filter_mode::parallel, &slow_double) &
          oneapi::tbb::make_filter<int, void>(oneapi::tbb::filter_mode::serial_out_of_order,
                                              [&](int x) { total += x; }));
  std::printf("%d\n", total);
}
