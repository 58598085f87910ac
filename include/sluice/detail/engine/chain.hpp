// Internal: typing a chain of stages front to back, and building its runtime back to front.
//
// Every stage type S provides:
//   S::positions                       how many task positions it uses (a task: 1)
//   S::typing<In, Pos>::type           its output type for input In at position Pos, after
//                                      static_asserts that name the position; `invalid` when
//                                      an earlier check already failed
//   S::out_capacity()                  the bound of the queue after it
//   S::build<In, Pos>(ctx, out, cap)   creates its runtime pushing into `out`; returns the port
//                                      its upstream pushes into, a queue of capacity `cap`
//   S::validate<In, Pos>()             throws std::invalid_argument, as build would, when an
//                                      option is out of range; builds nothing
#pragma once

#include <cstddef>
#include <memory>
#include <tuple>
#include <type_traits>

#include <sluice/detail/engine/channel.hpp>
#include <sluice/detail/engine/diagnostics.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/engine/run.hpp>

namespace sluice::detail {

struct build_ctx {
  run_state& run;
  // Building a zip branch, or a branch of a shape an in_order follows: dropped items leave
  // tombstones.
  bool in_zip = false;
  // How many shapes' branches are being built around this stage (a shape's stats row).
  std::size_t depth = 0;
};

// Where an in_order may stand: right after a fan_out, route or zip (a stage with
// `order_restorable`) whose branches each turn one item into one. Checked for the stage after
// S (the first of Rest), which would be at position Next; fails to compile with a sentence.
template <class S>
constexpr bool restores_order() {
  return requires { S::restores_order; };
}
template <std::size_t Next, class S, class... Rest>
constexpr bool in_order_placed() {
  if constexpr (sizeof...(Rest) == 0) {
    return true;
  } else if constexpr (!restores_order<std::tuple_element_t<0, std::tuple<Rest...>>>()) {
    return true;
  } else if constexpr (!requires { S::order_restorable; }) {
    return check_in_order_follows_shape<Next - 1, false>();
  } else {
    return check_in_order_single<Next - 1, S::order_restorable>();
  }
}
// The same for the first stage of a branch at position Pos: an in_order cannot start a branch,
// as nothing before it in the branch numbered its inputs.
template <std::size_t Pos, class First>
constexpr bool in_order_starts_branch() {
  if constexpr (restores_order<First>()) {
    return check_in_order_follows_shape<Pos - 1, false>();
  } else {
    return true;
  }
}

template <class In, std::size_t Pos, class... Stages>
struct chain_typing {
  using type = In;
};
template <class In, std::size_t Pos, class S, class... Rest>
struct chain_typing<In, Pos, S, Rest...> {
  static constexpr bool placed = in_order_placed<Pos + S::positions, S, Rest...>();
  using type =
      typename chain_typing<std::conditional_t<placed, typename S::template typing<In, Pos>::type,
                                               invalid>,
                            Pos + S::positions, Rest...>::type;
};

// chain_typing of every stage but the first (the producer, typed on its own).
template <class In, std::size_t Pos, class First, class... Rest>
struct chain_after_first {
  static constexpr bool placed = in_order_placed<Pos, First, Rest...>();
  using type = std::conditional_t<placed, typename chain_typing<In, Pos, Rest...>::type, invalid>;
};

// The output type of a pipeline's stages (a std::tuple) used as a branch fed with In.
template <class In, std::size_t Pos, class Tuple>
struct tuple_chain_typing;
template <class In, std::size_t Pos, class First, class... S>
struct tuple_chain_typing<In, Pos, std::tuple<First, S...>> {
  static constexpr bool placed = in_order_starts_branch<Pos, First>();
  using type = std::conditional_t<placed, typename chain_typing<In, Pos, First, S...>::type,
                                  invalid>;
};

// Builds stages I.. of `stages`, the first of them at position Pos fed with In, ending in
// `last`. Returns the port the stage before I pushes into.
template <std::size_t I, std::size_t Pos, class In, class Tuple, class Final>
port<In>& build_chain(const Tuple& stages, build_ctx& ctx, std::size_t in_capacity,
                      port<Final>& last) {
  if constexpr (I == std::tuple_size_v<Tuple>) {
    static_assert(std::is_same_v<In, Final>);
    (void)stages;
    (void)ctx;
    (void)in_capacity;
    return last;
  } else {
    using S = std::tuple_element_t<I, Tuple>;
    using Out = typename S::template typing<In, Pos>::type;
    const S& stage = std::get<I>(stages);
    port<Out>& next =
        build_chain<I + 1, Pos + S::positions, Out>(stages, ctx, stage.out_capacity(), last);
    return stage.template build<In, Pos>(ctx, next, in_capacity);
  }
}

// Checks the options of stages I.. of `stages`, the first of them at position Pos fed with In,
// as build_chain would, building nothing. For the stages of a pipeline nested in a task: its
// runs are built per item, and a bad option must show when the outer run is built.
template <std::size_t I, std::size_t Pos, class In, class Tuple>
void validate_chain(const Tuple& stages) {
  if constexpr (I < std::tuple_size_v<Tuple> && !std::is_same_v<In, invalid>) {
    using S = std::tuple_element_t<I, Tuple>;
    std::get<I>(stages).template validate<In, Pos>();
    validate_chain<I + 1, Pos + S::positions, typename S::template typing<In, Pos>::type>(stages);
  }
}

// The capacity of the queue after the last stage of `stages`.
template <class Tuple>
std::size_t last_capacity(const Tuple& stages) {
  return std::get<std::tuple_size_v<Tuple> - 1>(stages).out_capacity();
}

// A run that keeps the pipeline's stages (and so their callables) alive while it executes.
template <class Tuple>
class run_holder final : public run_state {
 public:
  explicit run_holder(std::shared_ptr<const Tuple> stages) : stages_(std::move(stages)) {}
  ~run_holder() { shutdown(); }

 private:
  std::shared_ptr<const Tuple> stages_;
};

}  // namespace sluice::detail
