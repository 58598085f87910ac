// This header defines the chaos test's settings (read from the environment; see
// test/chaos_test.cpp) and its scenarios: what one iteration runs besides the pipeline — how many
// runs, how each consumes its stream, and when it cancels, stops early or throws.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "chaos_model.hpp"
#include "chaos_shapes.hpp"

namespace sluice_test::chaos {

// ---- settings ----------------------------------------------------------------------------------

struct settings {
  std::uint64_t base = 0;
  int iterations = 0;
  std::string skip_text;
  switches on;
  std::string shape;  // "" -> all
  bool verbose = false;
  std::chrono::seconds watchdog{30};
};

inline std::set<std::string> split(const std::string& text) {
  std::set<std::string> out;
  std::stringstream in(text);
  for (std::string name; std::getline(in, name, ',');) {
    if (!name.empty() && name != "none") out.insert(name);
  }
  return out;
}

// `base`, `iterations` and `skip` are the defaults that the environment overrides.
inline settings read_settings(std::uint64_t base, int iterations, const char* skip_default) {
  settings s;
  s.base = base;
  s.iterations = iterations;
  if (const char* v = std::getenv("SLUICE_CHAOS_BASE")) s.base = std::stoull(v);
  if (const char* v = std::getenv("SLUICE_CHAOS_ITERATIONS")) s.iterations = std::stoi(v);
  if (const char* v = std::getenv("SLUICE_CHAOS_SEED")) {
    s.base = std::stoull(v);
    s.iterations = 1;
  }
  const char* skip = std::getenv("SLUICE_CHAOS_SKIP");
  s.skip_text = skip != nullptr ? skip : skip_default;
  const std::set<std::string> names = split(s.skip_text);
  for (const std::string& name : names) {
    if (switch_names().count(name) == 0) {
      throw std::invalid_argument("SLUICE_CHAOS_SKIP names an unknown behaviour: " + name);
    }
  }
  s.on = switches(names);
  if (const char* v = std::getenv("SLUICE_CHAOS_SHAPE")) s.shape = v;
  if (const char* v = std::getenv("SLUICE_CHAOS_VERBOSE")) s.verbose = std::string{v} == "1";
  if (const char* v = std::getenv("SLUICE_CHAOS_WATCHDOG_S"))
    s.watchdog = std::chrono::seconds{std::stoi(v)};
  return s;
}

// ---- scenario ----------------------------------------------------------------------------------

enum class consumer { pull, range_for, for_each, to_vector };
inline const char* name_of(consumer c) {
  switch (c) {
    case consumer::pull:
      return "next()";
    case consumer::range_for:
      return "range-for";
    case consumer::for_each:
      return "for_each sink";
    case consumer::to_vector:
      return "to_vector sink";
  }
  return "?";
}

struct run_plan {
  int count = 0;
  consumer how = consumer::pull;
  int exit_after = -1;          // destroy the stream after this many outputs
  int sink_fault_at = -1;       // the consumer throws at this output (0-based)
  int cancel_after_us = -1;     // another thread calls cancel() this long after the stream opens
  int cancel_after_items = -1;  // ... or once this many outputs were taken
  bool cancel_if_done = false;  // ... also when the stream has already ended
  bool cancel_after_others = false;  // ... once every other run has ended
  bool timed = false;  // slow calls may run: check that pulls return promptly after cancel()
  int sink_site = -1;

  bool cancels() const {
    return cancel_after_us >= 0 || cancel_after_items >= 0 || cancel_after_others;
  }
  std::string text() const {
    std::ostringstream out;
    out << count << " items, " << name_of(how);
    if (cancel_after_us >= 0) out << ", cancel() after " << cancel_after_us << "us";
    if (cancel_after_items >= 0) out << ", cancel() after " << cancel_after_items << " outputs";
    if (cancel_after_others) out << ", blocks, cancel() once the other runs have ended";
    if (cancels() && cancel_if_done) out << " (even if done)";
    if (exit_after >= 0) out << ", stops pulling after " << exit_after << " outputs";
    if (sink_fault_at >= 0) out << ", consumer throws at output " << sink_fault_at;
    return out.str();
  }
};

struct scenario {
  std::uint64_t seed = 0;
  std::size_t shape = 0;
  mode m = mode::handled;
  extras allowed;
  bool concurrent = false;
  bool hold = false;  // only run 0 blocks, and it is cancelled once the others have ended
  std::vector<run_plan> runs;
};

// Every draw is made whatever the switches say (they only mask what was drawn), so that a seed
// with one more behaviour switched off is the same scenario without it.
inline scenario make_scenario(std::mt19937_64& rng, std::uint64_t seed, const settings& set) {
  scenario sc;
  sc.seed = seed;
  std::uint64_t d[8];
  for (auto& x : d) x = rng();
  const mode modes[] = {mode::handled, mode::propagate, mode::mixed};
  for (int k = 0; k < 3; ++k) {
    const mode m = modes[(d[0] + static_cast<std::uint64_t>(k)) % 3];
    if (set.on.on(name_of(m))) {
      sc.m = m;
      break;
    }
  }
  const auto& menu = shapes();
  sc.shape = menu.size();
  for (std::size_t k = 0; k < menu.size(); ++k) {
    const std::size_t i = (d[1] + k) % menu.size();
    bool ok = set.shape.empty() || set.shape == menu[i].name;
    for (const std::string& need : menu[i].needs) ok = ok && set.on.on(need);
    if (ok) {
      sc.shape = i;
      break;
    }
  }
  if (sc.shape == menu.size()) throw std::invalid_argument("every shape is switched off");
  // Several runs at once block more often: one may starve another (see `hold`).
  const bool many = set.on.on("multi") && d[3] % 4 == 0 && d[5] % 4 != 0;
  sc.allowed.blockers =
      d[2] % 100 < (many ? 50u : 25u) && set.on.on("block") && set.on.on("cancel");
  sc.allowed.slow = d[6] % 100 < 4 && set.on.on("slow") && set.on.on("cancel");
  sc.allowed.rate = d[7] % 100 < 15 && set.on.on("rate");
  int runs = set.on.on("multi") && d[3] % 4 == 0 ? 2 + static_cast<int>(d[4] % 3) : 1;
  if (menu[sc.shape].name == std::string{"from"} ||
      menu[sc.shape].name == std::string{"from_zip_nested"}) {
    runs = 1;  // sluice::from emits run 0's items
  }
  sc.concurrent = d[5] % 4 != 0;
  // Starvation: run 0 blocks as many calls as its stop_tasks allow until the other runs, which do
  // not block, have ended; a run that starves the others hangs here.
  sc.hold = runs > 1 && sc.concurrent && sc.allowed.blockers && (d[5] >> 8) % 2 == 0 &&
            set.on.on("starve");
  sc.allowed.hold = sc.hold;
  for (int r = 0; r < 4; ++r) {
    std::uint64_t p[10];
    for (auto& x : p) x = rng();
    run_plan plan;
    const int size = static_cast<int>(p[0] % 100);
    plan.count = size < 8    ? 0
                 : size < 18 ? 1 + static_cast<int>(p[1] % 3)
                             : 4 + static_cast<int>(p[1] % 297);
    plan.how = static_cast<consumer>(p[2] % 4);
    static constexpr int delays[] = {0, 20, 100, 500, 2000, 5000};
    const bool blocks = sc.allowed.blockers && (!sc.hold || r == 0);
    if (p[3] % 100 < 30 || blocks || sc.allowed.slow) {
      if (p[4] % 2 == 0 || blocks || sc.allowed.slow) {
        plan.cancel_after_us = delays[p[5] % 6] * static_cast<int>(1 + p[6] % 3) / 2;
      } else {
        plan.cancel_after_items =
            static_cast<int>(p[5] % static_cast<std::uint64_t>(plan.count + 1));
      }
      plan.cancel_if_done = p[6] % 2 == 0;
    }
    if (p[7] % 100 < 20)
      plan.exit_after = static_cast<int>(p[8] % static_cast<std::uint64_t>(plan.count + 1));
    if (p[9] % 100 < 15)
      plan.sink_fault_at =
          static_cast<int>((p[9] >> 16) % static_cast<std::uint64_t>(std::max(plan.count, 1)));
    // What the switches and the consumer allow.
    if (blocks || sc.allowed.slow) plan.how = static_cast<consumer>(static_cast<int>(plan.how) % 2);
    plan.timed = sc.allowed.slow;
    if (sc.hold && r == 0) {
      plan.cancel_after_us = plan.cancel_after_items = -1;
      plan.cancel_after_others = true;
    }
    if (!set.on.on("cancel") || plan.how == consumer::for_each || plan.how == consumer::to_vector) {
      plan.cancel_after_us = plan.cancel_after_items = -1;
      plan.cancel_after_others = false;
    }
    if (!set.on.on("early_exit") || plan.how == consumer::for_each ||
        plan.how == consumer::to_vector) {
      plan.exit_after = -1;
    }
    if (!set.on.on("sink_faults") || plan.how == consumer::to_vector) plan.sink_fault_at = -1;
    if (r < runs) sc.runs.push_back(plan);
  }
  return sc;
}

inline std::string describe_iteration(const scenario& sc, const built& p, const settings& set) {
  std::ostringstream out;
  out << "seed " << sc.seed << " (replay: SLUICE_CHAOS_SEED=" << sc.seed
      << " SLUICE_CHAOS_SKIP=" << (set.skip_text.empty() ? "none" : set.skip_text) << ")\n  shape "
      << shapes()[sc.shape].name << ", mode " << name_of(sc.m)
      << (sc.allowed.blockers ? ", stop_tasks may block until stopped" : "")
      << (sc.hold ? " (run 0's items only)" : "") << (sc.allowed.slow ? ", tasks may be slow" : "")
      << (sc.allowed.rate ? ", tasks may be rate-limited" : "") << ", " << sc.runs.size()
      << (sc.concurrent || sc.runs.size() == 1 ? " run(s) at once" : " runs one after another");
  for (std::size_t r = 0; r < sc.runs.size(); ++r)
    out << "\n  run " << r << ": " << sc.runs[r].text();
  out << "\n  pipeline: " << p.text;
  return out.str();
}

}  // namespace sluice_test::chaos
