// This header defines the stages that make a pipeline a DAG: fan_out, route, zip and batch, and
// in_order, which restores after fan_out, route or zip the order their inputs came in.
// Each pipes with `|` like a task; branches are pipelines whose first task takes the item.
//
// Example:
//   auto p = sluice::task(read_rows, sluice::branch)
//          | sluice::fan_out(sluice::task(to_json), sluice::task(to_csv))   // every item to each
//          | sluice::route([](const Row& r) { return r.ok ? 0 : 1; },        // each item to one
//                          sluice::task(load), sluice::task(quarantine))
//          | sluice::batch(500, 200ms)                                       // vectors of <= 500
//          > sluice::for_each(bulk_insert);
//
// fan_out and route merge their branches' outputs into one stream: of the branches' type when
// they all have the same one, otherwise of std::variant of the distinct types in branch order.
// The merged stream has no order between branches. zip emits one std::tuple per input item,
// in the order the tuples complete; its branches must turn one item into exactly one item.
// `shape | sluice::in_order()` emits in the order the shape took its inputs (see in_order).
// Every shape keeps the pipeline's guarantees: bounded queues, the first error stops the run,
// cancellation reaches every branch. Task positions count depth-first through the branches.
// Statistics: batch takes a position of its own (batch#N); the other shapes take none, so adding
// one renumbers no task. Each has a row in stream::stats() named after the position it stands at,
// which it shares with the next stage: a fan_out, route or zip the position of the first task of
// its first branch (route#2), an in_order the position of the stage after it (in_order#5); a
// second shape of one kind at one position is "<kind>#N.2". Errors name shapes the same way.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/detail/engine/chain.hpp>
#include <sluice/detail/engine/diagnostics.hpp>
#include <sluice/detail/engine/shape_runtime.hpp>
#include <sluice/pipeline.hpp>
#include <sluice/task.hpp>

namespace sluice {
namespace detail {

// The position offset of branch I among Branches (sum of the positions before it).
template <std::size_t I, class... Branches>
constexpr std::size_t branch_offset() {
  constexpr std::size_t sizes[] = {Branches::positions...};
  std::size_t offset = 0;
  for (std::size_t i = 0; i < I; ++i) offset += sizes[i];
  return offset;
}

template <class In, std::size_t Pos, std::size_t I, class... Branches>
using branch_out_t = typename tuple_chain_typing<
    In, Pos + branch_offset<I, Branches...>(),
    typename std::tuple_element_t<I, std::tuple<Branches...>>::stages_type>::type;

// Whether every stage of a branch turns one item into exactly one item.
template <class Tuple>
struct all_one_to_one;
template <class... S>
struct all_one_to_one<std::tuple<S...>> {
  static constexpr bool value = (S::one_to_one && ...);
};

// Shared by fan_out, route and zip: the branches, their positions and capacity.
template <class... Branches>
struct branching {
  std::tuple<Branches...> branches;

  // Whether an in_order after the shape can tell when an input is done: every branch turns one
  // item into exactly one (chain.hpp checks it where an in_order follows).
  static constexpr bool order_restorable = (all_one_to_one<typename Branches::stages_type>::value &&
                                            ...);

  static constexpr std::size_t positions = (std::size_t{0} + ... + Branches::positions);
  static constexpr bool can_produce = false;

  // What fan_out and route emit for input In: merged_t of the branches' outputs, as a trait
  // whose `::type` is only formed where it is used.
  template <class In, std::size_t Pos, class Indices = std::index_sequence_for<Branches...>>
  struct merged_out;
  template <class In, std::size_t Pos, std::size_t... I>
  struct merged_out<In, Pos, std::index_sequence<I...>> {
    using type = merged_t<branch_out_t<In, Pos, I, Branches...>...>;
  };

  std::size_t out_capacity() const {
    return std::apply([](const auto&... b) { return std::max({last_capacity(b.stages())...}); },
                      branches);
  }

  // Checks every branch fed with In, building nothing (chain.hpp, validate_chain).
  template <class In, std::size_t Pos>
  void validate() const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (validate_chain<0, Pos + branch_offset<I, Branches...>(), In>(std::get<I>(branches).stages()),
       ...);
    }
    (std::index_sequence_for<Branches...>{});
  }

  // Builds branch I fed with In, ending in `end`; returns its entry port.
  template <std::size_t I, class In, std::size_t Pos, class Out>
  port<In>& build_branch(build_ctx& ctx, std::size_t in_capacity, port<Out>& end) const {
    return build_chain<0, Pos + branch_offset<I, Branches...>(), In>(std::get<I>(branches).stages(),
                                                                     ctx, in_capacity, end);
  }

  // Builds every branch of a fan_out or route into `out`, converting where types differ.
  // An in_order after the shape restores its order: the dispatcher hands out its keys, and the
  // branches leave a tombstone for an item they drop, so that the in_order knows it is done.
  template <class In, std::size_t Pos, class Merged, class Dispatcher>
  void build_merging(build_ctx& ctx, std::size_t in_capacity, port<Merged>& out,
                     Dispatcher& dispatcher) const {
    build_ctx inner{ctx.run, ctx.in_zip, ctx.depth + 1};
    if (auto* gate = dynamic_cast<in_order_port<Merged>*>(&out)) {
      gate->attach(Dispatcher::keys_per_input);
      dispatcher.order = gate;
      inner.in_zip = true;
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((dispatcher.branches[I] =
            &build_into<I, In, Pos>(inner, in_capacity, out, dispatcher.passed())),
       ...);
    }
    (std::index_sequence_for<Branches...>{});
  }

  // Branch I ends in a merge_port that counts what it passes on into `out` in `passed`.
  template <std::size_t I, class In, std::size_t Pos, class Merged>
  port<In>& build_into(build_ctx& ctx, std::size_t in_capacity, port<Merged>& out,
                       producer_tally& passed) const {
    using Out = branch_out_t<In, Pos, I, Branches...>;
    auto& merge = ctx.run.template make<merge_port<Out, Merged>>(out, passed);
    return build_branch<I, In, Pos>(ctx, in_capacity, merge);
  }
};

template <class... Branches>
struct fan_out_stage : branching<Branches...> {
  static constexpr bool one_to_one = false;

  template <class In, std::size_t Pos>
  struct typing {
    static constexpr bool copyable =
        check_fan_out_copyable<(std::is_same_v<In, invalid> || std::is_copy_constructible_v<In>)>();
    using merged = typename branching<Branches...>::template merged_out<In, Pos>;
    using type = std::conditional_t<copyable && !std::is_same_v<In, invalid>, typename merged::type,
                                    invalid>;
  };

  template <class In, std::size_t Pos, class Out>
  port<In>& build(build_ctx& ctx, port<Out>& out, std::size_t in_capacity) const {
    auto& dispatcher =
        ctx.run.template make<fan_out_port<In, sizeof...(Branches)>>(ctx.run, Pos, ctx.depth);
    this->template build_merging<In, Pos>(ctx, in_capacity, out, dispatcher);
    return dispatcher;
  }
};

template <class Selector, class... Branches>
struct route_stage : branching<Branches...> {
  Selector selector;
  static constexpr bool one_to_one = false;

  template <class In, std::size_t Pos>
  struct typing {
    static constexpr bool upstream_ok = !std::is_same_v<In, invalid>;
    static constexpr bool selector_fits = [] {
      if constexpr (!upstream_ok) {
        return true;
      } else if constexpr (std::is_invocable_v<const Selector&, const In&>) {
        return std::is_integral_v<std::invoke_result_t<const Selector&, const In&>>;
      } else {
        return false;
      }
    }();
    static constexpr bool selects = check_route_selector<selector_fits>();
    using merged = typename branching<Branches...>::template merged_out<In, Pos>;
    using type = std::conditional_t<upstream_ok && selects, typename merged::type, invalid>;
  };

  template <class In, std::size_t Pos, class Out>
  port<In>& build(build_ctx& ctx, port<Out>& out, std::size_t in_capacity) const {
    auto& dispatcher = ctx.run.template make<route_port<In, Selector, sizeof...(Branches)>>(
        ctx.run, selector, Pos, ctx.depth);
    this->template build_merging<In, Pos>(ctx, in_capacity, out, dispatcher);
    return dispatcher;
  }
};

template <class... Branches>
struct zip_stage : branching<Branches...> {
  static constexpr bool one_to_one = true;
  static constexpr bool order_restorable = true;  // a zip emits one tuple (or tombstone) per input

  template <class In, std::size_t Pos>
  struct typing {
    static constexpr bool upstream_ok = !std::is_same_v<In, invalid>;
    static constexpr bool copyable =
        check_zip_copyable<(!upstream_ok || std::is_copy_constructible_v<In>)>();
    static constexpr bool single =
        check_zip_single<(all_one_to_one<typename Branches::stages_type>::value && ...)>();
    using parts = decltype([]<std::size_t... I>(std::index_sequence<I...>) {
      return std::type_identity<std::tuple<branch_out_t<In, Pos, I, Branches...>...>>{};
    }(std::index_sequence_for<Branches...>{}));
    static constexpr bool parts_ok = [] {
      if constexpr (!upstream_ok) {
        return false;
      } else {
        return []<std::size_t... I>(std::index_sequence<I...>) {
          return (!std::is_same_v<branch_out_t<In, Pos, I, Branches...>, invalid> && ...);
        }
        (std::index_sequence_for<Branches...>{});
      }
    }();
    using type = std::conditional_t<parts_ok && copyable && single, typename parts::type, invalid>;
  };

  template <class In, std::size_t Pos, class Out>
  port<In>& build(build_ctx& ctx, port<Out>& out, std::size_t in_capacity) const {
    return build_zip<In, Pos>(ctx, out, in_capacity, std::index_sequence_for<Branches...>{});
  }

 private:
  template <class In, std::size_t Pos, class... Outs, std::size_t... I>
  port<In>& build_zip(build_ctx& ctx, port<std::tuple<Outs...>>& out, std::size_t in_capacity,
                      std::index_sequence<I...>) const {
    using joiner_type = zip_joiner<Outs...>;
    auto* gate = dynamic_cast<in_order_port<std::tuple<Outs...>>*>(&out);
    if (gate != nullptr) gate->attach(1);
    auto& joiner = ctx.run.template make<joiner_type>(ctx.run, out, ctx.in_zip || gate != nullptr,
                                                      Pos, ctx.depth);
    auto& dispatcher = ctx.run.template make<zip_port<In, joiner_type, sizeof...(Branches)>>(
        joiner, Pos, ctx.depth);
    dispatcher.order = gate;
    build_ctx inner{ctx.run, true, ctx.depth + 1};
    ((dispatcher.branches[I] = &this->template build_branch<I, In, Pos>(
          inner, in_capacity,
          ctx.run.template make<typename joiner_type::template input<I>>(joiner))),
     ...);
    return dispatcher;
  }
};

struct batch_stage {
  std::size_t size;
  std::chrono::milliseconds max_wait;

  static constexpr std::size_t positions = 1;
  static constexpr bool can_produce = false;
  static constexpr bool one_to_one = false;

  template <class In, std::size_t Pos>
  struct typing {
    using type = std::conditional_t<std::is_same_v<In, invalid>, invalid, std::vector<In>>;
  };

  std::size_t out_capacity() const noexcept {
    return std::max<std::size_t>(2, default_capacity / std::max<std::size_t>(size, 1));
  }

  template <class In, std::size_t Pos>
  void validate() const {
    if (size == 0) {
      throw std::invalid_argument("sluice: batch#" + std::to_string(Pos) +
                                  " has size 0; a batch holds at least 1 item");
    }
    if (max_wait.count() < 0) {
      throw std::invalid_argument("sluice: batch#" + std::to_string(Pos) +
                                  " has a negative max_wait");
    }
  }

  template <class In, std::size_t Pos, class Out>
  port<In>& build(build_ctx& ctx, port<Out>& out, std::size_t in_capacity) const {
    validate<In, Pos>();
    return ctx.run.template make<batch_runtime<In>>(ctx.run, Pos, size, max_wait, in_capacity, out)
        .input();
  }
};

// sluice::in_order(): a port between a shape and what follows it (positions: none, so adding it
// renumbers no task). Named after the position it stands at, the next stage's: "in_order#5".
struct in_order_stage {
  std::size_t window;

  static constexpr std::size_t positions = 0;
  static constexpr bool can_produce = false;
  static constexpr bool one_to_one = true;
  static constexpr bool restores_order = true;  // chain.hpp checks what it follows

  template <class In, std::size_t Pos>
  struct typing {
    using type = In;
  };

  std::size_t out_capacity() const noexcept { return resolved_capacity(window); }

  template <class In, std::size_t Pos>
  void validate() const {
    if (window > max_capacity) {
      throw std::invalid_argument("sluice: " + name(Pos) + " has window " +
                                  std::to_string(window) + ", more than sluice::max_capacity (" +
                                  std::to_string(max_capacity) + ")");
    }
  }

  template <class In, std::size_t Pos, class Out>
  port<In>& build(build_ctx& ctx, port<Out>& out, std::size_t in_capacity) const {
    validate<In, Pos>();
    return ctx.run.template make<in_order_port<In>>(ctx.run, out, window == 0 ? in_capacity : window,
                                                    ctx.in_zip, Pos, ctx.depth);
  }

  static std::string name(std::size_t pos) { return shape_name(stage_kind::in_order, pos); }
};

template <class Stage>
auto as_pipeline(Stage stage) {
  return pipeline<Stage>(std::tuple<Stage>(std::move(stage)));
}

}  // namespace detail

// Every item goes to every branch (each gets a copy); the outputs merge into one stream.
template <class... Branches>
requires(sizeof...(Branches) > 0 &&
         (detail::is_pipeline_v<Branches> && ...)) auto fan_out(Branches... branches) {
  return detail::as_pipeline(detail::fan_out_stage<Branches...>{{{std::move(branches)...}}});
}

// Each item goes to the branch whose index selector(item) returns; an index out of range
// stops the run with std::out_of_range naming the route. The outputs merge into one stream.
template <class Selector, class... Branches>
requires(sizeof...(Branches) > 0 && (detail::is_pipeline_v<Branches> &&
                                     ...)) auto route(Selector selector, Branches... branches) {
  return detail::as_pipeline(
      detail::route_stage<Selector, Branches...>{{{std::move(branches)...}}, std::move(selector)});
}

// Every item goes to every branch; their results for one item leave as one std::tuple.
// An item an on_error handler drops inside a branch drops the whole tuple.
template <class... Branches>
requires(sizeof...(Branches) > 0 &&
         (detail::is_pipeline_v<Branches> && ...)) auto zip(Branches... branches) {
  return detail::as_pipeline(detail::zip_stage<Branches...>{{{std::move(branches)...}}});
}

// The options of sluice::in_order.
struct in_order_options {
  // Outputs that may wait for an earlier input to finish, counted in outputs (a fan_out of n
  // branches has n per input; a window below n is taken as n). 0: the capacity of the queue the
  // shape's branches would feed without in_order (the largest capacity of their last tasks).
  // Also the capacity of the queue after in_order (0: sluice::default_capacity).
  std::size_t window = 0;
};

// Placed right after fan_out, route or zip: emits their outputs in the order the shape took its
// inputs. That is the producer's order when every stage before the shape keeps it (the
// producer, tasks with concurrency 1 or `.ordered = true`, batch).
//   route:   one output per input, in input order;
//   fan_out: the outputs of one input in branch order, input after input: (input, branch);
//   zip:     one tuple per input, in input order (without in_order: as tuples complete).
// An item a branch drops (an on_error handler) is skipped without waiting for it.
//
// Example:
//   auto p = sluice::task(read_rows, sluice::branch)
//          | sluice::route(by_kind, sluice::task(fast), sluice::task(slow, {.concurrency = 8}))
//          | sluice::in_order()
//          > sluice::for_each(write_row);   // rows in the order read_rows produced them
// Memory: at most `window` outputs wait for an earlier one. When they would be more, the shape
//   takes no further input until the earliest is done, and its upstream blocks (backpressure).
// Misuse: in_order anywhere but right after fan_out, route or zip, or after a fan_out or route
//   with a branch that is not one item in, one item out (a branch or join task, batch, a nested
//   fan_out or route), fails to compile with a sentence naming it. A window above
//   sluice::max_capacity is rejected with std::invalid_argument when the pipeline runs.
// Cancellation: a stop or an error ends every wait; what waits in the window is dropped.
inline auto in_order(in_order_options options = {}) {
  return detail::as_pipeline(detail::in_order_stage{options.window});
}

// Groups items into std::vector of at most n. A partial batch leaves when max_wait has passed
// since its first item (0: only when full, or at the end of the stream). n == 0 or a negative
// max_wait is rejected with std::invalid_argument naming the batch when the pipeline runs.
// Any n works: a batch's vector grows as items come (batch(SIZE_MAX) is one batch of everything,
// at the end), and a max_wait beyond what the clock can count, such as
// std::chrono::milliseconds::max(), means no deadline.
inline auto batch(std::size_t n,
                  std::chrono::milliseconds max_wait = std::chrono::milliseconds{0}) {
  return detail::as_pipeline(detail::batch_stage{n, max_wait});
}

}  // namespace sluice
