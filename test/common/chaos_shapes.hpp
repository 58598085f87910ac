// This header defines the pipelines the chaos test (test/chaos_test.cpp) runs: a builder that
// makes each stage with random options and faults (a "site", chaos_model.hpp) and a fixed menu of
// shapes composed from those stages.
//
// C++ pipelines are typed, so the random part is chosen at run time within a fixed set of
// compiled shapes: every callable is a std::function of one of ten signatures, so that each
// stage runtime is instantiated once whatever the shape, and each shape is one pipeline type.
// Stages are built front to back; what an item entering a stage turns into at the end (its
// multiplicity, which the ledger checks) is known only once the stages after it exist, so each
// stage leaves a slot that the next one fills.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <stop_token>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <sluice/sluice.hpp>

#include "chaos_model.hpp"

namespace sluice_test::chaos {

using plain_fn = std::function<int(int)>;
using stop_fn = std::function<int(int, std::stop_token)>;
using vec_fn = std::function<std::vector<int>(int)>;
using gen_fn = std::function<sluice::generator<int>(int)>;
using flatten_fn = std::function<std::vector<int>(std::vector<int>)>;
using unzip_fn = std::function<int(std::tuple<int, int>)>;
using join_gen_fn = std::function<sluice::generator<int>(sluice::stream<int>&)>;
using join_vec_fn = std::function<std::vector<int>(sluice::stream<int>&)>;
using select_fn = std::function<int(const int&)>;
using source_fn = std::function<sluice::generator<int>(int, int)>;

enum class mode { handled, propagate, mixed };  // on_error everywhere, nowhere, at random

inline const char* name_of(mode m) {
  switch (m) {
    case mode::handled:
      return "handled";
    case mode::propagate:
      return "propagate";
    case mode::mixed:
      return "mixed";
  }
  return "?";
}

// One stage (or a line of them) with what its items become at the end of the pipeline.
template <class P>
struct frag {
  P pipe;
  multiplicity in;          // outputs at the end per item entering
  multiplicity_slot after;  // outputs at the end per item leaving: filled by what follows
  std::string text;
};

inline multiplicity_slot slot() { return std::make_shared<multiplicity>(); }
inline multiplicity through(multiplicity_slot s) {
  return [s](int value) { return (*s)(value); };
}

template <class A, class B>
auto then(frag<A> a, frag<B> b) {
  *a.after = b.in;
  auto pipe = a.pipe | b.pipe;
  return frag<decltype(pipe)>{pipe, a.in, b.after, a.text + " | " + b.text};
}
template <class A, class B, class... Rest>
auto then(frag<A> a, frag<B> b, Rest... rest) {
  return then(then(std::move(a), std::move(b)), std::move(rest)...);
}

// A generated pipeline, erased to what the driver needs.
struct built {
  std::string text;
  bool from_source = false;  // sluice::from: run 0 only, called without arguments
  bool keeps_order = false;  // outputs must leave in input order (see builder::order_kept)
  multiplicity in;           // outputs per producer item
  std::function<sluice::stream<int>(int, int)> open;
  std::function<void(int, int, const std::function<void(int)>&)> for_each;
  std::function<std::vector<int>(int, int)> to_vector;
};

// What an iteration lets its sites do beyond faults and short sleeps.
struct extras {
  bool blockers = false;  // stop_tasks may block until stopped (every run has a cancel coming)
  bool slow = false;      // tasks may sleep kSlowCall, deaf to stops (to time cancel())
  bool rate = false;      // tasks may have a rate limit
  bool hold = false;      // every stop_task blocks (run 0's calls only, see context::blocks)
};

class builder {
 public:
  builder(context& cx, std::mt19937_64& rng, mode m, extras allowed)
      : cx_(cx), rng_(rng), mode_(m), extras_(allowed) {}

  // ---- single stages ----

  // A flatten task: takes a std::vector<int> and passes its items on (sluice::branch).
  auto flatten(const std::string& kind) {
    site& s = make_site(kind);
    s.in = through(s.after);
    flatten_fn fn = [cx = &cx_, sp = &s](std::vector<int> values) {
      return cx->flatten(*sp, std::move(values));
    };
    return frag<decltype(sluice::task(fn, sluice::branch))>{
        sluice::task(fn, sluice::branch, options(s)), s.in, s.after, s.text()};
  }

  auto source() {
    site& s = make_site("producer", false);
    s.in = through(s.after);
    source_fn fn = [cx = &cx_, sp = &s](int run, int count) { return produce(cx, sp, run, count); };
    return frag<decltype(sluice::task(fn, sluice::branch))>{
        sluice::task(fn, sluice::branch, options(s)), s.in, s.after, s.text()};
  }

  auto from_source(int count) {
    std::vector<int> values(static_cast<std::size_t>(count));
    std::iota(values.begin(), values.end(), 0);
    auto after = slot();
    return frag<decltype(sluice::from(values))>{sluice::from(values), through(after), after,
                                                "from(" + std::to_string(count) + " items)"};
  }

  auto task() {
    site& s = make_site("task");
    s.in = through(s.after);
    plain_fn fn = [cx = &cx_, sp = &s](int value) { return cx->call(*sp, value, nullptr); };
    return frag<decltype(sluice::task(fn))>{sluice::task(fn, options(s)), s.in, s.after, s.text()};
  }

  auto stop_task() {
    site& s = make_site("stop_task");
    s.in = through(s.after);
    stop_fn fn = [cx = &cx_, sp = &s](int value, std::stop_token stop) {
      return cx->call(*sp, value, &stop);
    };
    return frag<decltype(sluice::task(fn))>{sluice::task(fn, options(s)), s.in, s.after, s.text()};
  }

  auto branch_vec() {
    site& s = make_site("branch_vec");
    s.in = [sp = &s](int value) { return sp->children(value) * (*sp->after)(value); };
    vec_fn fn = [cx = &cx_, sp = &s](int value) { return cx->children(*sp, value); };
    sequence_known_ = false;
    return frag<decltype(sluice::task(fn, sluice::branch))>{
        sluice::task(fn, sluice::branch, options(s)), s.in, s.after, s.text()};
  }

  auto branch_gen() {
    site& s = make_site("branch_gen");
    s.in = [sp = &s](int value) { return sp->children(value) * (*sp->after)(value); };
    gen_fn fn = [cx = &cx_, sp = &s](int value) { return copies(cx, sp, value); };
    sequence_known_ = false;
    return frag<decltype(sluice::task(fn, sluice::branch))>{
        sluice::task(fn, sluice::branch, options(s)), s.in, s.after, s.text()};
  }

  // The producer of a nested pipeline: called with the outer item, emits copies of it.
  auto inner_source() {
    site& s = make_site("producer", false);
    s.in = [sp = &s](int value) { return sp->children(value) * (*sp->after)(value); };
    gen_fn fn = [cx = &cx_, sp = &s](int value) { return copies(cx, sp, value); };
    return frag<decltype(sluice::task(fn, sluice::branch))>{
        sluice::task(fn, sluice::branch, options(s)), s.in, s.after, s.text()};
  }

  // ---- shapes ----

  // batch(n, max_wait) | a branch task that passes each batch's items on.
  auto batch() {
    const auto draws = draw(3);
    const std::size_t n = 1 + draws[0] % 16;
    const std::chrono::milliseconds wait{std::array<int, 4>{0, 0, 1, 5}[draws[1] % 4]};
    sequence_known_ = false;
    auto f = flatten("flatten");
    auto pipe = sluice::batch(n, wait) | f.pipe;
    return frag<decltype(pipe)>{
        pipe, f.in, f.after,
        "batch(" + std::to_string(n) + ", " + std::to_string(wait.count()) + "ms) | " + f.text};
  }

  // A join | branch task whose workers pass their share of the upstream on.
  // A join's failure is no single item's: failure::sequence counts what its workers took.
  auto join_gen() {
    sequence_known_ = false;
    site& s = make_site("join_gen");
    s.in = through(s.after);
    join_gen_fn fn = [cx = &cx_, sp = &s](sluice::stream<int>& in) { return pass_on(cx, sp, in); };
    sequence_known_ = false;
    return frag<decltype(sluice::task(fn, sluice::join | sluice::branch))>{
        sluice::task(fn, sluice::join | sluice::branch, options(s)), s.in, s.after, s.text()};
  }

  // A join task whose workers each return the items they pulled, then a flatten.
  auto join_vec() {
    sequence_known_ = false;
    site& s = make_site("join_vec");
    join_vec_fn fn = [cx = &cx_, sp = &s](sluice::stream<int>& in) {
      std::vector<int> pulled;
      while (auto value = in.next()) {
        sp->work(*value);
        if (const auto v = cx->may_fail(*sp, *value)) cx->raise(*sp, {*value}, 0, v.late);
        pulled.push_back(*value);
      }
      return pulled;
    };
    sequence_known_ = false;
    auto f = flatten("flatten");
    s.after = f.after;
    s.in = f.in;
    auto pipe = sluice::task(fn, sluice::join, options(s)) | f.pipe;
    return frag<decltype(pipe)>{pipe, s.in, f.after, s.text() + " | " + f.text};
  }

  template <class A, class B>
  auto fan_out(frag<A> a, frag<B> b) {
    auto after = slot();
    *a.after = through(after);
    *b.after = through(after);
    multiplicity in = [ai = a.in, bi = b.in](int value) { return ai(value) + bi(value); };
    auto pipe = sluice::fan_out(a.pipe, b.pipe);
    return frag<decltype(pipe)>{pipe, in, after, "fan_out(" + a.text + ", " + b.text + ")"};
  }

  // The selector is a site of its own: its faults throw, or return an index past the last.
  site& selector() {
    site& s = make_site("selector", false);
    s.on_error = policy::propagate;  // a selector's error always ends the run
    if (mode_ == mode::handled || !cx_.on().on("selector_faults")) s.fault_permille = 0;
    // ... and inside a nested branch task that handles errors it would drop an unknown number
    // of the inner run's outputs.
    if (inherit_ && inherited_ == policy::handle) s.fault_permille = 0;
    return s;
  }
  template <class A, class B>
  auto route(site& selector, frag<A> a, frag<B> b) {
    auto after = slot();
    *a.after = through(after);
    *b.after = through(after);
    selector.after = after;
    multiplicity in = [sp = &selector, ai = a.in, bi = b.in](int value) {
      return sp->branch_of(value, 2) == 0 ? ai(value) : bi(value);
    };
    selector.in = in;
    select_fn fn = [cx = &cx_, sp = &selector](const int& value) {
      return cx->select(*sp, value, 2);
    };
    auto pipe = sluice::route(fn, a.pipe, b.pipe);
    return frag<decltype(pipe)>{pipe, in, after,
                                "route(" + selector.text() + ", " + a.text + ", " + b.text + ")"};
  }

  // zip's branches turn one item into one; faults in branch i hit only items with index % 2 == i,
  // so that no tuple has two failures (the ledger counts one dropped tuple per failure record).
  void zip_lane(int lane) {
    lane_ = lane;
    if (lane >= 0) sequence_known_ = false;
  }
  template <class A, class B>
  auto zip(frag<A> a, frag<B> b) {
    site& u = make_site("unzip");
    u.in = through(u.after);
    *a.after = u.in;
    *b.after = u.in;
    unzip_fn fn = [cx = &cx_, sp = &u](std::tuple<int, int> pair) {
      if (std::get<0>(pair) != std::get<1>(pair)) {
        cx->problem("[zip] " + sp->name +
                    " got a tuple of two different items: " + std::to_string(std::get<0>(pair)) +
                    " and " + std::to_string(std::get<1>(pair)));
      }
      return cx->call(*sp, std::get<0>(pair), nullptr);
    };
    auto pipe = sluice::zip(a.pipe, b.pipe) | sluice::task(fn, options(u));
    return frag<decltype(pipe)>{pipe, u.in, u.after,
                                "zip(" + a.text + ", " + b.text + ") | " + u.text()};
  }

  // A pipeline used as a task with sluice::branch: `make_inner(*this)` builds the inner
  // pipeline (a frag whose producer takes the item); its outputs flow on one by one.
  template <class MakeInner>
  auto nested_branch(MakeInner make_inner) {
    site& n = make_site("nested_branch");
    auto inner = build_inner(n, true, make_inner);
    *inner.after = through(n.after);
    auto pipe = sluice::task(inner.pipe, sluice::branch, options(n));
    return frag<decltype(pipe)>{pipe, n.in, n.after, n.text() + "[" + inner.text + "]"};
  }

  // A pipeline used as a task without sluice::branch: one std::vector of the inner run's
  // outputs per item, passed on item by item by a flatten task.
  template <class MakeInner>
  auto nested_collect(MakeInner make_inner) {
    site& n = make_site("nested");
    auto inner = build_inner(n, false, make_inner);
    auto f = flatten("flatten");
    *inner.after = f.in;  // each inner output is one item after the flatten
    n.after = f.after;
    auto pipe = sluice::task(inner.pipe, options(n)) | f.pipe;
    return frag<decltype(pipe)>{pipe, n.in, f.after, n.text() + "[" + inner.text + "] | " + f.text};
  }

  // ---- the whole pipeline ----

  template <class P>
  built finish(frag<P> f, bool line = false) {
    *f.after = [](int) { return 1; };
    built out;
    out.text = f.text;
    out.in = f.in;
    out.keeps_order = line && order_kept_;
    P pipe = f.pipe;
    out.open = [pipe](int run, int count) { return pipe(run, count); };
    out.for_each = [pipe](int run, int count, const std::function<void(int)>& fn) {
      (pipe > sluice::for_each(fn))(run, count);
    };
    // The sink on the stream itself: one runnable per shape (for_each) is enough to cover
    // `p > sink`, and each costs compile time.
    out.to_vector = [pipe](int run, int count) {
      sluice::stream<int> items = pipe(run, count);
      return sluice::to_vector()(items);
    };
    return out;
  }
  template <class P>
  built finish_from(frag<P> f, bool line = false) {
    *f.after = [](int) { return 1; };
    built out;
    out.text = f.text;
    out.in = f.in;
    out.from_source = true;
    out.keeps_order = line && order_kept_;
    P pipe = f.pipe;
    out.open = [pipe](int, int) { return pipe(); };
    out.for_each = [pipe](int, int, const std::function<void(int)>& fn) {
      (pipe > sluice::for_each(fn))();
    };
    out.to_vector = [pipe](int, int) {
      sluice::stream<int> items = pipe();
      return sluice::to_vector()(items);
    };
    return out;
  }

  context& cx() { return cx_; }

 private:
  std::vector<std::uint64_t> draw(int n) {
    std::vector<std::uint64_t> out;
    for (int i = 0; i < n; ++i) out.push_back(rng_());
    return out;
  }

  // Every site draws the same number of values whatever the switches say, so that a seed run
  // with a behaviour switched off is the same scenario without that behaviour.
  site& make_site(const std::string& kind, bool concurrent = true) {
    const auto d = draw(10);
    const bool nested = parent_ >= 0;
    site s;
    s.kind = kind;
    s.parent = parent_;
    s.zip_lane = lane_;
    s.salt = d[9];
    // concurrency: mostly 1 or 2..8; one site per pipeline may have 32 or 100
    const int c = static_cast<int>(d[0] % 100);
    if (!concurrent || kind == "producer") {
      s.concurrency = 1;
    } else if (c < 50) {
      s.concurrency = 1;
    } else if (c < 92 || nested || kind == "join_gen" || kind == "join_vec" ||
               kind.rfind("nested", 0) == 0 || !cx_.on().on("high_concurrency") || high_used_) {
      s.concurrency = 2 + d[1] % (nested ? 2 : 7);
      if (kind.rfind("join", 0) == 0 || kind.rfind("nested", 0) == 0) {
        s.concurrency = std::min<std::size_t>(s.concurrency, 4);
      }
    } else {
      high_used_ = true;
      s.concurrency = d[1] % 2 == 0 ? 32 : 100;
    }
    const int cap = static_cast<int>(d[2] % 100);
    s.capacity = cap < 25 ? 0 : cap < 60 ? 1 + d[3] % 4 : 1 + d[3] % 64;
    s.ordered = d[4] % 100 < 30;
    // on_error
    const int p = static_cast<int>(d[5] % 100);
    if (inherit_) {
      s.on_error = inherited_;
    } else if (mode_ == mode::handled) {
      s.on_error = policy::handle;
    } else if (mode_ == mode::propagate) {
      s.on_error = policy::propagate;
    } else {
      s.on_error = p < 50 ? policy::handle : p < 80 ? policy::propagate : policy::rethrow;
      if (s.on_error == policy::rethrow && !cx_.on().on("rethrow")) s.on_error = policy::handle;
    }
    // faults: fewer where a fault ends the run (it cuts the rest of the run short)
    const bool ends_run = s.on_error != policy::handle;
    const int f = static_cast<int>(d[6] % 6);
    static constexpr int handled_rates[] = {0, 0, 5, 20, 60, 150};
    static constexpr int fatal_rates[] = {0, 0, 0, 1, 3, 10};
    s.fault_permille = ends_run ? fatal_rates[f] : handled_rates[f];
    if (kind == "producer" && parent_ < 0) s.fault_permille = fatal_rates[f] / 2 + (f == 5);
    if (kind == "selector") {
      s.fault_permille = fatal_rates[f];
      s.out_of_range = d[8] % 2 == 0;
    }
    if (!cx_.on().on("faults")) s.fault_permille = 0;
    if (kind == "producer" && !cx_.on().on("producer_faults")) s.fault_permille = 0;
    // A join worker that fails drops the rest of its share of the upstream: not countable.
    if (kind.rfind("join", 0) == 0 && !ends_run) s.fault_permille = 0;
    static constexpr int sleep_rates[] = {0, 0, 0, 10, 50};
    s.sleep_permille = sleep_rates[(d[7] >> 8) % 5];
    static constexpr int block_rates[] = {0, 5, 20};
    if (kind == "stop_task" && extras_.blockers && (!nested || cx_.on().on("nested_block"))) {
      s.block_permille = block_rates[(d[7] >> 16) % 3];
      if (extras_.hold) s.block_permille = std::max(s.block_permille, 5);
    }
    if (kind == "task" && extras_.slow) s.slow_permille = 10 + static_cast<int>((d[7] >> 24) % 21);
    if (kind == "task" && extras_.rate && (d[7] >> 32) % 4 == 0) {
      s.rate = (d[7] >> 40) % 2 == 0 ? 20'000 : 50'000;
    }
    s.max_children = 1 + static_cast<int>((d[8] >> 8) % 3);
    s.sequence_is_index = sequence_known_ && parent_ < 0;
    if (s.concurrency > 1 && !s.ordered) order_kept_ = false;
    site& added = cx_.add_site(std::move(s));
    added.after = slot();
    return added;
  }

  sluice::task_options options(const site& s) {
    sluice::task_options o{
        .name = s.name, .concurrency = s.concurrency, .capacity = s.capacity, .ordered = s.ordered};
    if (s.rate != 0) o.rate = sluice::rate_limit{.per_second = s.rate, .burst = 16};
    if (s.on_error != policy::propagate) {
      o.on_error = [cx = &cx_, sp = &s](const sluice::failure& f) { cx->failed(*sp, f); };
    }
    return o;
  }

  template <class MakeInner>
  auto build_inner(site& n, bool branch, MakeInner make_inner) {
    n.fault_permille = 0;  // a pipeline is not ours to break: its inner sites fail instead
    sequence_known_ = false;
    const int outer_parent = parent_;
    const bool outer_inherit = inherit_;
    const policy outer_inherited = inherited_;
    parent_ = n.id;
    // Every inner site has one policy, so that a dropped output is counted once: either the
    // nested task's (an inner failure is handled inside, or goes on out of the nested task), or,
    // for a nested task without branch, none at all (every inner failure ends the inner run and
    // reaches the nested task's handler, which drops the item's whole inner run). Not so for a
    // nested branch task: an inner run that fails halfway through its iteration has passed an
    // unknown number of outputs on.
    const bool inner_propagates = rng_() % 3 == 0;
    inherit_ = true;
    inherited_ = !branch && !outer_inherit && inner_propagates ? policy::propagate : n.on_error;
    auto inner = make_inner(*this);
    parent_ = outer_parent;
    inherit_ = outer_inherit;
    inherited_ = outer_inherited;
    n.in = inner.in;
    return inner;
  }

  context& cx_;
  std::mt19937_64& rng_;
  mode mode_;
  extras extras_;
  int parent_ = -1;
  bool inherit_ = false;
  policy inherited_ = policy::propagate;
  int lane_ = -1;
  bool high_used_ = false;
  bool sequence_known_ = true;
  bool order_kept_ = true;
};

// ---- the menu of shapes ----------------------------------------------------------------------

// Inner pipelines for nested tasks; each producer takes the outer item.
inline auto inner_line(builder& b) {
  auto p = b.inner_source();
  auto t = b.stop_task();
  return then(p, t);
}
inline auto inner_fan(builder& b) {
  auto p = b.inner_source();
  auto x = b.task();
  auto y = b.task();
  auto f = b.fan_out(x, y);
  return then(p, f);
}
inline auto inner_deep(builder& b) {  // a nested pipeline inside a nested pipeline
  auto p = b.inner_source();
  auto n = b.nested_branch([](builder& inner) { return inner_line(inner); });
  return then(p, n);
}

struct shape {
  const char* name;
  std::vector<std::string> needs;  // switches that must be on
  built (*make)(builder&, int count);
};

// Each entry is one pipeline type. Only one builder call per statement: the order of the calls
// fixes the order of the random draws, so that a seed replays the same pipeline.
inline const std::vector<shape>& shapes() {
  static const std::vector<shape> all{
      {"line1", {}, [](builder& b, int) { return b.finish(b.source(), true); }},
      {"line2",
       {},
       [](builder& b, int) {
         auto p = b.source();
         auto t = b.stop_task();
         return b.finish(then(p, t), true);
       }},
      {"line5",
       {},
       [](builder& b, int) {
         auto p = b.source();
         auto t1 = b.task();
         auto t2 = b.stop_task();
         auto t3 = b.task();
         auto t4 = b.stop_task();
         return b.finish(then(p, t1, t2, t3, t4), true);
       }},
      {"branches",
       {},
       [](builder& b, int) {
         auto p = b.source();
         auto v = b.branch_vec();
         auto t = b.stop_task();
         auto g = b.branch_gen();
         return b.finish(then(p, v, t, g), true);
       }},
      {"from",
       {"from"},
       [](builder& b, int count) {
         auto p = b.from_source(count);
         auto t = b.task();
         auto g = b.branch_gen();
         return b.finish_from(then(p, t, g), true);
       }},
      {"fan_out",
       {"fan_out"},
       [](builder& b, int) {
         auto p = b.source();
         auto x = b.task();
         auto y = b.stop_task();
         auto f = b.fan_out(x, y);
         auto t = b.task();
         return b.finish(then(p, f, t));
       }},
      {"route",
       {"route"},
       [](builder& b, int) {
         auto p = b.source();
         site& selector = b.selector();
         auto x = b.stop_task();
         auto y1 = b.task();
         auto y2 = b.branch_vec();
         auto r = b.route(selector, x, then(y1, y2));
         auto t = b.stop_task();
         return b.finish(then(p, r, t));
       }},
      {"zip",
       {"zip"},
       [](builder& b, int) {
         auto p = b.source();
         b.zip_lane(0);
         auto x = b.task();
         b.zip_lane(1);
         auto y = b.stop_task();
         b.zip_lane(-1);
         auto z = b.zip(x, y);
         auto t = b.task();
         return b.finish(then(p, z, t));
       }},
      {"batch",
       {"batch"},
       [](builder& b, int) {
         auto p = b.source();
         auto x = b.batch();
         auto t = b.stop_task();
         return b.finish(then(p, x, t));
       }},
      {"join",
       {"join"},
       [](builder& b, int) {
         auto p = b.source();
         auto t = b.task();
         auto j = b.join_gen();
         auto u = b.stop_task();
         return b.finish(then(p, t, j, u));
       }},
      {"join_vec",
       {"join"},
       [](builder& b, int) {
         auto p = b.source();
         auto j = b.join_vec();
         auto t = b.task();
         return b.finish(then(p, j, t));
       }},
      {"nested",
       {"nested"},
       [](builder& b, int) {
         auto p = b.source();
         auto n = b.nested_collect([](builder& inner) { return inner_line(inner); });
         auto t = b.stop_task();
         return b.finish(then(p, n, t));
       }},
      {"nested_branch",
       {"nested", "nested_branch"},
       [](builder& b, int) {
         auto p = b.source();
         auto n = b.nested_branch([](builder& inner) { return inner_line(inner); });
         auto t = b.task();
         return b.finish(then(p, n, t));
       }},
      {"nested_deep",
       {"nested", "nested_branch"},
       [](builder& b, int) {
         auto p = b.source();
         auto t = b.stop_task();
         auto n = b.nested_branch([](builder& inner) { return inner_deep(inner); });
         return b.finish(then(p, t, n));
       }},
      {"kitchen_sink",
       {"nested", "nested_branch", "fan_out", "route", "batch"},
       [](builder& b, int) {
         auto p = b.source();
         auto x = b.task();
         auto n = b.nested_branch([](builder& inner) { return inner_fan(inner); });
         auto f = b.fan_out(x, n);
         site& selector = b.selector();
         auto y = b.stop_task();
         auto z = b.task();
         auto r = b.route(selector, y, z);
         auto c = b.batch();
         return b.finish(then(p, f, r, c));
       }},
      {"from_zip_nested",
       {"from", "zip", "nested"},
       [](builder& b, int count) {
         auto p = b.from_source(count);
         b.zip_lane(0);
         auto x = b.stop_task();
         b.zip_lane(1);
         auto y = b.task();
         b.zip_lane(-1);
         auto z = b.zip(x, y);
         auto n = b.nested_collect([](builder& inner) { return inner_line(inner); });
         return b.finish_from(then(p, z, n));
       }},
  };
  return all;
}

}  // namespace sluice_test::chaos
