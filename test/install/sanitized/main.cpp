// A consumer built with ThreadSanitizer (and UBSan) that exercises sluice's threads: concurrent
// tasks, an ordered task, an error that stops a run, a cancel, and pmap on both of its paths.
// Exits with 0 only if every result is right; the sanitizers' reports fail the test that runs it
// (test/cmake/install_test.cmake, MODE=sanitized).
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: %s\n", what);
    ++failures;
  }
}

sluice::generator<int> numbers(int limit) {
  for (int i = 0; i < limit; ++i) co_yield i;
}

sluice::generator<int> endless() {
  for (int i = 0;; ++i) co_yield i;
}

void concurrent_and_ordered_tasks() {
  auto run = sluice::task(numbers, sluice::branch) |
             sluice::task([](int x) { return 2 * x; }, {.concurrency = 4}) |
             sluice::task([](int x) { return std::to_string(x); }, {.concurrency = 3}) |
             sluice::task([](const std::string& s) { return std::stoi(s) + 1; },
                          {.concurrency = 4, .ordered = true}) |
             sluice::reduce(0L, [](long total, int x) { return total + x; });
  long want = 0;
  for (int i = 0; i < 2000; ++i) want += 2 * i + 1;
  check(run(2000) == want, "the concurrent tasks' sum is wrong");

  auto in_order = sluice::task(numbers, sluice::branch) |
                  sluice::task([](int x) { return x * x; }, {.concurrency = 4, .ordered = true}) |
                  sluice::to_vector();
  std::vector<int> got = in_order(500);
  bool ordered = got.size() == 500;
  for (std::size_t i = 0; ordered && i < got.size(); ++i) {
    ordered = got[i] == static_cast<int>(i * i);
  }
  check(ordered, "the ordered task's outputs are out of order");
}

void an_error_stops_the_run() {
  auto run = sluice::task(numbers, sluice::branch) |
             sluice::task(
                 [](int x) {
                   if (x == 77) throw std::runtime_error("item 77");
                   return x;
                 },
                 {.concurrency = 4}) |
             sluice::count();
  try {
    (void)run(1000);
    check(false, "the error was not rethrown");
  } catch (const std::runtime_error& e) {
    check(std::string(e.what()) == "item 77", "a different error was rethrown");
  }
}

void a_cancel_stops_the_run() {
  auto stream = (sluice::task(endless, sluice::branch) |
                 sluice::task([](int x) { return x + 1; }, {.concurrency = 4}))();
  int seen = 0;
  while (seen < 100 && stream.next()) ++seen;
  stream.cancel();
  check(seen == 100, "the endless stream ended early");
  check(!stream.next(), "a pull after cancel() returned an item");
}

void pmap_on_both_paths() {
  std::vector<int> items(3000);
  std::iota(items.begin(), items.end(), 0);
  std::vector<int> squares = sluice::pmap([](int x) { return x * x; }, items, {.workers = 4});
  bool right = squares.size() == items.size();
  for (std::size_t i = 0; right && i < squares.size(); ++i) {
    right = squares[i] == items[i] * items[i];
  }
  check(right, "pmap over a vector is wrong");

  std::vector<int> halves = sluice::pmap([](int x) { return x / 2; }, numbers(400), {.workers = 3});
  right = halves.size() == 400;
  for (std::size_t i = 0; right && i < halves.size(); ++i) {
    right = halves[i] == static_cast<int>(i) / 2;
  }
  check(right, "pmap over a generator is wrong");
}

}  // namespace

int main() {
  concurrent_and_ordered_tasks();
  an_error_stops_the_run();
  a_cancel_stops_the_run();
  pmap_on_both_paths();
  if (failures != 0) return 1;
  std::puts("consumer: ok");
  return 0;
}
