// Measures the "chain" workload — a producer of N int64 (0..N-1), three map stages (x+1, x*2,
// x-1) and a summing sink — on sluice and on baselines (serial loop, moodycamel SPSC threads,
// tbb::parallel_pipeline), reporting the median ns/item of R interleaved repetitions.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <oneapi/tbb/parallel_pipeline.h>

#include <sluice/sluice.hpp>

#if defined(SLUICE_PERF_HAVE_RWQUEUE)
#include <readerwriterqueue/readerwritercircularbuffer.h>
#endif

namespace {

using item = std::int64_t;

// The three map stages and the expected checksum: sum over i < n of 2(i+1)-1 = 2i+1, i.e. n^2.
item f1(item x) { return x + 1; }
item f2(item x) { return x * 2; }
item f3(item x) { return x - 1; }
item expected_sum(item n) { return n * n; }

// Keeps the optimiser from folding the serial loop into the closed form.
item opaque(item x) {
  volatile item v = x;
  return v;
}

// --- implementations: each runs the whole chain over 0..n-1 and returns the sum ---------------

item run_serial(item n) {
  item sum = 0;
  const item end = opaque(n);
  for (item i = 0; i < end; ++i) sum += f3(f2(f1(opaque(i))));
  return sum;
}

sluice::generator<item> numbers(item n) {
  for (item i = 0; i < n; ++i) co_yield i;
}

item run_sluice(item n) {
  static const auto chain = sluice::task(numbers, sluice::branch) | sluice::task(f1) |
                            sluice::task(f2) | sluice::task(f3) >
                            sluice::reduce(item{0}, std::plus<>{});
  return chain(n);
}

#if defined(SLUICE_PERF_HAVE_RWQUEUE)
constexpr std::size_t queue_capacity = 1024;  // items (per-item) or batches (batched)
constexpr std::size_t batch_size = 256;

// One item per push; an empty optional ends the stream.
item run_spsc_per_item(item n) {
  using queue = moodycamel::BlockingReaderWriterCircularBuffer<std::optional<item>>;
  queue q1(queue_capacity), q2(queue_capacity), q3(queue_capacity), q4(queue_capacity);
  auto map_stage = [](queue& in, queue& out, item (*f)(item)) {
    std::optional<item> x;
    for (;;) {
      in.wait_dequeue(x);
      if (!x) break;
      out.wait_enqueue(f(*x));
    }
    out.wait_enqueue(std::nullopt);
  };
  std::thread producer([&] {
    for (item i = 0; i < n; ++i) q1.wait_enqueue(i);
    q1.wait_enqueue(std::nullopt);
  });
  std::thread s1(map_stage, std::ref(q1), std::ref(q2), &f1);
  std::thread s2(map_stage, std::ref(q2), std::ref(q3), &f2);
  std::thread s3(map_stage, std::ref(q3), std::ref(q4), &f3);
  item sum = 0;
  std::optional<item> x;
  for (;;) {  // the sink runs on the caller's thread, as sluice's does
    q4.wait_dequeue(x);
    if (!x) break;
    sum += *x;
  }
  producer.join();
  s1.join();
  s2.join();
  s3.join();
  return sum;
}

// std::vector batches of batch_size; an empty batch ends the stream.
item run_spsc_batched(item n) {
  using batch = std::vector<item>;
  using queue = moodycamel::BlockingReaderWriterCircularBuffer<batch>;
  queue q1(queue_capacity), q2(queue_capacity), q3(queue_capacity), q4(queue_capacity);
  auto map_stage = [](queue& in, queue& out, item (*f)(item)) {
    batch b;
    for (;;) {
      in.wait_dequeue(b);
      if (b.empty()) break;
      for (item& x : b) x = f(x);
      out.wait_enqueue(std::move(b));
    }
    out.wait_enqueue(batch{});
  };
  std::thread producer([&] {
    batch b;
    b.reserve(batch_size);
    for (item i = 0; i < n; ++i) {
      b.push_back(i);
      if (b.size() == batch_size) {
        q1.wait_enqueue(std::move(b));
        b = batch{};
        b.reserve(batch_size);
      }
    }
    if (!b.empty()) q1.wait_enqueue(std::move(b));
    q1.wait_enqueue(batch{});
  });
  std::thread s1(map_stage, std::ref(q1), std::ref(q2), &f1);
  std::thread s2(map_stage, std::ref(q2), std::ref(q3), &f2);
  std::thread s3(map_stage, std::ref(q3), std::ref(q4), &f3);
  item sum = 0;
  batch b;
  for (;;) {
    q4.wait_dequeue(b);
    if (b.empty()) break;
    for (item x : b) sum += x;
  }
  producer.join();
  s1.join();
  s2.join();
  s3.join();
  return sum;
}
#endif

item run_tbb_pipeline(item n, std::size_t tokens) {
  using oneapi::tbb::filter_mode;
  using oneapi::tbb::make_filter;
  item next = 0;
  item sum = 0;
  oneapi::tbb::parallel_pipeline(
      tokens,
      make_filter<void, item>(filter_mode::serial_in_order,
                              [&](oneapi::tbb::flow_control& fc) -> item {
                                if (next == n) {
                                  fc.stop();
                                  return 0;
                                }
                                return next++;
                              }) &
          make_filter<item, item>(filter_mode::serial_in_order, &f1) &
          make_filter<item, item>(filter_mode::serial_in_order, &f2) &
          make_filter<item, item>(filter_mode::serial_in_order, &f3) &
          make_filter<item, void>(filter_mode::serial_in_order, [&](item x) { sum += x; }));
  return sum;
}

// --- harness ------------------------------------------------------------------------------------

struct implementation {
  std::string name;
  std::function<item(item)> run;
  std::vector<double> ns_per_item;  // one per repetition
  double median = 0;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 != 0 ? v[m] : (v[m - 1] + v[m]) / 2;
}

struct options {
  item items = 10'000'000;
  int repeat = 5;
  std::string json;
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--quick] [--items N] [--repeat R] [--json FILE]\n", argv0);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      o.items = 200'000;
      o.repeat = 1;
    } else if (arg == "--items" && has_value) {
      o.items = std::strtoll(argv[++i], nullptr, 10);
    } else if (arg == "--repeat" && has_value) {
      o.repeat = std::atoi(argv[++i]);
    } else if (arg == "--json" && has_value) {
      o.json = argv[++i];
    } else {
      usage(argv[0]);
    }
  }
  if (o.items <= 0 || o.repeat <= 0) usage(argv[0]);
  return o;
}

void write_json(const std::string& path, const options& o,
                const std::vector<implementation>& impls, double sluice_median) {
  std::ofstream out(path);
  out << "{\n  \"workload\": \"chain\",\n  \"items\": " << o.items
      << ",\n  \"repeat\": " << o.repeat << ",\n  \"hardware_threads\": "
      << std::thread::hardware_concurrency() << ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < impls.size(); ++i) {
    const implementation& im = impls[i];
    out << "    {\"implementation\": \"" << im.name << "\", \"median_ns_per_item\": " << im.median
        << ", \"items_per_second\": " << 1e9 / im.median
        << ", \"ratio_vs_sluice\": " << im.median / sluice_median << ", \"ns_per_item\": [";
    for (std::size_t r = 0; r < im.ns_per_item.size(); ++r)
      out << (r != 0 ? ", " : "") << im.ns_per_item[r];
    out << "]}" << (i + 1 < impls.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  if (!out) {
    std::fprintf(stderr, "sluice-perf: could not write %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  std::vector<implementation> impls;
  impls.push_back({"serial", run_serial, {}, 0});
  impls.push_back({"sluice", run_sluice, {}, 0});
#if defined(SLUICE_PERF_HAVE_RWQUEUE)
  impls.push_back({"spsc-per-item", run_spsc_per_item, {}, 0});
  impls.push_back({"spsc-batched", run_spsc_batched, {}, 0});
#else
  std::printf("(spsc baselines skipped: built without moodycamel ReaderWriterQueue)\n");
#endif
  impls.push_back({"tbb-pipeline-t4", [](item n) { return run_tbb_pipeline(n, 4); }, {}, 0});
  impls.push_back({"tbb-pipeline-t16", [](item n) { return run_tbb_pipeline(n, 16); }, {}, 0});

  const item expected = expected_sum(o.items);
  std::printf("chain: %lld items, %d repetitions, %u hardware threads\n",
              static_cast<long long>(o.items), o.repeat, std::thread::hardware_concurrency());
  for (int r = 0; r < o.repeat; ++r) {  // interleaved: every implementation once per round
    for (implementation& im : impls) {
      const auto start = std::chrono::steady_clock::now();
      const item got = im.run(o.items);
      const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
      if (got != expected) {
        std::fprintf(stderr, "sluice-perf: %s checksum %lld, expected %lld\n", im.name.c_str(),
                     static_cast<long long>(got), static_cast<long long>(expected));
        return 1;
      }
      im.ns_per_item.push_back(took.count() / static_cast<double>(o.items));
    }
  }

  for (implementation& im : impls) im.median = median_of(im.ns_per_item);
  const double sluice_median = impls[1].median;
  std::printf("%-18s %15s %15s %15s\n", "implementation", "median ns/item", "items/s",
              "ratio vs sluice");
  for (const implementation& im : impls)
    std::printf("%-18s %15.2f %15.3g %15.3f\n", im.name.c_str(), im.median, 1e9 / im.median,
                im.median / sluice_median);
  std::printf("(ratio = median ns/item / sluice's; below 1 is faster than sluice)\n");
  if (!o.json.empty()) write_json(o.json, o, impls, sluice_median);
  return 0;
}
