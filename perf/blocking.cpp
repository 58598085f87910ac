// Workload "blocking": blocking calls must neither be serialised by the core count nor starve
// CPU-bound work. One run carries two kinds of items: S "sleepers" (1000), each a call that
// sleeps 10 ms, at concurrency 100, and C CPU items (~0.3 s of burn in all), each ~100 us of
// burn, at concurrency = the number of hardware threads. In sluice the producer tags the items
// and sluice::route sends them to task(nap, {.concurrency = 100}) or task(burn, {.concurrency =
// cores}), merged into one sink. Each call records when it finished, so one run yields
//   - the sleepers' elapsed time (start to the last sleeper's end), against the ideal
//     ceil(S / 100) x 10 ms (0.1 s), and
//   - the CPU items' throughput (C / start to the last CPU item's end), against a "solo" run of
//     the same implementation with the CPU items only, made right after it.
// The producer emits the sleepers first, so that none of them waits behind a CPU item in a
// full queue. Baselines: 100 + cores std::threads on two shared queues; tbb::parallel_for over
// all items in TBB's default arena, and inside a tbb::task_arena(100) with a global_control
// that lets TBB run 101 threads (without one, TBB ignores the arena's request for more workers).
// Bars: sluice's sleepers elapsed <= 1.1x the ideal; its CPU throughput >= 0.9 solo.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

constexpr std::size_t sleep_concurrency = 100;
constexpr auto nap_time = std::chrono::milliseconds(10);

struct plan {
  std::int64_t sleepers = 0;
  std::int64_t cpu_items = 0;
  std::uint64_t iterations = 0;  // of burn() per CPU item
  std::size_t cores = 1;
  double ideal_seconds = 0;  // of the sleepers alone at concurrency 100
};

// A tagged item: sleepers and CPU items are each numbered from 0.
struct job {
  std::int64_t id = 0;
  bool sleeps = false;
};

struct done {
  bool slept = false;
  std::uint64_t work = 0;  // burn()'s result for a CPU item
  std::int64_t finished_ns = 0;
};

done nap(const job&) {
  std::this_thread::sleep_for(nap_time);
  return {true, 0, now_ns()};
}

done burn_job(const job& j, std::uint64_t iterations) {
  const std::uint64_t work = burn(static_cast<std::uint64_t>(j.id), iterations);
  return {false, work, now_ns()};
}

done run_job(const job& j, std::uint64_t iterations) {
  return j.sleeps ? nap(j) : burn_job(j, iterations);
}

// The sleepers first, then the CPU items.
std::vector<job> make_jobs(const plan& p, bool with_sleepers) {
  std::vector<job> jobs;
  if (with_sleepers)
    for (std::int64_t i = 0; i < p.sleepers; ++i) jobs.push_back({i, true});
  for (std::int64_t i = 0; i < p.cpu_items; ++i) jobs.push_back({i, false});
  return jobs;
}

sluice::generator<job> job_source(std::int64_t sleepers, std::int64_t cpu_items) {
  for (std::int64_t i = 0; i < sleepers; ++i) co_yield job{i, true};
  for (std::int64_t i = 0; i < cpu_items; ++i) co_yield job{i, false};
}

// What one run did, from the calls' own timestamps.
struct tally {
  std::int64_t start_ns = now_ns();
  std::int64_t sleepers = 0;
  std::int64_t cpu_items = 0;
  std::int64_t sleep_last_ns = 0;
  std::int64_t cpu_last_ns = 0;
  std::uint64_t cpu_sum = 0;

  void add(const done& d) {
    if (d.slept) {
      ++sleepers;
      sleep_last_ns = std::max(sleep_last_ns, d.finished_ns);
    } else {
      ++cpu_items;
      cpu_sum += d.work;
      cpu_last_ns = std::max(cpu_last_ns, d.finished_ns);
    }
  }
  double sleep_seconds() const { return static_cast<double>(sleep_last_ns - start_ns) * 1e-9; }
  double cpu_items_per_second() const {
    return static_cast<double>(cpu_items) / (static_cast<double>(cpu_last_ns - start_ns) * 1e-9);
  }
};

tally tally_of(std::int64_t start_ns, const std::vector<done>& results) {
  tally t;
  t.start_ns = start_ns;
  for (const done& d : results) t.add(d);
  return t;
}

// --- implementations: each runs the items of make_jobs(p, with_sleepers) once ---------------

tally run_sluice(const plan& p, bool with_sleepers) {
  tally t;
  const auto pipeline =
      sluice::task(job_source, sluice::branch) |
      sluice::route([](const job& j) { return j.sleeps ? 0 : 1; },
                    sluice::task(nap, {.concurrency = sleep_concurrency}),
                    sluice::task([it = p.iterations](const job& j) { return burn_job(j, it); },
                                 {.concurrency = p.cores})) >
          sluice::for_each([&t](const done& d) { t.add(d); });
  t.start_ns = now_ns();
  pipeline(with_sleepers ? p.sleepers : 0, p.cpu_items);
  return t;
}

// A closable multi-producer multi-consumer queue under one mutex.
class shared_queue {
 public:
  void push(std::size_t x) {
    {
      const std::lock_guard lock(mutex_);
      items_.push_back(x);
    }
    ready_.notify_one();
  }
  void close() {
    {
      const std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  std::optional<std::size_t> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    const std::size_t x = items_.front();
    items_.pop_front();
    return x;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::size_t> items_;
  bool closed_ = false;
};

// 100 threads take sleepers from one shared queue, `cores` threads CPU items from another.
tally run_threads(const plan& p, bool with_sleepers) {
  const std::vector<job> jobs = make_jobs(p, with_sleepers);
  std::vector<done> results(jobs.size());
  const std::int64_t start = now_ns();
  shared_queue sleep_queue, cpu_queue;
  auto worker = [&](shared_queue& q) {
    while (const auto i = q.pop()) results[*i] = run_job(jobs[*i], p.iterations);
  };
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < sleep_concurrency; ++k)
    threads.emplace_back(worker, std::ref(sleep_queue));
  for (std::size_t k = 0; k < p.cores; ++k) threads.emplace_back(worker, std::ref(cpu_queue));
  for (std::size_t i = 0; i < jobs.size(); ++i) (jobs[i].sleeps ? sleep_queue : cpu_queue).push(i);
  sleep_queue.close();
  cpu_queue.close();
  for (std::thread& t : threads) t.join();
  return tally_of(start, results);
}

// One tbb::parallel_for over all the items, one item per task; in `arena` when given (with
// TBB's thread limit raised to fit it).
tally run_tbb(const plan& p, bool with_sleepers, oneapi::tbb::task_arena* arena) {
  const std::vector<job> jobs = make_jobs(p, with_sleepers);
  std::vector<done> results(jobs.size());
  const std::int64_t start = now_ns();
  auto loop = [&] {
    oneapi::tbb::parallel_for(
        oneapi::tbb::blocked_range<std::size_t>(0, jobs.size(), 1),
        [&](const oneapi::tbb::blocked_range<std::size_t>& range) {
          for (std::size_t i = range.begin(); i != range.end(); ++i)
            results[i] = run_job(jobs[i], p.iterations);
        },
        oneapi::tbb::simple_partitioner{});
  };
  if (arena != nullptr) {
    // Without this, TBB keeps its workers at the core count and ignores the arena's request.
    const oneapi::tbb::global_control allow(oneapi::tbb::global_control::max_allowed_parallelism,
                                            sleep_concurrency + 1);
    arena->execute(loop);
  } else {
    loop();
  }
  return tally_of(start, results);
}

// --- the rounds -------------------------------------------------------------------------------

void check(const std::string& who, const plan& p, const tally& t, bool with_sleepers) {
  expect_equal(who, "sleepers", static_cast<long long>(t.sleepers),
               with_sleepers ? static_cast<long long>(p.sleepers) : 0LL);
  expect_equal(who, "cpu items", static_cast<long long>(t.cpu_items),
               static_cast<long long>(p.cpu_items));
  expect_equal(who, "burn sum", t.cpu_sum,
               burn_sum(static_cast<std::uint64_t>(p.cpu_items), p.iterations));
}

// One round: the mixed run, then the solo run (CPU items only).
template <class Run>
implementation measured(std::string name, std::shared_ptr<const plan> p, Run run) {
  std::string who = "blocking/" + name;
  return {std::move(name), [who = std::move(who), p, run] {
            const tally mixed = run(*p, true);
            check(who, *p, mixed, true);
            const tally solo = run(*p, false);
            check(who + " (solo)", *p, solo, false);
            const double elapsed = mixed.sleep_seconds();
            const double cpu = mixed.cpu_items_per_second();
            const double cpu_solo = solo.cpu_items_per_second();
            return sample{elapsed * 1e3,
                          static_cast<double>(p->sleepers) / elapsed,
                          {{"elapsed_vs_ideal", elapsed / p->ideal_seconds},
                           {"cpu_items_per_second", cpu},
                           {"cpu_solo_items_per_second", cpu_solo},
                           {"cpu_vs_solo", cpu / cpu_solo}}};
          }};
}

void add_bars(result& r, const plan& p) {
  const row& sluice = r.at("sluice");
  const double elapsed = sluice.median_value() * 1e-3;
  const double vs_ideal = elapsed / p.ideal_seconds;
  r.bars.push_back(make_bar(format("sluice sleepers elapsed <= 1.1x ideal %.3f s", p.ideal_seconds),
                            vs_ideal, format("%.3f s = %.2fx", elapsed, vs_ideal),
                            vs_ideal <= 1.1));
  const double vs_solo = sluice.median_extra("cpu_vs_solo");
  r.bars.push_back(make_bar(
      "sluice cpu stage >= 0.9x solo", vs_solo,
      format("%.2fx (%.0f vs %.0f items/s)", vs_solo, sluice.median_extra("cpu_items_per_second"),
             sluice.median_extra("cpu_solo_items_per_second")),
      vs_solo >= 0.9));
}

}  // namespace

result run_blocking(const options& o) {
  constexpr double cpu_item_us = 100;
  auto p = std::make_shared<plan>();
  p->sleepers = o.size(1000, 100);
  p->cpu_items = o.size(3000, 500);  // 0.3 s (quick: 0.05 s) of burn in all
  p->iterations = burn_iterations(cpu_item_us);
  p->cores = std::max(1U, std::thread::hardware_concurrency());
  const auto waves = (p->sleepers + static_cast<std::int64_t>(sleep_concurrency) - 1) /
                     static_cast<std::int64_t>(sleep_concurrency);
  p->ideal_seconds = static_cast<double>(waves) * std::chrono::duration<double>(nap_time).count();

  result r{"blocking", "ms"};
  r.parameters = {{"sleepers", static_cast<double>(p->sleepers)},
                  {"sleep_concurrency", static_cast<double>(sleep_concurrency)},
                  {"ideal_s", p->ideal_seconds},
                  {"cpu_items", static_cast<double>(p->cpu_items)},
                  {"cpu_item_us", cpu_item_us},
                  {"cpu_concurrency", static_cast<double>(p->cores)}};
  print_parameters(r);
  auto arena = std::make_shared<oneapi::tbb::task_arena>(static_cast<int>(sleep_concurrency));
  const std::vector<implementation> impls = {
      measured("sluice", p, run_sluice), measured("threads", p, run_threads),
      measured("tbb-default-arena", p,
               [](const plan& q, bool s) { return run_tbb(q, s, nullptr); }),
      measured("tbb-arena-100", p,
               [arena](const plan& q, bool s) { return run_tbb(q, s, arena.get()); })};
  r.rows = run_rounds(r.workload, impls, o);
  add_bars(r, *p);
  return r;
}

}  // namespace perf
