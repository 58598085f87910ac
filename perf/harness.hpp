// The harness of sluice-perf: command-line options, timing, statistics, the interleaved rounds
// that run every implementation of a workload once per round, the result table, the bar lines,
// the JSON report, and a runner for child processes (the memory workload measures peak RSS in a
// fresh process per implementation). It measures nothing by itself.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace perf {

// --- options --------------------------------------------------------------------------------

struct options {
  bool quick = false;             // small sizes, one round, bars printed but not judged
  bool strict = false;            // exit 3 when a judged bar fails
  int repeat = 5;                 // rounds; --quick makes it 1 unless --repeat is given
  double timeout = 0;             // seconds one implementation may run once; 0: 600 (quick: 60)
  double scale = 1.0;             // multiplies every workload's size
  std::string json;               // write the full report here when not empty
  std::vector<std::string> only;  // workloads to run; empty: all

  // A workload's size: `full` normally, `quick` under --quick, times --scale, at least `minimum`.
  std::int64_t size(std::int64_t full, std::int64_t quick, std::int64_t minimum = 1) const;
  // The same for a duration in seconds (no minimum).
  double seconds(double full, double quick) const;
  bool wants(std::string_view workload) const;
};

// Parses argv into `o`; returns false (after printing why) on a usage error. A hidden
// `--child WORKLOAD ARGS...` is left in `child` for main to dispatch.
bool parse_options(int argc, char** argv, options& o, std::vector<std::string>& child);
void print_usage(const char* argv0, const std::vector<std::string>& workloads);

// --- timing and statistics --------------------------------------------------------------------

using clock = std::chrono::steady_clock;

// steady_clock's now in nanoseconds since its epoch: a plain number that can travel in items.
std::int64_t now_ns();

template <class F>
double time_seconds(F&& f) {
  const auto start = clock::now();
  std::forward<F>(f)();
  return std::chrono::duration<double>(clock::now() - start).count();
}

inline constexpr double not_applicable = std::numeric_limits<double>::quiet_NaN();

double median(std::vector<double> v);
// Nearest-rank percentile, p in [0, 100].
double percentile(std::vector<double> v, double p);

// --- results ----------------------------------------------------------------------------------

// One repetition of one implementation.
struct sample {
  double value = 0;  // the workload's primary metric, in its unit; lower is better
  double items_per_second = not_applicable;
  std::vector<std::pair<std::string, double>> extras{};  // e.g. {"efficiency", 0.97}
};

// One implementation of a workload: `run` runs it once, checks its result (throwing mismatch
// when it is wrong) and returns what it measured.
struct implementation {
  std::string name;
  std::function<sample()> run;
};

struct row {
  std::string implementation;
  std::vector<sample> samples;  // one per round

  double median_value() const;
  double median_items_per_second() const;
  std::vector<double> extra(std::string_view name) const;  // one per round
  double median_extra(std::string_view name) const;
};

// A target the suite judges, on the median(s).
struct bar {
  std::string text;   // "sluice >= 5x tbb-pipeline"
  double value = 0;   // what was measured, in the unit of `shown`
  std::string shown;  // the value as printed, e.g. "6.1x"
  bool pass = false;
  bool judged = true;  // false: the run could not measure what it needs (a missing baseline)
};

struct result {
  std::string workload;
  std::string unit;                                          // of every row's value
  std::string reference{"sluice"};                           // the row the ratio column divides by
  std::vector<std::pair<std::string, double>> parameters{};  // sizes, for the header and JSON
  std::vector<row> rows{};
  std::vector<bar> bars{};

  const row* find(std::string_view implementation) const;
  const row& at(std::string_view implementation) const;  // throws std::out_of_range
};

// A wrong checksum or count: the run stops and sluice-perf exits non-zero.
struct mismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws mismatch("<who>: <what> <got>, expected <expected>") when got != expected.
[[noreturn]] void throw_mismatch(std::string_view who, std::string_view what,
                                 const std::string& got, const std::string& expected);
template <std::integral T>
void expect_equal(std::string_view who, std::string_view what, T got,
                  std::type_identity_t<T> expected) {
  if (got != expected) throw_mismatch(who, what, std::to_string(got), std::to_string(expected));
}

// Runs every implementation once per round, o.repeat rounds, in the same order each round
// (interleaved, so that drift in the machine's load hits every implementation alike). Each run
// starts once no other thread of the process is runnable (at most 200 ms later): the threads one
// implementation leaves spinning must not slow the next.
// `before_round(r)`, when given, runs first in each round. A run that takes longer than the
// timeout (--timeout) is taken for a hang: sluice-perf names it and exits 1 at once.
std::vector<row> run_rounds(std::string_view workload, const std::vector<implementation>& impls,
                            const options& o, const std::function<void(int)>& before_round = {});

// "6.10x", "0.103 s": printf-style formatting into a std::string.
[[gnu::format(printf, 1, 2)]] std::string format(const char* fmt, ...);

// Builds a bar: `pass` says whether `value` meets the target.
bar make_bar(std::string text, double value, std::string shown, bool pass);
// A bar this run cannot judge, `why` printed in place of the value; it never fails --strict.
bar unjudged_bar(std::string text, std::string why);

// --- output -----------------------------------------------------------------------------------

void print_preamble(const options& o);
void print_parameters(const result& r);  // "# chain: items=10000000"
void print_table_header();
void print_rows(const result& r);
void print_bars(const result& r, const options& o);
void write_json(const std::string& path, const options& o, const std::vector<result>& results);

// --- child processes --------------------------------------------------------------------------

// Runs this same program (/proc/self/exe) with `--child args...` and returns its stdout.
// Throws std::runtime_error when it cannot start or exits unsuccessfully.
std::string run_child(const std::vector<std::string>& args);

}  // namespace perf
