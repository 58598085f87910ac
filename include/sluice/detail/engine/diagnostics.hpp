// Internal: static_assert sentences that name the task's position. A static_assert message must
// be a string literal, so each check is spelled out for positions 1..32 (a longer pipeline gets
// the same sentence without the number).
#pragma once

#include <cstddef>

// Expands CHECK(n) for n = 1..32.
#define SLUICE_DETAIL_POSITIONS(CHECK)                                                          \
  CHECK(1)                                                                                      \
  CHECK(2) CHECK(3) CHECK(4) CHECK(5) CHECK(6) CHECK(7) CHECK(8) CHECK(9) CHECK(10) CHECK(11)   \
      CHECK(12) CHECK(13) CHECK(14) CHECK(15) CHECK(16) CHECK(17) CHECK(18) CHECK(19) CHECK(20) \
          CHECK(21) CHECK(22) CHECK(23) CHECK(24) CHECK(25) CHECK(26) CHECK(27) CHECK(28)       \
              CHECK(29) CHECK(30) CHECK(31) CHECK(32)

namespace sluice::detail {

// Each function returns Ok, and fails to compile with a sentence naming task #Pos when !Ok.
template <std::size_t Pos, bool Ok>
constexpr bool check_accepts_input() {
#define SLUICE_DETAIL_CHECK(n)                                                              \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                         \
                                " cannot take the output of the task "                      \
                                "before it; its callable must accept that type (by value, " \
                                "const& or &&) and be callable as const");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task after #32 cannot take the output of the task "
                "before it; its callable must accept that type");
  return Ok;
}

template <std::size_t Pos, bool Ok>
constexpr bool check_producer_args() {
#define SLUICE_DETAIL_CHECK(n)                                           \
  static_assert(Pos != n || Ok, "sluice: task #" #n                      \
                                " (the producer) cannot be called with " \
                                "the arguments given to the pipeline");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  return Ok;
}

template <std::size_t Pos, bool Ok>
constexpr bool check_branch_range() {
#define SLUICE_DETAIL_CHECK(n)                                                               \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                          \
                                " is marked sluice::branch but its "                         \
                                "callable does not return a range; return a std::vector, a " \
                                "sluice::generator or any std::ranges::input_range");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task after #32 is marked sluice::branch but its "
                "callable does not return a range");
  return Ok;
}

template <std::size_t Pos, bool Ok>
constexpr bool check_join_signature() {
#define SLUICE_DETAIL_CHECK(n)                                                              \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                         \
                                " is marked sluice::join but its "                          \
                                "callable does not take sluice::stream<In>& (In being the " \
                                "output of the task before it)");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task after #32 is marked sluice::join but its "
                "callable does not take sluice::stream<In>&");
  return Ok;
}

template <std::size_t Pos, bool Ok>
constexpr bool check_not_void() {
#define SLUICE_DETAIL_CHECK(n)                                                         \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                    \
                                " returns void; every task passes "                    \
                                "a value on (use a sink such as sluice::for_each for " \
                                "side effects at the end)");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok, "sluice: a task after #32 returns void");
  return Ok;
}

// A task marked sluice::process: its item and its result cross to and from a worker process as
// bytes, so both need a sluice::codec (T, in the template arguments the compiler prints with the
// error, is the type without one).
template <std::size_t Pos, class T, bool Ok>
constexpr bool check_process_input_codec() {
#define SLUICE_DETAIL_CHECK(n)                                                               \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                          \
                                " uses sluice::process, but its input type T has no "         \
                                "sluice::codec<T>, so it cannot be sent to a worker process " \
                                "(specialise sluice::codec<T>, see sluice/codec.hpp)");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task uses sluice::process, but its input type T has no "
                "sluice::codec<T> (see sluice/codec.hpp)");
  return Ok;
}

template <std::size_t Pos, class T, bool Ok>
constexpr bool check_process_result_codec() {
#define SLUICE_DETAIL_CHECK(n)                                                                 \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                            \
                                " uses sluice::process, but the type T its callable returns "  \
                                "has no sluice::codec<T>, so it cannot come back from a worker " \
                                "process (specialise sluice::codec<T>, see sluice/codec.hpp)");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a task uses sluice::process, but the type T its callable returns has "
                "no sluice::codec<T> (see sluice/codec.hpp)");
  return Ok;
}

// A producer is called once, and a join pulls a stream: neither is a call per item that a
// worker process could make.
template <std::size_t Pos, bool Ok>
constexpr bool check_process_per_item() {
#define SLUICE_DETAIL_CHECK(n)                                                                \
  static_assert(Pos != n || Ok, "sluice: task #" #n                                           \
                                " uses sluice::process, which runs one call per item in a "   \
                                "worker process; a producer (task #1) and a sluice::join task " \
                                "cannot (call the worker-process task from the next stage)");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: a producer or a sluice::join task cannot use sluice::process");
  return Ok;
}

// The shapes' sentences have no position. Like the ones above they are functions, not
// static_asserts in the shape's typing class: clang drops the members of a class whose
// static_assert fails, and the missing `type` would add errors after the sentence.
template <bool Ok>
constexpr bool check_fan_out_copyable() {
  static_assert(Ok,
                "sluice: fan_out copies every item to each branch, so its item type must be "
                "copyable");
  return Ok;
}

template <bool Ok>
constexpr bool check_route_selector() {
  static_assert(Ok,
                "sluice: route's selector must be callable with the item (as const In&) and "
                "return the index of a branch (an integer)");
  return Ok;
}

template <bool Ok>
constexpr bool check_zip_copyable() {
  static_assert(Ok,
                "sluice: zip copies every item to each branch, so its item type must be "
                "copyable");
  return Ok;
}

template <bool Ok>
constexpr bool check_zip_single() {
  static_assert(Ok,
                "sluice: every branch of zip must turn one item into exactly one item: use "
                "tasks without sluice::branch or sluice::join (and no fan_out, route or batch)");
  return Ok;
}

// Pos: the last task before the in_order (its name, "in_order after task#Pos").
template <std::size_t Pos, bool Ok>
constexpr bool check_in_order_follows_shape() {
#define SLUICE_DETAIL_CHECK(n)                                                               \
  static_assert(Pos != n || Ok, "sluice: the in_order after task #" #n                       \
                                " must directly follow a fan_out, route or zip: only they " \
                                "number their inputs, which is the order it restores");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: an in_order after task #32 must directly follow a fan_out, route or zip");
  return Ok;
}

template <std::size_t Pos, bool Ok>
constexpr bool check_in_order_single() {
#define SLUICE_DETAIL_CHECK(n)                                                                \
  static_assert(Pos != n || Ok, "sluice: the in_order after task #" #n                        \
                                " follows a fan_out or route with a branch that does not turn " \
                                "one item into exactly one (a sluice::branch or sluice::join "  \
                                "task, batch, fan_out or route), so it cannot tell when an "    \
                                "input is done");
  SLUICE_DETAIL_POSITIONS(SLUICE_DETAIL_CHECK)
#undef SLUICE_DETAIL_CHECK
  static_assert(Pos <= 32 || Ok,
                "sluice: an in_order after task #32 follows a fan_out or route with a branch that "
                "does not turn one item into exactly one");
  return Ok;
}

}  // namespace sluice::detail
