// Workload "memory": bounded queues keep memory flat. A producer makes N strings of 1 KiB (5 M,
// 5 GiB in all) for a slow sink that reads every byte and burns ~0.25 us per string, so the
// producer runs ahead until the queue is full. Each implementation runs in a child process of
// its own (this program re-executed with the hidden `--child memory IMPL ITEMS ITERATIONS`),
// which reports its peak RSS, count, byte sum and time on stdout. The peak RSS is VmHWM from
// /proc/self/status, the high-water mark of the child's own address space: its
// getrusage(RUSAGE_SELF).ru_maxrss is also reported (as ru_maxrss_mib) but Linux carries it over
// fork and exec, so it is never below the parent's RSS at the fork. Implementations: a serial loop
// (the process's floor), sluice with the default capacity, and a hand-written std::thread chain on
// a BlockingReaderWriterCircularBuffer of capacity 1024. Reports peak RSS in MiB. Bar:
// sluice's peak RSS <= 32 MiB.
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "spsc.hpp"
#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

constexpr std::size_t string_size = 1024;

std::string make_string(std::int64_t i) {
  return std::string(string_size, static_cast<char>('a' + i % 26));
}

sluice::generator<std::string> strings(std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) co_yield make_string(i);
}

// The slow sink: reads every byte (the byte sum is the checksum) and burns a little.
struct slow_sink {
  std::uint64_t iterations = 0;
  std::int64_t items = 0;
  std::uint64_t bytes = 0;
  std::uint64_t work = 0;

  void operator()(const std::string& s) {
    std::uint64_t sum = 0;
    for (const char c : s) sum += static_cast<unsigned char>(c);
    ++items;
    bytes += sum;
    work += burn(sum, iterations);
  }
};

std::uint64_t expected_bytes(std::int64_t n) {
  std::uint64_t total = 0;
  for (std::int64_t i = 0; i < n; ++i)
    total += string_size * static_cast<std::uint64_t>('a' + i % 26);
  return total;
}

// --- the child's implementations ----------------------------------------------------------------

void run_serial(std::int64_t n, slow_sink& sink) {
  for (std::int64_t i = 0; i < n; ++i) sink(make_string(i));
}

void run_sluice(std::int64_t n, slow_sink& sink) {
  const auto pipeline = sluice::task(strings, sluice::branch) >
                        sluice::for_each([&sink](const std::string& s) { sink(s); });
  pipeline(n);
}

#if defined(SLUICE_PERF_HAVE_RWQUEUE)
void run_spsc(std::int64_t n, slow_sink& sink) {
  spsc::run_chain<spsc::blocking_queue, std::string>(
      [n](auto emit) {
        for (std::int64_t i = 0; i < n; ++i) emit(make_string(i));
      },
      [&sink](const std::string& s) { sink(s); });
}
#endif

std::vector<std::string> implementation_names() {
#if defined(SLUICE_PERF_HAVE_RWQUEUE)
  return {"serial", "sluice", "spsc-blocking"};
#else
  return {"serial", "sluice"};
#endif
}

// VmHWM (peak RSS of this address space) from /proc/self/status, in KiB; -1 if unreadable.
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// --- the parent's side --------------------------------------------------------------------------

struct child_report {
  long rss_kib = 0;
  long maxrss_kib = 0;
  long long items = 0;
  unsigned long long bytes = 0;
  double seconds = 0;
};

child_report parse_report(const std::string& who, const std::string& text) {
  child_report c;
  if (std::sscanf(text.c_str(), "rss_kib=%ld maxrss_kib=%ld items=%lld bytes=%llu seconds=%lf",
                  &c.rss_kib, &c.maxrss_kib, &c.items, &c.bytes, &c.seconds) != 5)
    throw mismatch(who + ": unreadable child report '" + text + "'");
  return c;
}

implementation in_child(const std::string& name, std::int64_t n, std::uint64_t iterations,
                        std::uint64_t bytes) {
  return {name, [name, n, iterations, bytes] {
            const std::string who = "memory/" + name;
            const child_report c = parse_report(
                who, run_child({"memory", name, std::to_string(n), std::to_string(iterations)}));
            if (c.rss_kib <= 0) throw mismatch(who + ": no VmHWM in /proc/self/status");
            expect_equal(who, "items", c.items, static_cast<long long>(n));
            expect_equal(who, "byte sum", c.bytes, static_cast<unsigned long long>(bytes));
            return sample{static_cast<double>(c.rss_kib) / 1024.0,
                          static_cast<double>(n) / c.seconds,
                          {{"ru_maxrss_mib", static_cast<double>(c.maxrss_kib) / 1024.0}}};
          }};
}

}  // namespace

int memory_child(const std::vector<std::string>& args) {
  if (args.size() != 4) return 2;
  const std::string& name = args[1];
  const std::int64_t n = std::atoll(args[2].c_str());
  slow_sink sink{std::strtoull(args[3].c_str(), nullptr, 10)};
  void (*run)(std::int64_t, slow_sink&) = name == "serial"   ? run_serial
                                          : name == "sluice" ? run_sluice
#if defined(SLUICE_PERF_HAVE_RWQUEUE)
                                          : name == "spsc-blocking" ? run_spsc
#endif
                                                                    : nullptr;
  if (run == nullptr) return 2;
  const double seconds = time_seconds([&] { run(n, sink); });
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("rss_kib=%ld maxrss_kib=%ld items=%lld bytes=%llu seconds=%.6f work=%llu\n",
              peak_rss_kib(), usage.ru_maxrss, static_cast<long long>(sink.items),
              static_cast<unsigned long long>(sink.bytes), seconds,
              static_cast<unsigned long long>(sink.work));
  return 0;
}

result run_memory(const options& o) {
  const std::int64_t n = o.size(5'000'000, 20'000);
  const std::uint64_t iterations = burn_iterations(0.25);
  result r{"memory", "MiB"};
  r.parameters = {{"items", static_cast<double>(n)},
                  {"string_bytes", static_cast<double>(string_size)},
                  {"sink_burn_us", 0.25}};
  print_parameters(r);
  const std::uint64_t bytes = expected_bytes(n);
  std::vector<implementation> impls;
  for (const std::string& name : implementation_names())
    impls.push_back(in_child(name, n, iterations, bytes));
  r.rows = run_rounds(r.workload, impls, o);

  const double rss = r.at("sluice").median_value();
  r.bars.push_back(make_bar("sluice peak RSS <= 32 MiB", rss, format("%.1f MiB", rss), rss <= 32));
  return r;
}

}  // namespace perf
