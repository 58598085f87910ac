// This header defines how sluice reports a failed item: sluice::failure, the value handed to a
// task's on_error handler, and sluice::skip, a ready handler that drops failed items.
#pragma once

#include <any>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace sluice {

// One item that a task could not process.
//
// Example:
//   task(parse, {.on_error = [](const sluice::failure& f) { log(f.task, f.input_text); }})
// Lifetime: a failure owns everything it holds; handlers may copy it freely.
struct failure {
  std::string task{};          // the task's name ("task#3" unless named)
  std::uint64_t sequence = 0;  // the item's 0-based position in the producer's output
  std::exception_ptr error{};  // the last error
  std::vector<std::exception_ptr> attempts{};  // one per failed attempt, oldest first
  std::any input{};                            // a copy of the input when it is copyable
  std::string input_text{};                    // the input rendered with operator<< when it has one
};

// A ready on_error handler: the failed item is dropped and counted in task_stats::failed, and the
// run goes on.
//
// Example:
//   sluice::task(parse, {.on_error = sluice::skip})
// Thread safety: stateless; may be called from many workers at once.
struct skip_t {
  void operator()(const failure&) const noexcept {}
};
inline constexpr skip_t skip{};

}  // namespace sluice
