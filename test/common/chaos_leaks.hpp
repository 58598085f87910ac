// This header defines the chaos test's check that threads and file descriptors do not leak.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>  // the parallelism limit, for the thread bound

#include "../../lib/spare_threads.hpp"  // white box: the spare threads alive
#include "chaos_model.hpp"
#include "chaos_scenario.hpp"
#include "gate.hpp"

namespace sluice_test::chaos {

using namespace std::chrono_literals;

// ---- leaks -------------------------------------------------------------------------------------

// The entries of `dir` ("fd -> target" for descriptors), without the one the listing opens.
inline std::vector<std::string> list_dir(const char* dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code link_ec;
    const auto target = std::filesystem::read_symlink(entry.path(), link_ec).string();
    if (target.rfind("/proc/", 0) == 0 && target.size() > 3 &&
        target.compare(target.size() - 3, 3, "/fd") == 0) {
      continue;  // the directory stream of this very listing
    }
    out.push_back(entry.path().filename().string() + (link_ec ? "" : " -> " + target));
  }
  return out;
}
inline int count_dir(const char* dir) { return static_cast<int>(list_dir(dir).size()); }

// The threads of this process: `spare` of them are sluice's spare threads, `others` the rest.
struct thread_count {
  int others = 0;
  int spare = 0;
};
inline thread_count count_threads() {
  // The larger of two spare counts around the listing: a spare thread that starts or ends
  // meanwhile never counts among the others.
  const auto before = sluice::detail::spare_threads_alive();
  const int all = count_dir("/proc/self/task");
  const int spare = static_cast<int>(std::max(before, sluice::detail::spare_threads_alive()));
  return {std::max(all - spare, 0), spare};
}

// TBB keeps the worker threads it has made for the life of the process (they sleep in its
// pool; measured: 105 threads after a run of a concurrency-100 task, still 105 twenty seconds
// later), so the thread count never returns to a baseline, and how far it grows depends on
// more than the pipelines' concurrency (a finished run keeps its reservation until its stream
// is destroyed; workers linger in idle arenas). What is checked instead is a bound: TBB makes
// at most one worker per unit of its parallelism limit, which sluice raises while runs are
// alive (and lowers 100 ms after the last one ends), so the threads of the process stay within
// the warm-up count + the largest limit seen (limit_sampler) + a few threads of sluice's own. A
// thread that sluice starts and never joins (or a detached one) passes the bound as iterations add
// up. sluice's spare threads are not in that bound: they run activations oneTBB left waiting
// (at most one per call in flight, and on a loaded machine that can be hundreds), and each ends
// a second after its last activation, which the test checks once at its end
// (check_spare_threads_end). File descriptors: sluice opens none in thread mode, so their count
// must return to the warm-up's.
struct leak_watch {
  int threads = 0;
  std::vector<std::string> fds;
  int max_limit = 0;         // the largest TBB parallelism limit seen
  int high_water = 0;        // threads other than spare ones, at most
  int spare_high_water = 0;  // spare threads at the end of an iteration, at most
  int bound = 0;
  bool threads_reported = false;

  static int limit() {
    return static_cast<int>(
        tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  }
};

// Samples TBB's parallelism limit every 2 ms while it lives, into watch.max_limit: a limit that
// sluice raised lasts at least 100 ms after the last run ends, so none goes unseen (sampling once
// after the runs missed the limit of a run that ended while a slow machine kept the next one
// from starting for 100 ms).
class limit_sampler {
 public:
  explicit limit_sampler(leak_watch& watch) : watch_(watch) {
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        raise_to(leak_watch::limit());
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  limit_sampler(const limit_sampler&) = delete;
  limit_sampler& operator=(const limit_sampler&) = delete;
  ~limit_sampler() {
    thread_.request_stop();
    thread_.join();
    raise_to(leak_watch::limit());
    watch_.max_limit = std::max(watch_.max_limit, seen_.load());
  }

 private:
  void raise_to(int limit) {
    int seen = seen_.load();
    while (limit > seen && !seen_.compare_exchange_weak(seen, limit)) {
    }
  }

  leak_watch& watch_;
  std::atomic<int> seen_{0};
  std::jthread thread_;  // last: started once the members above exist
};

inline void check_leaks(context& cx, leak_watch& watch, const settings& set) {
  const int bound = watch.threads + watch.max_limit + 8;
  watch.bound = bound;
  thread_count now;
  sluice_test::eventually([&] { return (now = count_threads()).others <= bound; }, 500ms);
  const int threads = now.others;
  watch.high_water = std::max(watch.high_water, threads);
  watch.spare_high_water = std::max(watch.spare_high_water, now.spare);
  if (set.on.on("threads") && threads > bound && !watch.threads_reported) {
    watch.threads_reported = true;  // once: TBB's pool does not shrink
    cx.problem("[threads] " + std::to_string(threads) + " threads, more than the bound " +
               std::to_string(bound) + " (" + std::to_string(watch.threads) +
               " after the warm-up + TBB's largest parallelism limit " +
               std::to_string(watch.max_limit) + " + 8)");
  }
  if (!set.on.on("fds")) return;
  std::vector<std::string> fds;
  const bool back = sluice_test::eventually(
      [&] { return (fds = list_dir("/proc/self/fd")).size() <= watch.fds.size(); }, 2s);
  if (!back) {
    std::string extra;
    for (const std::string& fd : fds) {
      if (std::find(watch.fds.begin(), watch.fds.end(), fd) == watch.fds.end())
        extra += " [" + fd + "]";
    }
    cx.problem("[fds] " + std::to_string(fds.size()) + " file descriptors open, " +
               std::to_string(watch.fds.size()) + " after the warm-up; new:" + extra);
    watch.fds = fds;  // report each leak once
  }
}

// Every spare thread ends a second after its last activation: 3 s after the last run, none is
// left, and the threads of the process are back within the bound. Returns the problem, or an
// empty string.
inline std::string check_spare_threads_end(const leak_watch& watch) {
  const int bound = watch.threads + watch.max_limit + 8;
  thread_count now;
  if (sluice_test::eventually(
          [&] { return (now = count_threads()).spare == 0 && now.others <= bound; }, 3s)) {
    return {};
  }
  return "[threads] 3 s after the last run: " + std::to_string(now.spare) +
         " spare threads alive (each should end a second after its last activation), " +
         std::to_string(now.others) + " others (bound " + std::to_string(bound) + ")";
}

}  // namespace sluice_test::chaos
