// What the job graph's tests share: an event log to count and order events, a graph that feeds
// it, a per-job call counter, and helpers for refusals (std::invalid_argument) and name lists.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/jobs.hpp>

namespace sluice_test {

using names = std::vector<std::string>;

inline names sorted(names n) {
  std::sort(n.begin(), n.end());
  return n;
}

// A graph's options with no live output.
inline sluice::job_graph_options quiet(std::size_t parallel = 100) {
  return {.parallel = parallel, .live = sluice::live_output::off};
}

// Every event of a graph, in order; counts events that arrived while another was delivered (the
// graph promises none).
struct event_log {
  std::mutex mu;
  std::vector<sluice::job_event> events;
  std::atomic<bool> inside{false};
  std::atomic<int> overlapped{0};

  void operator()(const sluice::job_event& e) {
    if (inside.exchange(true)) ++overlapped;
    {
      std::lock_guard lock(mu);
      events.push_back(e);
    }
    inside = false;
  }
  std::vector<sluice::job_event> copy() {
    std::lock_guard lock(mu);
    return events;
  }
  // The jobs of every `kind` event, in order.
  names of(sluice::job_event_kind kind) {
    names out;
    for (const auto& e : copy()) {
      if (e.event == kind) out.push_back(e.job);
    }
    return out;
  }
  std::vector<sluice::job_event> of_job(const std::string& job) {
    std::vector<sluice::job_event> out;
    for (const auto& e : copy()) {
      if (e.job == job) out.push_back(e);
    }
    return out;
  }
  // The position of the job's first `kind` event, or -1.
  long at(const std::string& job, sluice::job_event_kind kind) {
    const auto all = copy();
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i].job == job && all[i].event == kind) return static_cast<long>(i);
    }
    return -1;
  }
  // Whether `first` succeeded before `second` started (both did).
  bool ran_before(const std::string& first, const std::string& second) {
    const long end = at(first, sluice::job_event_kind::succeeded);
    const long start = at(second, sluice::job_event_kind::started);
    return end >= 0 && start >= 0 && end < start;
  }
  // The most jobs between their first start and their final event at once, over `jobs` (all
  // jobs when empty), read from the event order.
  std::size_t peak_running(const names& jobs = {}) {
    std::map<std::string, bool> running;
    std::size_t now = 0, peak = 0;
    for (const auto& e : copy()) {
      if (!jobs.empty() && std::find(jobs.begin(), jobs.end(), e.job) == jobs.end()) continue;
      using kind = sluice::job_event_kind;
      if (e.event == kind::started && !running[e.job]) {
        running[e.job] = true;
        peak = std::max(peak, ++now);
      } else if ((e.event == kind::succeeded || e.event == kind::failed ||
                  e.event == kind::skipped) &&
                 running[e.job]) {
        running[e.job] = false;
        --now;
      }
    }
    return peak;
  }
};

// A graph (no live output) whose events reach `log`.
struct logged_graph {
  event_log log;
  sluice::job_graph g;

  explicit logged_graph(sluice::job_graph_options o = {}) : g(with_log(std::move(o), log)) {}
  explicit logged_graph(std::size_t parallel) : logged_graph(quiet(parallel)) {}

  names started() { return log.of(sluice::job_event_kind::started); }
  names started_sorted() { return sorted(started()); }

  static sluice::job_graph_options with_log(sluice::job_graph_options o, event_log& log) {
    o.live = sluice::live_output::off;
    o.on_event = std::ref(log);
    return o;
  }
};

// Calls per job name.
struct call_counter {
  std::mutex mu;
  std::map<std::string, int> calls;
  int hit(const std::string& name) {
    std::lock_guard lock(mu);
    return ++calls[name];
  }
  int of(const std::string& name) {
    std::lock_guard lock(mu);
    auto it = calls.find(name);
    return it == calls.end() ? 0 : it->second;
  }
};

// The what() of the std::invalid_argument that f() throws, or a note that it threw none.
template <class F>
std::string refusal(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (...) {
    return "<another exception>";
  }
  return "<no exception>";
}

// Whether `text` holds every one of `parts`.
inline bool mentions(const std::string& text, std::initializer_list<const char*> parts) {
  for (const char* p : parts) {
    if (text.find(p) == std::string::npos) return false;
  }
  return true;
}

}  // namespace sluice_test
