// This header defines one small pipeline per shape (fan_out, route, zip, batch, join | branch,
// join, branch, nested, ordered), each built around a caller-supplied `stage` (an int -> int
// callable), so that one TEST_CASE_TEMPLATE can check a guarantee for every shape:
//
//   auto run = Shape::make(stage);                       // a pipeline
//   sluice::stream<...> items = run(limit, &produced);   // producer: counted_numbers
//
// The producer is `counted_numbers`, so `produced` tells how far the run got; `stage` is called
// at least once for item 5 in every shape (tests throw there).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "fixtures.hpp"

namespace sluice_test {

struct fan_out_case {
  template <class Stage>
  static auto make(Stage stage) {
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::fan_out(sluice::task(stage, {.concurrency = 2}), sluice::task(stage));
  }
};

struct route_case {
  template <class Stage>
  static auto make(Stage stage) {
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::route([](int x) { return x % 2; }, sluice::task(stage, {.concurrency = 2}),
                         sluice::task(stage));
  }
};

struct zip_case {
  template <class Stage>
  static auto make(Stage stage) {
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::zip(sluice::task(stage, {.concurrency = 2}), sluice::task(stage));
  }
};

struct batch_case {
  template <class Stage>
  static auto make(Stage stage) {
    using namespace std::chrono_literals;
    auto each = [stage](std::vector<int> items) {
      for (int& x : items) x = stage(x);
      return items;
    };
    return sluice::task(counted_numbers, sluice::branch) | sluice::batch(4, 5ms) |
           sluice::task(each, {.concurrency = 2});
  }
};

template <class Stage>
sluice::generator<int> apply_each(sluice::stream<int>& in, Stage stage) {
  for (int x : in) co_yield stage(x);
}

// join | branch: the workers share the upstream and yield as they go.
struct join_case {
  template <class Stage>
  static auto make(Stage stage) {
    auto each = [stage](sluice::stream<int>& in) { return apply_each(in, stage); };
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::task(each, sluice::join | sluice::branch, {.concurrency = 2});
  }
};

// A plain join: each worker returns one total once the upstream has ended, so this shape
// emits nothing while the producer runs (not in SLUICE_TEST_SHAPES for that reason).
struct join_total_case {
  template <class Stage>
  static auto make(Stage stage) {
    auto total = [stage](sluice::stream<int>& in) {
      std::int64_t sum = 0;
      for (int x : in) sum += stage(x);
      return sum;
    };
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::task(total, sluice::join, {.concurrency = 2});
  }
};

struct branch_case {
  template <class Stage>
  static auto make(Stage stage) {
    auto pair = [stage](int x) { return std::vector<int>{stage(x), x}; };
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::task(pair, sluice::branch, {.concurrency = 2});
  }
};

struct nested_case {
  template <class Stage>
  static auto make(Stage stage) {
    auto inner = sluice::task(
                     [](int x) {
                       return std::vector<int>{x, x};
                     },
                     sluice::branch) |
                 sluice::task(stage);
    return sluice::task(counted_numbers, sluice::branch) | sluice::task(inner, {.concurrency = 2});
  }
};

struct ordered_case {
  template <class Stage>
  static auto make(Stage stage) {
    return sluice::task(counted_numbers, sluice::branch) |
           sluice::task(stage, {.concurrency = 4, .ordered = true});
  }
};

}  // namespace sluice_test

TYPE_TO_STRING(sluice_test::fan_out_case);
TYPE_TO_STRING(sluice_test::route_case);
TYPE_TO_STRING(sluice_test::zip_case);
TYPE_TO_STRING(sluice_test::batch_case);
TYPE_TO_STRING(sluice_test::join_case);
TYPE_TO_STRING(sluice_test::join_total_case);
TYPE_TO_STRING(sluice_test::branch_case);
TYPE_TO_STRING(sluice_test::nested_case);
TYPE_TO_STRING(sluice_test::ordered_case);

// The list for TEST_CASE_TEMPLATE(..., Shape, SLUICE_TEST_SHAPES): every shape that emits
// items while its producer is still running.
#define SLUICE_TEST_SHAPES                                                       \
  sluice_test::fan_out_case, sluice_test::route_case, sluice_test::zip_case,     \
      sluice_test::batch_case, sluice_test::join_case, sluice_test::branch_case, \
      sluice_test::nested_case, sluice_test::ordered_case
