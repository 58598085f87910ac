// Producers for the drain tests (stream, shutdown, pmap and opmap tests): a generator that
// pauses at a chosen element until the test lets it go, and one that stops a stop_source at a
// chosen element.
#pragma once

#include <atomic>
#include <cstddef>
#include <numeric>
#include <stop_token>
#include <vector>

#include <sluice/generator.hpp>

#include "gate.hpp"

namespace sluice_test::drains {

inline constexpr int kInput = 100'000;

// 0, 1, ..., limit - 1, counting in `resumed` each time the generator runs on towards its next
// element; before it yields `pause_at` it arrives at `paused` and waits for `go`.
struct paused_run {
  std::atomic<int> resumed{0};
  gate paused{};
  gate go{};
};
inline sluice::generator<int> paused_numbers(int limit, int pause_at, paused_run* state) {
  for (int i = 0; i < limit; ++i) {
    state->resumed.fetch_add(1);
    if (i == pause_at) {
      state->paused.arrive();
      state->go.wait();
    }
    co_yield i;
  }
}

// 0, 1, ..., limit - 1; stops `source` just before it yields `at` (the producer, in the calling
// process, reads the input).
inline sluice::generator<int> stopping_at(int limit, int at, std::stop_source* source) {
  for (int i = 0; i < limit; ++i) {
    if (i == at) source->request_stop();
    co_yield i;
  }
}

inline std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace sluice_test::drains
