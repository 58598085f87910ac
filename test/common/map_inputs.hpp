// This header defines the inputs and expected outputs that the tests of pmap, opmap and
// thread_pool share: the first n numbers in any container, their squares, and a wait for a
// stop request.
//
//   CHECK(sluice::pmap(square, first<std::list<int>>(100)) == squares(100));
#pragma once

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <vector>

#include "gate.hpp"

namespace sluice_test {

inline int square(int x) { return x * x; }

// 0, 1, ..., n - 1, in a container of the caller's choice (a vector, a list, ...).
template <class Container>
Container first(int n) {
  Container items;
  for (int i = 0; i < n; ++i) items.insert(items.end(), i);
  return items;
}

// 0, 1, 4, ..., (n - 1)²: square over first(n), in order.
inline std::vector<int> squares(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(i * i);
  return out;
}

// Waits until `stop` is requested, or `patience` passes; returns whether it was requested.
inline bool wait_for_stop(const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any woken;
  std::unique_lock lock(mu);
  woken.wait_for(lock, stop, patience, [] { return false; });
  return stop.stop_requested();
}

}  // namespace sluice_test
