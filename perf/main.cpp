// sluice-perf: the performance suite. Runs the workloads (chain, cpu, blocking, memory, shapes,
// latency, resilience, rate, pmap, pmap_sleep, process, process_latency, jobs; one file each, two in
// resilience.cpp, pmap.cpp and process.cpp) in sluice and in the baselines a user would pick instead,
// every implementation once per round, prints the medians, the ratios to sluice and each
// workload's bar lines, and optionally writes everything to JSON. Exit status: 0 when every
// result checked out; 1 when one did not (or a workload failed); 2 on a usage error; 3 with
// --strict when a judged bar failed.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "workloads.hpp"

namespace {

struct workload {
  const char* name;
  perf::result (*run)(const perf::options&);
};

constexpr workload workloads[] = {
    {"chain", perf::run_chain},           {"cpu", perf::run_cpu},
    {"blocking", perf::run_blocking},     {"memory", perf::run_memory},
    {"shapes", perf::run_shapes},         {"latency", perf::run_latency},
    {"resilience", perf::run_resilience}, {"rate", perf::run_rate},
    {"pmap", perf::run_pmap},             {"pmap_sleep", perf::run_pmap_sleep},
    {"process", perf::run_process},       {"process_latency", perf::run_process_latency},
    {"jobs", perf::run_jobs},
};

std::vector<std::string> workload_names() {
  std::vector<std::string> names;
  for (const workload& w : workloads) names.emplace_back(w.name);
  return names;
}

bool known(std::string_view name) {
  for (const workload& w : workloads)
    if (name == w.name) return true;
  return false;
}

int run_child(const std::vector<std::string>& args) {
  if (args[0] == "memory") return perf::memory_child(args);
  std::fprintf(stderr, "sluice-perf: unknown child workload '%s'\n", args[0].c_str());
  return 2;
}

bool judged_bar_failed(const std::vector<perf::result>& results, const perf::options& o) {
  if (o.quick) return false;
  for (const perf::result& r : results)
    for (const perf::bar& b : r.bars)
      if (b.judged && !b.pass) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  perf::options o;
  std::vector<std::string> child;
  if (!perf::parse_options(argc, argv, o, child)) {
    perf::print_usage(argv[0], workload_names());
    return 2;
  }
  if (!child.empty()) return run_child(child);
  for (const std::string& name : o.only)
    if (!known(name)) {
      std::fprintf(stderr, "sluice-perf: unknown workload '%s'\n", name.c_str());
      perf::print_usage(argv[0], workload_names());
      return 2;
    }

  perf::print_preamble(o);
  perf::print_table_header();
  std::vector<perf::result> results;
  int status = 0;
  for (const workload& w : workloads) {
    if (!o.wants(w.name)) continue;
    try {
      results.push_back(w.run(o));
      perf::print_rows(results.back());
      perf::print_bars(results.back(), o);
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "sluice-perf: %s: FAILED: %s\n", w.name, e.what());
      status = 1;
    }
  }
  try {
    if (!o.json.empty()) perf::write_json(o.json, o, results);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    status = 1;
  }
  if (status == 0 && o.strict && judged_bar_failed(results, o)) status = 3;
  return status;
}
