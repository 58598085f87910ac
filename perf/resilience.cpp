// Workload "resilience": what the resilience wrappers cost around a call that needs none of
// them, and how exact the rate limiter is. Rows, each a median over the rounds:
//   bare            a call of an opaque int -> int function, ns per call (the floor)
//   retry           the same call through sluice::retry (it succeeds at once), ns per call
//   cache-hit       sluice::cached hits on 1024 int keys, one thread, ns per call
//   cache-hit-2t    the same with 2 threads calling at once, ns per call per thread
// Bars: retry <= bare + 5 ns; cache hit (one thread) <= 50 ns.
// Workload "rate": 8 threads call a rate_limited function at 50 calls/s for 2 s; the value is
// the relative error of the call count against 50/s x 2 s + burst. Bar: <= 5 %.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

constexpr int kKeys = 1024;

[[gnu::noinline]] int plus_one(int x) { return static_cast<int>(opaque(x + 1)); }

// What the wrappers wrap, as users usually pass it: a lambda (a function pointer would add an
// indirect call to every wrapper, which is the pointer's cost, not the wrapper's).
constexpr auto call_plus_one = [](int x) { return plus_one(x); };

// Calls fn(i % kKeys) n times on `threads` threads; returns ns per call per thread and checks
// the sum of the results.
template <class Fn>
sample per_call(const char* who, std::int64_t n, int threads, const Fn& fn) {
  std::atomic<std::int64_t> total{0};
  const std::int64_t start = now_ns();
  {
    std::vector<std::jthread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        std::int64_t sum = 0;
        for (std::int64_t i = 0; i < n; ++i) sum += fn(static_cast<int>(i % kKeys));
        total.fetch_add(sum);
      });
    }
  }
  const double ns = static_cast<double>(now_ns() - start) / static_cast<double>(n);
  // sum over i < n of (i % kKeys) + 1, per thread
  const std::int64_t rounds = n / kKeys, rest = n % kKeys;
  const std::int64_t one = rounds * (kKeys * (kKeys + 1) / 2) + rest * (rest + 1) / 2;
  expect_equal(who, "sum", static_cast<long long>(total.load()),
               static_cast<long long>(one * threads));
  return sample{ns, 1e9 / ns};
}

sample rate_accuracy(double seconds) {
  constexpr double per_second = 50;
  constexpr std::size_t burst = 1;
  std::atomic<std::int64_t> calls{0};
  const auto limited = sluice::rate_limited([&](int, std::stop_token) { calls.fetch_add(1); },
                                            sluice::rate_limit{per_second, burst});
  std::stop_source stop;
  {
    std::vector<std::jthread> pool;
    for (int t = 0; t < 8; ++t) {
      pool.emplace_back([&] {
        while (!stop.stop_requested()) {
          try {
            limited(0, stop.get_token());
          } catch (const std::exception&) {  // a wait ended by the stop
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.request_stop();
  }
  const double expected = per_second * seconds + static_cast<double>(burst);
  const double error = std::abs(static_cast<double>(calls.load()) - expected) / expected;
  return sample{error, not_applicable, {{"calls", static_cast<double>(calls.load())}}};
}

}  // namespace

result run_resilience(const options& o) {
  const std::int64_t n = o.size(20'000'000, 200'000);
  result r{"resilience", "ns/call", "bare"};
  r.parameters = {{"calls", static_cast<double>(n)}};
  print_parameters(r);

  const auto retrying = sluice::retry(call_plus_one, {.max_attempts = 3});
  const auto cached = sluice::cached(call_plus_one, {.max_entries = 2 * kKeys});
  for (int k = 0; k < kKeys; ++k) (void)cached(k);  // every later call hits
  r.rows = run_rounds(
      r.workload,
      {{"bare", [&] { return per_call("resilience/bare", n, 1, call_plus_one); }},
       {"retry", [&] { return per_call("resilience/retry", n, 1, retrying); }},
       {"cache-hit", [&] { return per_call("resilience/cache-hit", n / 4, 1, cached); }},
       {"cache-hit-2t", [&] { return per_call("resilience/cache-hit-2t", n / 8, 2, cached); }}},
      o);

  const double bare = r.at("bare").median_value();
  const double retry = r.at("retry").median_value();
  const double hit = r.at("cache-hit").median_value();
  r.bars.push_back(make_bar("retry around a call that succeeds <= 5 ns over the bare call",
                            retry - bare, format("%+.1f ns", retry - bare), retry - bare <= 5));
  r.bars.push_back(make_bar("memory cache hit on an int key, one thread <= 50 ns", hit,
                            format("%.1f ns", hit), hit <= 50));
  return r;
}

result run_rate(const options& o) {
  const double seconds = o.quick ? 0.2 : 2.0;
  result r{"rate", "error", "sluice"};
  r.parameters = {{"per_second", 50}, {"threads", 8}, {"seconds", seconds}};
  print_parameters(r);
  r.rows = run_rounds(r.workload, {{"sluice", [&] { return rate_accuracy(seconds); }}}, o);
  const double error = r.at("sluice").median_value();
  r.bars.push_back(make_bar(
      "rate limiter at 50/s, 8 threads: count within 5 %", error,
      format("%.1f %% off (%.0f calls)", 100 * error, r.at("sluice").median_extra("calls")),
      error <= 0.05));
  return r;
}

}  // namespace perf
