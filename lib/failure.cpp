// A failed call becomes an on_error call or the run's error.
#include <exception>
#include <utility>
#include <vector>

#include <sluice/detail/engine/stage.hpp>

namespace sluice::detail {

void report_failed_call(run_state& run, const task_config& config, stage_counters& counters,
                        std::uint64_t sequence, std::exception_ptr error, const void* input,
                        failure_input fill, std::vector<std::exception_ptr> attempts) {
  if (run.stopping()) return;
  counters.failed.fetch_add(1, std::memory_order_relaxed);
  if (run.has_event_hook()) {
    run.report({.kind = pipeline_event_kind::failed,
                .task = counters.name,
                .sequence = sequence,
                .error = error});
  }
  if (!config.on_error) {
    run.fail(std::move(error));
    return;
  }
  try {
    failure f;
    f.task = config.name;
    f.sequence = sequence;
    f.error = error;
    f.attempts = std::move(attempts);
    if (f.attempts.empty()) f.attempts.push_back(std::move(error));
    if (input != nullptr) fill(f, input);
    config.on_error(f);
  } catch (...) {
    run.fail(std::current_exception());
  }
}

}  // namespace sluice::detail
