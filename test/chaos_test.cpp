// Seeded, randomized fault injection. Each iteration builds a pipeline from the public API (one
// of the shapes in common/chaos_shapes.hpp, every stage with random concurrency, capacity, order
// and faults), runs it once or on several threads at once, and injects: exceptions in stages,
// selectors and sinks (with and without on_error), early consumer exit, cancel() from another
// thread, calls that block until their std::stop_token fires, slow calls deaf to stops, and rate
// limits. It then checks:
//   - the run ends (a watchdog names the seed and the pipeline, and aborts);
//   - every input is an output or a failure record, none lost, none twice (exactly when the run
//     ended by itself; at most once each when it was stopped or failed);
//   - an error reaching the caller is one a fault threw (its own type, chaos_error, or the
//     std::out_of_range of a route whose selector returned a bad index), for an item of the
//     caller's own run, from a stage whose error no on_error handler on its way out handles;
//     and it was not thrown after cancel() had returned. (An error thrown before cancel() may
//     still be rethrown by a pull after it: the run had failed already.)
//   - after cancel() has returned, pulls return std::nullopt, and a pull waiting then returns
//     at once rather than when the running calls return;
//   - on_error handlers get their own task's failures (failure::task, failure::sequence);
//   - outputs keep input order where the documentation promises it;
//   - threads and file descriptors do not leak (see chaos_leaks.hpp).
//
// Environment:
//   SLUICE_CHAOS_SEED=n        run seed n alone (replays one failing iteration)
//   SLUICE_CHAOS_BASE=n        first seed (default kDefaultBase); seeds are base + iteration
//   SLUICE_CHAOS_ITERATIONS=n  number of iterations (default scaled for sanitizers)
//   SLUICE_CHAOS_SKIP=a,b      behaviours to leave out (default kDefaultSkips; "none": none);
//                              names in common/chaos_model.hpp's switch_names()
//   SLUICE_CHAOS_SHAPE=name    only this shape
//   SLUICE_CHAOS_VERBOSE=1     print each iteration's scenario before it runs
//   SLUICE_CHAOS_WATCHDOG_S=n  seconds before a hung iteration aborts (default 30)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/chaos_leaks.hpp"
#include "common/chaos_model.hpp"
#include "common/chaos_scenario.hpp"
#include "common/chaos_shapes.hpp"
#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/sanitizers.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using namespace sluice_test::chaos;

namespace {

constexpr std::uint64_t kDefaultBase = 20'261'205'000;
constexpr int kDefaultIterations = sluice_test::scaled(1000, 250);  // ~20 s in each build
// Behaviours the default run leaves out (SLUICE_CHAOS_SKIP overrides it): none. Each behaviour
// has a switch in common/chaos_model.hpp's switch_names() for narrowing a failing seed down.
constexpr const char* kDefaultSkips = "";

// ---- running -----------------------------------------------------------------------------------

struct run_result {
  std::exception_ptr error;
  bool natural_end = false;  // the stream ended by itself, no stop was asked for
  std::vector<int> order;    // the indices of the outputs, as they came
};

// Calls stream.cancel() from its own thread when the plan says.
class canceller {
 public:
  canceller(const run_plan& plan, sluice::stream<int>& items, ledger& book,
            const std::atomic<int>& outputs, const std::atomic<int>& others_left) {
    if (!plan.cancels()) return;
    thread_ = std::jthread([&, plan](std::stop_token stop) {
      const auto start = std::chrono::steady_clock::now();
      for (;;) {
        if (stop.stop_requested()) return;
        if (finished_.load()) {
          if (!plan.cancel_if_done) return;
          break;
        }
        if (plan.cancel_after_us >= 0 && std::chrono::steady_clock::now() - start >=
                                             std::chrono::microseconds{plan.cancel_after_us}) {
          break;
        }
        if (plan.cancel_after_items >= 0 && outputs.load() >= plan.cancel_after_items) break;
        if (plan.cancel_after_others && others_left.load() == 0) break;
        std::this_thread::sleep_for(20us);
      }
      book.cancel_requested.store(true);
      items.cancel();
      book.cancel_time.store(std::chrono::steady_clock::now().time_since_epoch().count());
      book.cancel_returned.store(true);
    });
  }
  // The consumer is done with the stream: cancel now or never, and join.
  void done() {
    finished_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> finished_{false};
  std::jthread thread_;  // last: joined (stop requested) before the members above go
};

// A pull waiting when cancel() returns, or begun after it, must return at once (the contract: a
// reader blocked in next() returns std::nullopt at once; the joining is the destructor's), not
// when the calls still running have returned. Checked where slow calls may run: they sleep
// kSlowCall (300 ms), deaf to the stop, so a pull that waits for them takes up to that long,
// while a prompt one takes microseconds; the limit leaves room for a loaded machine.
void check_prompt(context& cx, const ledger& book, int run,
                  std::chrono::steady_clock::time_point began) {
  if (!book.cancel_returned.load()) return;
  const auto cancelled = std::chrono::steady_clock::time_point{
      std::chrono::steady_clock::duration{book.cancel_time.load()}};
  const auto waited = std::chrono::steady_clock::now() - std::max(began, cancelled);
  if (waited > std::chrono::milliseconds{200}) {
    cx.problem(
        "[slow-cancel] run " + std::to_string(run) + ": a pull returned " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
        " ms after cancel() had returned");
  }
}

run_result run_one(context& cx, const built& p, const run_plan& plan, int run,
                   std::atomic<int>& others_left) {
  run_result result;
  ledger& book = cx.runs(run);
  std::atomic<int> outputs{0};
  auto record = [&](int value) {
    const int index = index_of(value);
    if (value < 0 || run_of(value) != run || index >= plan.count) {
      cx.problem("[foreign] run " + std::to_string(run) +
                 " got an item it never produced: " + std::to_string(value));
    } else {
      ++book.outputs[static_cast<std::size_t>(index)];
      result.order.push_back(index);
    }
    const int taken = outputs.fetch_add(1);
    if (taken == plan.sink_fault_at) {
      const site& sink = cx.at(plan.sink_site);
      throw chaos_error(sink.id, sink.name, {value}, 0, false);
    }
  };
  try {
    switch (plan.how) {
      case consumer::pull: {
        sluice::stream<int> items = p.open(run, plan.count);
        canceller cancel(plan, items, book, outputs, others_left);
        bool late_item = false;
        for (;;) {
          if (plan.exit_after >= 0 && outputs.load() >= plan.exit_after) break;
          const bool after_cancel = book.cancel_returned.load();
          const auto began = std::chrono::steady_clock::now();
          std::optional<int> item;
          try {
            item = items.next();
          } catch (...) {
            if (plan.timed) check_prompt(cx, book, run, began);
            throw;
          }
          if (plan.timed) check_prompt(cx, book, run, began);
          if (!item) {
            result.natural_end = !book.cancel_requested.load();
            if (book.cancel_returned.load() && items.next()) {
              cx.problem("[after-cancel] run " + std::to_string(run) +
                         ": a pull after the stream ended with cancel() gave an item");
            }
            break;
          }
          if (after_cancel && !late_item) {
            late_item = true;
            cx.problem("[after-cancel] run " + std::to_string(run) +
                       ": a pull that began after cancel() returned gave an item");
          }
          record(*item);
        }
        cancel.done();
        break;
      }
      case consumer::range_for: {
        sluice::stream<int> items = p.open(run, plan.count);
        canceller cancel(plan, items, book, outputs, others_left);
        bool exited = plan.exit_after == 0;
        if (!exited) {
          bool cancelled = false;
          bool late_item = false;
          for (int value : items) {
            if (cancelled && !late_item) {
              late_item = true;
              cx.problem("[after-cancel] run " + std::to_string(run) +
                         ": range-for went on after cancel() returned");
            }
            record(value);
            if (plan.exit_after >= 0 && outputs.load() >= plan.exit_after) {
              exited = true;
              break;
            }
            cancelled = book.cancel_returned.load();
          }
        }
        result.natural_end = !exited && !book.cancel_requested.load();
        cancel.done();
        break;
      }
      case consumer::for_each:
        p.for_each(run, plan.count, record);
        result.natural_end = true;
        break;
      case consumer::to_vector:
        for (int value : p.to_vector(run, plan.count)) record(value);
        result.natural_end = true;
        break;
    }
  } catch (...) {
    result.error = std::current_exception();
    result.natural_end = false;
  }
  return result;
}

// ---- checks ------------------------------------------------------------------------------------

// Whether an error from site `id` may reach the caller: no site on its way out handles it.
bool escapes(const context& cx, int id) {
  for (; id >= 0; id = cx.at(id).parent) {
    if (cx.at(id).on_error == policy::handle) return false;
  }
  return true;
}

void check_error(context& cx, int run, int sink_site, const std::exception_ptr& error) {
  const std::string who = "run " + std::to_string(run) + " ";
  try {
    std::rethrow_exception(error);
  } catch (const chaos_error& e) {
    if (e.site < 0 || e.site >= cx.site_count() || e.values.empty()) {
      cx.problem("[wrong-error] " + who + "got a malformed chaos_error");
      return;
    }
    const site& s = cx.at(e.site);
    if (e.after_cancel) {
      cx.problem("[late-error] " + who +
                 "got an error thrown after cancel() returned: " + e.what());
    }
    if (s.kind == "sink") {
      if (s.id != sink_site) {
        cx.problem("[wrong-error] " + who + "got another run's consumer error: " + e.what());
      }
      return;
    }
    if (run_of(e.values.front()) != run) {
      cx.problem("[wrong-error] " + who + "got the error of another run's item: " + e.what());
    }
    const bool designated =
        std::any_of(e.values.begin(), e.values.end(), [&](int v) { return cx.may_throw(s, v); });
    if (!designated) {
      cx.problem("[wrong-error] " + who + "got an error for an item no fault chose: " + e.what());
    }
    if (!escapes(cx, e.site)) {
      cx.problem("[handled-escaped] " + who + "got an error that an on_error handler on its " +
                 "way out handles: " + e.what());
    }
  } catch (const std::out_of_range& e) {
    bool possible = false;
    for (int id = 0; id < cx.site_count(); ++id) {
      const site& s = cx.at(id);
      possible = possible || (s.kind == "selector" && s.out_of_range && s.fault_permille != 0 &&
                              escapes(cx, id));
    }
    if (!possible || std::string{e.what()}.find("route") == std::string::npos) {
      cx.problem("[wrong-error] " + who + "got std::out_of_range: " + e.what());
    }
  } catch (...) {
    const bool cancelled = cx.runs(run).cancel_requested.load();
    cx.problem(std::string{cancelled ? "[late-error] " : "[wrong-error] "} + who + "got " +
               describe(error) + (cancelled ? " after cancel()" : ""));
  }
}

void check_run(context& cx, const built& p, int run, int sink_site, const run_result& result) {
  ledger& book = cx.runs(run);
  const bool exact = result.natural_end && !result.error;
  int reported = 0;
  for (int index = 0; index < book.count; ++index) {
    const int expected = index >= book.producer_stop.load() ? 0 : p.in(run * kRunStride + index);
    const int out = book.outputs[static_cast<std::size_t>(index)];
    const int lost = book.lost[static_cast<std::size_t>(index)].load();
    const char* what = out + lost > expected            ? "[duplicate]"
                       : exact && out + lost < expected ? "[lost]"
                                                        : nullptr;
    if (what != nullptr && reported++ < 4) {
      cx.problem(std::string{what} + " run " + std::to_string(run) + " item " +
                 std::to_string(index) + ": " + std::to_string(out) + " outputs + " +
                 std::to_string(lost) + " dropped by failures, expected " +
                 std::to_string(expected));
    }
  }
  if (reported > 4) {
    cx.problem("[...] run " + std::to_string(run) + ": " + std::to_string(reported - 4) +
               " more items miscounted");
  }
  if (result.error) check_error(cx, run, sink_site, result.error);
  if (p.keeps_order && !std::is_sorted(result.order.begin(), result.order.end())) {
    cx.problem("[order] run " + std::to_string(run) + ": outputs left out of input order");
  }
}

// ---- one iteration -----------------------------------------------------------------------------

struct outcome {
  std::string description;
  std::vector<std::string> problems;
};

outcome run_iteration(std::uint64_t seed, const settings& set, leak_watch& watch) {
  std::mt19937_64 rng(seed);
  const scenario sc = make_scenario(rng, seed, set);
  std::vector<int> counts;
  for (const run_plan& plan : sc.runs) counts.push_back(plan.count);
  context cx(set.on, counts);
  std::optional<built> p;
  if (sc.hold) cx.hold_run_zero();
  {
    builder b(cx, rng, sc.m, sc.allowed);
    p = shapes()[sc.shape].make(b, counts.front());
  }
  std::vector<run_plan> plans = sc.runs;
  for (run_plan& plan : plans) {
    site sink;
    sink.kind = "sink";
    plan.sink_site = cx.add_site(std::move(sink)).id;
  }
  outcome out{describe_iteration(sc, *p, set), {}};
  if (set.verbose) std::printf("chaos: %s\n", out.description.c_str());
  std::fflush(stdout);
  {
    sluice_test::watchdog guard{set.watchdog, "chaos " + out.description};
    std::vector<run_result> results(plans.size());
    std::atomic<int> others_left{static_cast<int>(plans.size()) - 1};  // runs 1.. not yet ended
    auto run = [&](std::size_t r) {
      results[r] = run_one(cx, *p, plans[r], static_cast<int>(r), others_left);
      if (r > 0) others_left.fetch_sub(1);
    };
    {
      limit_sampler sampler(watch);
      if (plans.size() > 1 && sc.concurrent) {
        sluice_test::run_on_threads(plans.size(), run);
      } else {
        for (std::size_t r = 0; r < plans.size(); ++r) run(r);
      }
    }
    for (std::size_t r = 0; r < plans.size(); ++r) {
      check_run(cx, *p, static_cast<int>(r), plans[r].sink_site, results[r]);
    }
    check_leaks(cx, watch, set);
  }
  out.problems = cx.problems();
  return out;
}

}  // namespace

TEST_SUITE("chaos") {
  TEST_CASE("random pipelines under injected faults lose no item and end cleanly" *
            doctest::timeout(3600)) {
    const settings set = read_settings(kDefaultBase, kDefaultIterations, kDefaultSkips);
    // Warm-up: the thread and descriptor baselines include what the first run of the process
    // makes for good (TBB's pool, sluice's process-wide threads).
    leak_watch watch;
    {
      sluice_test::watchdog guard{30s, "chaos warm-up"};
      limit_sampler sampler(watch);
      auto warm = sluice::from(std::vector<int>{1, 2, 3}) |
                  sluice::task([](int x) { return x; }, {.concurrency = 2});
      CHECK((warm > sluice::count())() == 3);
    }
    std::this_thread::sleep_for(200ms);
    sluice_test::start_symbolizer();  // its pipes are the sanitizer's, for good
    watch.threads = count_threads().others;
    watch.fds = list_dir("/proc/self/fd");

    std::map<std::string, std::pair<int, std::uint64_t>> tally;  // category -> count, first seed
    int failed = 0;
    const auto start = std::chrono::steady_clock::now();
    std::pair<std::chrono::milliseconds, std::uint64_t> slowest{};  // time, seed
    for (int i = 0; i < set.iterations; ++i) {
      const std::uint64_t seed = set.base + static_cast<std::uint64_t>(i);
      const auto began = std::chrono::steady_clock::now();
      const outcome result = run_iteration(seed, set, watch);
      slowest = std::max(slowest, {std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - began),
                                   seed});
      if (result.problems.empty()) continue;
      ++failed;
      std::string text = "chaos: " + result.description + "\n  problems:";
      std::set<std::string> categories;
      for (std::size_t k = 0; k < result.problems.size(); ++k) {
        if (k < 12) text += "\n    " + result.problems[k];
        const std::string category = result.problems[k].substr(0, result.problems[k].find(']') + 1);
        if (category != "[...]") categories.insert(category);
      }
      for (const std::string& c : categories) {
        auto [it, added] = tally.try_emplace(c, 0, seed);
        ++it->second.first;
      }
      FAIL_CHECK(text);
      // A later iteration may hang, and the watchdog's abort would lose what is buffered.
      std::fflush(stdout);
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::string summary =
        "chaos: " + std::to_string(set.iterations) + " iterations (seeds " +
        std::to_string(set.base) + ".." +
        std::to_string(set.base + static_cast<std::uint64_t>(set.iterations) - 1) + ") in " +
        std::to_string(took.count()) + " ms, " + std::to_string(failed) +
        " failed; skipped: " + (set.skip_text.empty() ? "none" : set.skip_text) +
        "; threads: " + std::to_string(watch.threads) + " after warm-up, " +
        std::to_string(watch.high_water) + " at most (bound " + std::to_string(watch.bound) +
        ") and " + std::to_string(watch.spare_high_water) +
        " spare ones; slowest iteration: seed " + std::to_string(slowest.second) + ", " +
        std::to_string(slowest.first.count()) + " ms";
    for (const auto& [category, seen] : tally) {
      summary += "\n  " + category + " in " + std::to_string(seen.first) +
                 " iterations, first at seed " + std::to_string(seen.second);
    }
    MESSAGE(summary);
    if (set.on.on("threads")) {
      const std::string spare = check_spare_threads_end(watch);
      CHECK_MESSAGE(spare.empty(), spare);
    }
  }
}
