// This header defines the bookkeeping of the chaos test (test/chaos_test.cpp): the switches that
// turn injected behaviours off, the error the injected faults throw, the "sites" (every callable
// a generated pipeline calls: producer, task, selector, sink) with their random options and
// faults, and the ledger that proves every input item either came out or was reported failed.
//
// Items are ints that carry where they came from: value = run * kRunStride + index, where index
// is the item's position in its run's producer output. Every task passes the value on
// unchanged (a branch task emits copies of it), so whatever reaches the caller or an on_error
// handler names its run and its input. Every decision a site makes about an item — fail, how
// many children, sleep, block until stopped — is a hash of the site's salt and the value: the
// same item meets the same fate in every run of the same seed, and the checks can recompute it.
#pragma once

#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include <sluice/sluice.hpp>

namespace sluice_test::chaos {

inline constexpr int kRunStride = 1 << 16;  // value = run * kRunStride + index
inline int run_of(int value) { return value / kRunStride; }
inline int index_of(int value) { return value % kRunStride; }

// ---- switches ----------------------------------------------------------------------------------

// What SLUICE_CHAOS_SKIP may name (comma-separated); each turns one injected behaviour, one
// family of shapes or one check off:
//   faults, producer_faults, selector_faults, sink_faults   exceptions in tasks, in the producer,
//       in a route's selector (or a bad branch index), in the consumer of the stream;
//   late_faults       faults may still fire after cancel(), and calls blocked until their stop
//                     throw when it comes;
//   handled, propagate, mixed   on_error everywhere, nowhere, at random; rethrow: handlers that
//                     rethrow (in mixed mode);
//   cancel, early_exit   cancel() from another thread; a consumer that stops pulling early;
//   multi             several runs of one pipeline object, at once or one after another;
//   block             stop_tasks whose calls wait until their std::stop_token fires;
//   starve            one run holds its blocked calls until the others have ended;
//   slow, rate        calls that sleep past a cancel() (and the check that pulls return at
//                     once); tasks with a rate limit;
//   nested, nested_branch, nested_block   shapes with a nested pipeline; those using it with
//                     sluice::branch; blocking calls inside nested pipelines;
//   join, zip, batch, route, fan_out, from   shapes with these;
//   high_concurrency  a task of concurrency 32 or 100;
//   threads, fds      the leak checks.
inline const std::set<std::string>& switch_names() {
  static const std::set<std::string> names{"faults",
                                           "producer_faults",
                                           "selector_faults",
                                           "sink_faults",
                                           "late_faults",
                                           "handled",
                                           "propagate",
                                           "mixed",
                                           "rethrow",
                                           "cancel",
                                           "early_exit",
                                           "multi",
                                           "block",
                                           "nested",
                                           "nested_block",
                                           "nested_branch",
                                           "join",
                                           "zip",
                                           "batch",
                                           "route",
                                           "fan_out",
                                           "from",
                                           "high_concurrency",
                                           "threads",
                                           "fds",
                                           "starve",
                                           "slow",
                                           "rate"};
  return names;
}

class switches {
 public:
  explicit switches(std::set<std::string> skip = {}) : skip_(std::move(skip)) {}
  bool on(const std::string& name) const { return skip_.count(name) == 0; }
  const std::set<std::string>& skipped() const { return skip_; }

 private:
  std::set<std::string> skip_;
};

// ---- deterministic choices ---------------------------------------------------------------------

inline std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline std::uint64_t mix(std::uint64_t salt, int value, int purpose) {
  return mix(salt ^ mix(static_cast<std::uint64_t>(static_cast<std::uint32_t>(value)) * 16 +
                        static_cast<std::uint64_t>(purpose)));
}

// ---- the injected error ------------------------------------------------------------------------

// What every injected fault throws. `values` are the items the failed call was given (one, or a
// whole batch); `children_done` is how many outputs a branch task had emitted for the item before
// it threw; `after_cancel` says the fault fired after stream::cancel() had returned, so that the
// run must not report it.
struct chaos_error : std::runtime_error {
  chaos_error(int site_id, const std::string& site_name, std::vector<int> items, int children,
              bool late)
      : std::runtime_error("chaos fault in " + site_name + " at item " +
                           (items.empty() ? std::string{"-"}
                                          : std::to_string(index_of(items.front())) + " of run " +
                                                std::to_string(run_of(items.front())))),
        site(site_id),
        values(std::move(items)),
        children_done(children),
        after_cancel(late) {}
  int site;
  std::vector<int> values;
  int children_done;
  bool after_cancel;
};

// What an exception_ptr holds, for messages.
inline std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string{typeid(e).name()} + ": " + e.what();
  } catch (...) {
    return "a non-std::exception";
  }
}

// ---- sites -------------------------------------------------------------------------------------

enum class policy { propagate, handle, rethrow };  // on_error: none, drop and count, rethrow

inline const char* name_of(policy p) {
  switch (p) {
    case policy::propagate:
      return "propagate";
    case policy::handle:
      return "handle";
    case policy::rethrow:
      return "rethrow";
  }
  return "?";
}

// Outputs at the end of the pipeline per item with this value at some point of it.
using multiplicity = std::function<int(int)>;
// Filled in once what follows a stage is built (see chaos_shapes.hpp).
using multiplicity_slot = std::shared_ptr<multiplicity>;

struct site {
  int id = 0;
  std::string name;  // the task's name option, "s<id>"
  std::string kind;  // producer, task, stop_task, branch_vec, branch_gen, flatten, unzip, join_gen,
                     // join_vec, nested, nested_branch, selector, sink
  std::size_t concurrency = 1;
  std::size_t capacity = 0;
  bool ordered = false;
  policy on_error = policy::propagate;
  int fault_permille = 0;          // items whose call throws chaos_error
  int block_permille = 0;          // stop_task only: calls that wait until their stop_token fires
  int sleep_permille = 0;          // calls that sleep 20-200 us
  int slow_permille = 0;           // task only: calls that sleep kSlowCall, deaf to any stop
  double rate = 0;                 // calls per second of a task_options::rate limit; 0: none
  int max_children = 1;            // branch tasks: 0..max_children copies per item
  bool out_of_range = false;       // selector: a fault returns a branch index past the last
  int zip_lane = -1;               // in a zip branch: faults only for items whose index % 2 == lane
  int parent = -1;                 // the nested site whose inner pipeline holds this site
  bool sequence_is_index = false;  // failure::sequence must equal the item's index
  std::uint64_t salt = 0;
  multiplicity_slot after;  // outputs at the end per output of this site
  multiplicity in;          // outputs at the end per input of this site

  bool fails(int value) const {
    if (fault_permille == 0) return false;
    if (zip_lane >= 0 && index_of(value) % 2 != zip_lane) return false;
    return static_cast<int>(mix(salt, value, 1) % 1000) < fault_permille;
  }
  int children(int value) const {
    return static_cast<int>(mix(salt, value, 2) % static_cast<std::uint64_t>(max_children + 1));
  }
  // A failing branch_gen call throws after this many children (0..children).
  int fail_after(int value) const {
    return static_cast<int>(mix(salt, value, 3) % static_cast<std::uint64_t>(children(value) + 1));
  }
  bool blocks(int value) const {
    return block_permille > 0 && static_cast<int>(mix(salt, value, 4) % 1000) < block_permille;
  }
  // A blocked call that throws when its stop comes (as a call reporting its cancellation does).
  bool throws_when_stopped(int value) const { return mix(salt, value, 7) % 2 == 0; }
  bool slow(int value) const {
    return slow_permille > 0 && static_cast<int>(mix(salt, value, 8) % 1000) < slow_permille;
  }
  int branch_of(int value, int branches) const {
    return static_cast<int>(mix(salt, value, 5) % static_cast<std::uint64_t>(branches));
  }
  void work(int value) const {
    const std::uint64_t h = mix(salt, value, 6);
    if (static_cast<int>(h % 1000) < sleep_permille) {
      std::this_thread::sleep_for(std::chrono::microseconds{20 + (h >> 16) % 180});
    } else if ((h >> 12) % 16 == 0) {
      std::this_thread::yield();
    }
  }

  std::string text() const {
    std::ostringstream out;
    out << name << ':' << kind << '{';
    if (kind != "selector" && kind != "sink") {
      out << "c" << concurrency << " cap" << capacity;
      if (ordered) out << " ordered";
      out << ' ' << name_of(on_error);
    }
    if (fault_permille != 0) {
      out << " fault" << fault_permille << "/1000";
      if (out_of_range) out << "(out of range)";
      if (zip_lane >= 0) out << "(lane " << zip_lane << ")";
    }
    if (block_permille != 0) out << " block" << block_permille << "/1000";
    if (sleep_permille != 0) out << " sleep" << sleep_permille << "/1000";
    if (slow_permille != 0) out << " slow" << slow_permille << "/1000";
    if (rate != 0) out << " rate" << rate << "/s";
    if (kind == "branch_vec" || kind == "branch_gen" || (kind == "producer" && parent >= 0)) {
      out << " children0.." << max_children;
    }
    out << '}';
    return out.str();
  }
};

// ---- one iteration's state ---------------------------------------------------------------------

// Per run: how many outputs and failure-dropped outputs each input index accounts for.
struct ledger {
  explicit ledger(int items)
      : count(items),
        outputs(static_cast<std::size_t>(items)),
        lost(static_cast<std::size_t>(items)) {}
  int count;
  std::vector<int> outputs;                 // written by the thread that consumes the run
  std::vector<std::atomic<int>> lost;       // written by on_error handlers (worker threads)
  std::atomic<int> producer_stop{INT_MAX};  // a handled producer fault ended the producer here
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> cancel_returned{false};
  std::atomic<std::chrono::steady_clock::rep> cancel_time{0};  // when cancel() returned
};

// How long a slow call sleeps, deaf to its run's stop.
inline constexpr std::chrono::milliseconds kSlowCall{300};

class context {
 public:
  context(const switches& on, std::vector<int> counts) : on_(on) {
    for (int count : counts) ledgers_.push_back(std::make_unique<ledger>(count));
  }
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  const switches& on() const { return on_; }
  // Only run 0's items block (the others must finish while run 0 holds its threads).
  void hold_run_zero() { hold_ = true; }
  site& add_site(site s) {
    s.id = static_cast<int>(sites_.size());
    s.name = "s" + std::to_string(s.id);
    sites_.push_back(std::move(s));
    return sites_.back();
  }
  const site& at(int id) const { return sites_.at(static_cast<std::size_t>(id)); }
  int site_count() const { return static_cast<int>(sites_.size()); }
  ledger& runs(int run) { return *ledgers_.at(static_cast<std::size_t>(run)); }
  int run_count() const { return static_cast<int>(ledgers_.size()); }

  void problem(const std::string& what) {
    std::lock_guard lock(mu_);
    problems_.push_back(what);
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(mu_);
    return problems_;
  }

  // Whether site `s` throws for `value` now, and whether that is after cancel() has returned
  // on the item's run (`late`: the run must not report the error). Decided here, not where the
  // error is made: a canceller may run in between. With `late_faults` off, no fault fires once
  // cancel() has been called.
  struct verdict {
    bool fails = false;
    bool late = false;
    explicit operator bool() const { return fails; }
  };
  verdict may_fail(const site& s, int value) {
    if (!s.fails(value)) return {};
    const ledger& book = runs(run_of(value));
    if (!on_.on("late_faults") && book.cancel_requested.load()) return {};
    return {true, book.cancel_returned.load()};
  }
  [[noreturn]] void raise(const site& s, std::vector<int> values, int children_done, bool late) {
    throw chaos_error(s.id, s.name, std::move(values), children_done, late);
  }

  // A plain task's call (task, stop_task, unzip, the value after a batch).
  int call(const site& s, int value, const std::stop_token* stop) {
    s.work(value);
    if (s.slow(value)) std::this_thread::sleep_for(kSlowCall);
    if (stop != nullptr && blocks(s, value)) {
      wait_for_stop(*stop);
      // A call that throws when it is stopped. Its run stopped; if cancel() was called, that is
      // what stopped it (a stop by an earlier error reports that error, by a destroyed stream
      // nothing), so its error must not be reported.
      if (s.throws_when_stopped(value) && on_.on("late_faults")) {
        throw chaos_error(s.id, s.name, {value}, 0, runs(run_of(value)).cancel_requested.load());
      }
      return value;
    }
    if (const verdict v = may_fail(s, value)) raise(s, {value}, 0, v.late);
    return value;
  }

  // With hold_run_zero(), every call of run 0 at a blocking site blocks (holding as many threads
  // as the site's concurrency), and no other run blocks at all.
  bool blocks(const site& s, int value) const {
    if (!hold_) return s.blocks(value);
    return run_of(value) == 0 && s.block_permille > 0;
  }
  // Whether a fault of site `s` may have thrown for `value` (the checks' view of it).
  bool may_throw(const site& s, int value) const {
    return s.fails(value) ||
           (s.kind == "stop_task" && blocks(s, value) && s.throws_when_stopped(value));
  }

  std::vector<int> children(const site& s, int value) {
    s.work(value);
    if (const verdict v = may_fail(s, value)) raise(s, {value}, 0, v.late);
    return std::vector<int>(static_cast<std::size_t>(s.children(value)), value);
  }

  std::vector<int> flatten(const site& s, std::vector<int> values) {
    if (!values.empty()) s.work(values.front());
    for (int value : values) {
      if (const verdict v = may_fail(s, value)) raise(s, values, 0, v.late);
    }
    return values;
  }

  int select(const site& s, int value, int branches) {
    if (const verdict v = may_fail(s, value)) {
      if (s.out_of_range) return branches;
      raise(s, {value}, 0, v.late);
    }
    return s.branch_of(value, branches);
  }

  // on_error of site `s`: account what the failure dropped, check what it says.
  void failed(const site& s, const sluice::failure& f) {
    try {
      std::rethrow_exception(f.error);
    } catch (const chaos_error& e) {
      account(s, f, e);
    } catch (const std::out_of_range& e) {
      // A route's selector inside this nested pipeline returned a bad index: the inner run
      // failed and the item's whole inner run is dropped.
      const int* value = std::any_cast<int>(&f.input);
      if (s.kind.rfind("nested", 0) == 0 && value != nullptr) {
        if (s.on_error == policy::handle) drop(s, *value, s.in(*value));
      } else {
        problem("[handler] on_error of " + s.name + " got " + describe(f.error));
      }
    } catch (...) {
      // No fault throws anything else. sluice's own "... cancelled ..." errors (a rate limit's
      // wait ended by a stop) belong to a run that has stopped and must reach nobody.
      const std::string text = describe(f.error);
      const bool stop_error = text.find("cancelled") != std::string::npos;
      problem(std::string{stop_error ? "[late-error]" : "[handler]"} + " on_error of " + s.name +
              " got an error no fault threw: " + text);
    }
    if (s.on_error == policy::rethrow) std::rethrow_exception(f.error);
  }

  // Whether site `inner` is part of the pipeline that nested site `outer` runs.
  bool inside(int inner, int outer) const {
    for (int id = at(inner).parent; id >= 0; id = at(id).parent) {
      if (id == outer) return true;
    }
    return false;
  }

  // Blocks until `stop` is requested.
  void wait_for_stop(const std::stop_token& stop) {
    std::unique_lock lock(block_mu_);
    block_cv_.wait(lock, stop, [] { return false; });
  }

 private:
  void account(const site& s, const sluice::failure& f, const chaos_error& e) {
    if (f.task != s.name) {
      problem("[handler] on_error of " + s.name + " got failure::task \"" + f.task + "\"");
    }
    if (e.site >= site_count() || e.values.empty()) {
      problem("[handler] on_error of " + s.name + " got a malformed chaos_error");
      return;
    }
    // A task's handler sees its own failures and, for a nested pipeline, the error that ended
    // an inner run; a selector's or a sink's error, or another task's, is not its item's.
    const bool own = e.site == s.id;
    if (!own && !inside(e.site, s.id)) {
      problem("[handler] on_error of " + s.name + " (" + s.kind + ") got the error of " +
              at(e.site).name + " (" + at(e.site).kind + "): " + e.what());
      return;
    }
    for (int value : e.values) {
      const int run = run_of(value);
      const int index = index_of(value);
      if (run >= run_count() || index >= runs(run).count) {
        problem("[handler] on_error of " + s.name +
                " got a failure for an item that was never "
                "produced: " +
                std::to_string(value));
        return;
      }
      if (own && s.kind == "producer" && s.parent < 0) {
        // The producer ends here: every later input produces nothing.
        ledger& book = runs(run);
        int seen = book.producer_stop.load();
        while (index < seen && !book.producer_stop.compare_exchange_weak(seen, index)) {
        }
        if (f.sequence != static_cast<std::uint64_t>(index)) {
          problem("[handler] the producer " + s.name + " failed at item " + std::to_string(index) +
                  " but failure::sequence is " + std::to_string(f.sequence));
        }
        continue;
      }
      // Outputs this failure dropped: everything the input would have become, less the children
      // a branch task emitted before it threw. An error from inside a nested pipeline drops its
      // whole inner run. A handler that rethrows drops nothing: the error goes on (to the caller,
      // or to the handler of the nested task around it, which counts it).
      int dropped = s.in(value);
      if (own) dropped -= e.children_done * (*s.after)(value);
      if (s.on_error == policy::handle) drop(s, value, dropped);
      if (own && s.sequence_is_index && f.sequence != static_cast<std::uint64_t>(index)) {
        problem("[handler] " + s.name + " failed item " + std::to_string(index) +
                " but failure::sequence is " + std::to_string(f.sequence));
      }
    }
  }

  void drop(const site& s, int value, int outputs) {
    const int run = run_of(value);
    const int index = index_of(value);
    if (run < 0 || run >= run_count() || index >= runs(run).count) {
      problem("[handler] on_error of " + s.name +
              " got a failure for an item that was never "
              "produced: " +
              std::to_string(value));
      return;
    }
    runs(run).lost[static_cast<std::size_t>(index)].fetch_add(outputs);
  }

  const switches& on_;
  bool hold_ = false;
  std::deque<site> sites_;  // stable addresses: callables hold pointers to their site
  std::vector<std::unique_ptr<ledger>> ledgers_;
  mutable std::mutex mu_;
  std::vector<std::string> problems_;
  std::mutex block_mu_;
  std::condition_variable_any block_cv_;
};

// The producer: items run * kRunStride + 0 .. count - 1, unless a fault ends it first.
inline sluice::generator<int> produce(context* cx, const site* s, int run, int count) {
  for (int index = 0; index < count; ++index) {
    const int value = run * kRunStride + index;
    s->work(value);
    if (const auto v = cx->may_fail(*s, value)) cx->raise(*s, {value}, 0, v.late);
    co_yield value;
  }
}

// A branch task's generator: s.children(value) copies of the item; a failing item throws after
// s.fail_after(value) of them.
inline sluice::generator<int> copies(context* cx, const site* s, int value) {
  s->work(value);
  const int children = s->children(value);
  const context::verdict fails = cx->may_fail(*s, value);
  const int throw_at = fails ? s->fail_after(value) : -1;
  for (int child = 0; child < children; ++child) {
    if (child == throw_at) cx->raise(*s, {value}, child, fails.late);
    co_yield value;
  }
  if (throw_at == children) cx->raise(*s, {value}, children, fails.late);
}

// A join task's generator: passes its share of the upstream on.
inline sluice::generator<int> pass_on(context* cx, const site* s, sluice::stream<int>& in) {
  while (auto value = in.next()) {
    s->work(*value);
    if (const auto v = cx->may_fail(*s, *value)) cx->raise(*s, {*value}, 0, v.late);
    co_yield *value;
  }
}

}  // namespace sluice_test::chaos
