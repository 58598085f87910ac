// Internal: the progress bar a stream owns (stream::show_progress) and what it counts: the
// outputs the stream hands out, or the items a task emitted (progress_options::count_task),
// sampled on each output and once more for the final frame.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include <sluice/progress.hpp>

namespace sluice::detail {

class stream_progress {
 public:
  // `counted`: the task's items_out, or nullptr to count outputs; it must outlive this.
  stream_progress(progress_options options, const std::atomic<std::uint64_t>* counted)
      : counted_(counted), bar_(std::move(options)) {}
  stream_progress(const stream_progress&) = delete;
  stream_progress& operator=(const stream_progress&) = delete;
  // The final frame, with the count as it stands now: exact once the run has ended.
  ~stream_progress() {
    sample();
    bar_.finish();
  }

  // One output was handed out.
  void advance() noexcept {
    if (counted_ != nullptr) {
      sample();
    } else {
      bar_.advance();
    }
  }

 private:
  void sample() noexcept {
    // Relaxed: a statistic; the run's end orders the final count before the stream sees it.
    if (counted_ != nullptr) bar_.advance_to(counted_->load(std::memory_order_relaxed));
  }

  const std::atomic<std::uint64_t>* counted_;
  progress_bar bar_;
};

}  // namespace sluice::detail
