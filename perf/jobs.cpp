// Workload "jobs": a job graph's scheduling cost. A chain of N trivial jobs (1000), each reading
// its predecessor's result and adding one, is started at once and waited for; the time per job
// is what it costs to notice a job's end and start its dependant. Implementations: sluice's
// job_graph (thread mode, no live output), and the scheduler a user writes by hand: a fixed set
// of std::thread workers (one per core) taking ready jobs from a queue under one mutex, with a
// condition variable for the workers and one for the caller, and a count of unmet dependencies
// per job. Reports us per job. Bar: sluice <= 100 us per job (parproc steps every 10 ms).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/jobs.hpp>

#include "workloads.hpp"

namespace perf {
namespace {

std::string name_of(std::int64_t i) { return "j" + std::to_string(i); }

std::int64_t run_sluice(std::int64_t n) {
  sluice::job_graph g{{.live = sluice::live_output::off}};
  g.add(name_of(0), [] { return std::int64_t{0}; });
  for (std::int64_t i = 1; i < n; ++i) {
    g.add(name_of(i), {.deps = {name_of(i - 1)}}, [prev = name_of(i - 1)](sluice::job_context& ctx) {
      return ctx.result<std::int64_t>(prev) + 1;
    });
  }
  g.run(name_of(n - 1));
  g.wait_all();
  return g.result<std::int64_t>(name_of(n - 1));
}

// The hand-written scheduler: jobs are indices; deps and dependants are index lists.
class thread_scheduler {
 public:
  struct job {
    std::function<void()> body;
    std::vector<std::size_t> dependants;
    std::size_t unmet = 0;
  };

  explicit thread_scheduler(std::vector<job> jobs) : jobs_(std::move(jobs)) {}

  void run() {
    for (std::size_t i = 0; i < jobs_.size(); ++i) {
      if (jobs_[i].unmet == 0) ready_.push_back(i);
    }
    std::vector<std::thread> workers;
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned w = 0; w < n; ++w) workers.emplace_back([this] { work(); });
    {
      std::unique_lock lock(mu_);
      all_done_.wait(lock, [&] { return done_ == jobs_.size(); });
      stop_ = true;
    }
    ready_cv_.notify_all();
    for (auto& t : workers) t.join();
  }

 private:
  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ready_cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
      if (stop_) return;
      const std::size_t i = ready_.front();
      ready_.pop_front();
      lock.unlock();
      jobs_[i].body();
      lock.lock();
      for (std::size_t d : jobs_[i].dependants) {
        if (--jobs_[d].unmet == 0) {
          ready_.push_back(d);
          ready_cv_.notify_one();
        }
      }
      if (++done_ == jobs_.size()) all_done_.notify_one();
    }
  }

  std::vector<job> jobs_;
  std::mutex mu_;
  std::condition_variable ready_cv_, all_done_;
  std::deque<std::size_t> ready_;
  std::size_t done_ = 0;
  bool stop_ = false;
};

std::int64_t run_threads(std::int64_t n) {
  std::vector<std::int64_t> results(static_cast<std::size_t>(n));
  std::vector<thread_scheduler::job> jobs(static_cast<std::size_t>(n));
  jobs[0].body = [&results] { results[0] = 0; };
  for (std::size_t i = 1; i < jobs.size(); ++i) {
    jobs[i].body = [&results, i] { results[i] = results[i - 1] + 1; };
    jobs[i].unmet = 1;
    jobs[i - 1].dependants.push_back(i);
  }
  thread_scheduler{std::move(jobs)}.run();
  return results.back();
}

implementation measured(std::string name, std::int64_t n, std::int64_t (*run)(std::int64_t)) {
  std::string who = "jobs/" + name;
  return {std::move(name), [who = std::move(who), n, run] {
            std::int64_t last = 0;
            const double seconds = time_seconds([&] { last = run(n); });
            expect_equal(who, "last result", static_cast<long long>(last),
                         static_cast<long long>(n - 1));
            return sample{seconds * 1e6 / static_cast<double>(n),
                          static_cast<double>(n) / seconds, {}};
          }};
}

}  // namespace

result run_jobs(const options& o) {
  const std::int64_t n = o.size(1000, 100, 2);
  result r{"jobs", "us/job"};
  r.parameters = {{"chain", static_cast<double>(n)}};
  print_parameters(r);
  std::vector<implementation> impls;
  impls.push_back(measured("sluice", n, run_sluice));
  impls.push_back(measured("std-thread-cv", n, run_threads));
  r.rows = run_rounds(r.workload, impls, o);

  const double us = r.at("sluice").median_value();
  r.bars.push_back(make_bar("sluice <= 100 us per job", us, format("%.1f us", us), us <= 100));
  return r;
}

}  // namespace perf
