// This header defines `run_on_threads`, which runs a callable on N threads at once and
// rethrows the first exception (by thread index) on the calling thread.
//
//   sluice_test::run_on_threads(4, [&](std::size_t index) { results[index] = run(index); });
#pragma once

#include <cstddef>
#include <exception>
#include <latch>
#include <thread>
#include <vector>

namespace sluice_test {

template <class Fn>
void run_on_threads(std::size_t count, Fn fn) {
  std::vector<std::exception_ptr> errors(count);
  {
    // All threads start `fn` together, so that the calls really overlap.
    std::latch start{static_cast<std::ptrdiff_t>(count)};
    std::vector<std::jthread> threads;
    threads.reserve(count);
    for (std::size_t index = 0; index < count; ++index) {
      threads.emplace_back([&, index] {
        start.arrive_and_wait();
        try {
          fn(index);
        } catch (...) {
          errors[index] = std::current_exception();
        }
      });
    }
  }  // joins
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace sluice_test
