// This header defines sluice::stream<T>, the outputs of one run of a pipeline, pulled lazily.
//
// Example:
//   sluice::stream<int> s = pipeline(20);
//   for (int x : s) use(x);               // or: while (auto x = s.next()) use(*x);
//
// A stream is move-only and a std::ranges::input_range. The run starts on the first pull.
// Exceptions: the first exception thrown anywhere in the run (producer, task, generator) is
//   rethrown from the pull that notices it, as the same object with its original type, after
//   every worker has stopped.
// Cancellation: cancel() (from any thread) or destroying an unfinished stream stops the run: no
//   new call starts, blocked workers wake, and the destructor returns once every worker has
//   returned. Calls already running are not interrupted, but a callable that takes a trailing
//   std::stop_token sees a stop request.
// Drain: drain() (from any thread) is the graceful stop: the producer starts no new item, every
//   item it already produced goes on through every stage and reaches the stream, then the
//   stream ends normally (next() returns std::nullopt, no exception).
// Thread safety: one thread pulls; stats(), cancel(), drain() and drained() may be called from
//   any thread.
// Progress: after show_progress(options), each output handed out advances a sluice::progress_bar
//   (sluice/progress.hpp) that the stream owns, or sets it to the items_out of the task named
//   options.count_task (rows rather than batches); its final frame is drawn when the stream ends
//   (exhausted, stopped by an error or cancel(), or destroyed). A stream without one pays a null
//   check per output.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <sluice/detail/engine/channel.hpp>
#include <sluice/detail/engine/run.hpp>
#include <sluice/detail/engine/stream_progress.hpp>
#include <sluice/pipeline_event.hpp>
#include <sluice/progress.hpp>
#include <sluice/stats.hpp>

namespace sluice {
namespace detail {
struct no_run_t {};
inline constexpr no_run_t no_run{};
}  // namespace detail

template <class T>
class [[nodiscard]] stream {
 public:
  using value_type = T;

  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    T& operator*() const { return *stream_->current_; }
    iterator& operator++() {
      stream_->current_ = stream_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return it.at_end();
    }

   private:
    friend class stream;
    explicit iterator(stream* s) : stream_(s) {}
    bool at_end() const noexcept { return stream_ == nullptr || !stream_->current_.has_value(); }
    stream* stream_ = nullptr;
  };

  stream(stream&& other) noexcept
      : run_(std::move(other.run_)),
        source_(std::exchange(other.source_, nullptr)),
        taken_(std::exchange(other.taken_, nullptr)),
        current_(std::move(other.current_)),
        buffer_(std::move(other.buffer_)),
        next_(std::exchange(other.next_, 0)),
        held_(std::exchange(other.held_, 0)),
        finished_(std::exchange(other.finished_, true)),
        progress_(std::move(other.progress_)) {}
  stream& operator=(stream&& other) noexcept {
    if (this != &other) {
      shut();
      run_ = std::move(other.run_);
      source_ = std::exchange(other.source_, nullptr);
      taken_ = std::exchange(other.taken_, nullptr);
      current_ = std::move(other.current_);
      buffer_ = std::move(other.buffer_);
      next_ = std::exchange(other.next_, 0);
      held_ = std::exchange(other.held_, 0);
      finished_ = std::exchange(other.finished_, true);
      progress_ = std::move(other.progress_);
    }
    return *this;
  }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() { shut(); }

  // The next output, or std::nullopt once the run has finished (or was cancelled).
  // Exceptions: rethrows the run's first error, once every worker has stopped.
  // Cancellation: after cancel() it returns std::nullopt at once, also to a pull blocked in it;
  //   the workers are joined by the destructor.
  std::optional<T> next() {
    // The usual case: the next output of the batch in hand; pull() does the rest.
    if (next_ < held_ && !finished_ && !(run_ && (run_->cancelled() || run_->stopping()))) {
      detail::envelope<T>& item = buffer_[next_];
      if (item.value) {
        ++next_;
        return hand_out(item);
      }
    }
    return pull();
  }


  // Pulls the first output. Call once.
  iterator begin() {
    current_ = next();
    return iterator{this};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

  // Stops the run without an error: every pull from now on, and one blocked now, returns
  // std::nullopt at once; an error a worker throws after it is not reported.
  // Thread safety: may be called from any thread, also while another thread pulls.
  void cancel() noexcept {
    if (run_) run_->cancel();
  }

  // The graceful stop: the producer starts nothing new — a branch producer (a generator, a
  // range, sluice::from) takes no further element from its range, a plain producer not yet
  // called is not called — and every item it has already produced goes on through every stage
  // (a batch flushes its partial batch, ordered tasks keep their order, fan_out, route, zip and
  // join tasks run as at a normal end) and reaches this stream, which then ends normally: next()
  // returns std::nullopt without an exception once they are handed out. An error thrown while
  // they finish is reported as usual.
  // Before the first pull: the run produces nothing (the producer is not called) and the first
  // next() returns std::nullopt. After the run ended, or after cancel(): no effect. Idempotent.
  // A producer call in progress (a generator computing its next element, a plain producer) is
  // not interrupted: what it yields is kept, and it is not resumed again. Nested pipelines made
  // inside a task's call are that call's business: the drain stops only this run's producer.
  // Thread safety: may be called from any thread, while another thread pulls; async-signal-safe
  //   (one lock-free atomic store), though sluice::graceful_shutdown (sluice/shutdown.hpp) is the
  //   usual way to drain on a signal.
  void drain() noexcept {
    if (run_) run_->drain();
  }

  // Whether the producer stopped early because of drain(): true once it has seen the drain (it
  // may have had nothing more to give), final once next() has returned std::nullopt. False for
  // a run that ended by itself before the drain, and for a drain that came after cancel().
  // Example:
  //   while (auto row = rows.next()) load(*row);
  //   if (rows.drained()) std::cout << "drained after " << n << " rows\n";
  // Thread safety: may be called from any thread.
  bool drained() const noexcept { return run_ && run_->drained(); }

  // Internal: drains this stream's run when `token` is stopped (at once if it is already).
  // Call it from the thread that owns the stream.
  void link_drain(std::stop_token token) {
    if (run_) run_->drain_with(std::move(token));
  }

  // Internal: cancels this stream's run when `token` is stopped (a nested pipeline follows the
  // call of the outer run it is made in: its cancel, its first error, its end, a deadline).
  void link_stop(std::stop_token token) {
    if (run_) run_->stop_with(std::move(token));
  }

  // One task_stats per task, producer first, in pipeline order. Cheap: relaxed reads of
  // counters; safe to call from another thread while the run goes on. Empty for the stream a
  // sluice::join task receives.
  std::vector<task_stats> stats() const { return run_ ? run_->stats() : std::vector<task_stats>{}; }

  // From now on, each output handed out (next(), iteration) advances a progress bar drawn as
  // `options` say; the bar's final frame comes when the stream ends or is destroyed. A second
  // call finishes the first bar and starts a new one, from 0. With options.count_task the bar
  // counts that task's items_out instead, read on each output handed out and for the final
  // frame (exact when the run has ended).
  //
  // Example:
  //   auto batches = pipeline(path);   // parse | ... | sluice::batch(500)
  //   batches.show_progress({.total = row_count, .label = "rows", .count_task = "task#1"});
  //   for (auto& batch : batches) load(batch);
  // Thread safety: call it from the thread that pulls, not during a pull.
  // Exceptions: std::invalid_argument when the pipeline has no task named options.count_task;
  //   std::bad_alloc; the bar itself throws nothing (see sluice::progress_bar).
  void show_progress(progress_options options = {}) {
    progress_.reset();
    const std::atomic<std::uint64_t>* counted =
        options.count_task.empty() ? nullptr : &detail::items_out_of(run_.get(), options.count_task);
    progress_ = std::make_unique<detail::stream_progress>(std::move(options), counted);
  }

  // Calls `hook` for each retried attempt, failed item and breaker state change of this run
  // (sluice/pipeline_event.hpp says from which threads, and that it must be quick).
  //
  // Example:
  //   auto rows = pipeline(path);
  //   rows.on_event([](const sluice::pipeline_event& e) { log(e); });
  //   for (auto& row : rows) use(row);
  // Thread safety: call it before the first pull (which starts the run), from the thread that
  //   pulls. Exceptions: std::logic_error once the run has started; std::bad_alloc.
  void on_event(std::function<void(const pipeline_event&)> hook) {
    if (!run_) return;  // the stream a join task reads: its run's hook is the outer stream's
    if (run_->started()) detail::reject_late_hook();
    run_->set_event_hook(std::move(hook));
  }

  // Internal: the stream of a run (owning) or the view a join task reads (run == nullptr).
  stream(std::shared_ptr<detail::run_state> run, detail::channel<T>& source,
         detail::stage_counters* taken = nullptr)
      : run_(std::move(run)), source_(&source), taken_(taken) {}
  // Internal: a stream with nothing in it.
  explicit stream(detail::no_run_t) noexcept : finished_(true) {}

 private:
  // next() past the fast path: skips tombstones, takes the next batch when this one is used up
  // (giving its room back), ends the stream and rethrows the run's error.
  std::optional<T> pull();

  // Hands out `item`'s value (it has one), counting it for stats and the progress bar.
  std::optional<T> hand_out(detail::envelope<T>& item) {
    if (taken_ != nullptr) taken_->items_in.fetch_add(1, std::memory_order_relaxed);
    if (progress_) progress_->advance();
    std::optional<T> out = std::move(item.value);
    item.value.reset();
    return out;
  }

  void shut() noexcept {
    if (run_ && run_->started()) {
      if (!finished_) run_->cancel();
      run_->join();  // a cancelled run's next() left the joining to here
    }
    finish();
  }

  // No output is handed out from now on; the progress bar draws its final frame.
  std::nullopt_t finish() noexcept {
    finished_ = true;
    progress_.reset();
    return std::nullopt;
  }

  // A pipeline's own stream takes up to kBatch outputs at once; their room in the last queue is
  // given back when they have all been handed out, so backpressure counts them. The stream a
  // join worker reads takes one at a time, leaving the rest to the join's other workers.
  static constexpr std::size_t kBatch = detail::batch_limit(sizeof(detail::envelope<T>));

  std::shared_ptr<detail::run_state> run_;
  detail::channel<T>* source_ = nullptr;
  detail::stage_counters* taken_ = nullptr;
  std::optional<T> current_{};
  std::vector<detail::envelope<T>> buffer_{};
  std::size_t next_ = 0;  // the next envelope of buffer_ to hand out
  std::size_t held_ = 0;  // envelopes taken into buffer_
  bool finished_ = false;
  std::unique_ptr<detail::stream_progress> progress_{};  // show_progress(); null: no bar
};

template <class T>
std::optional<T> stream<T>::pull() {
  if (finished_ || source_ == nullptr) return std::nullopt;
  if (run_ && run_->cancelled()) return finish();
  if (run_ && !run_->started()) run_->start();
  // A stopped run (cancel or error) hands out nothing more, not even outputs already taken.
  while (!(run_ && run_->stopping())) {
    while (next_ < held_) {
      detail::envelope<T>& item = buffer_[next_++];
      if (!item.value) continue;  // a tombstone: nothing to hand out
      return hand_out(item);
    }
    // The batch is used up: give its room back, then take the next one.
    source_->release(held_);
    next_ = held_ = 0;
    if (buffer_.empty()) buffer_.resize(run_ ? kBatch : 1);
    using result = typename detail::channel<T>::pop_result;
    if (source_->pop_bulk(buffer_.data(), buffer_.size(), held_, nullptr) != result::item) break;
  }
  finish();
  // A cancel() while this waits for the workers (a failed run's calls still running) ends the
  // wait: the destructor joins them.
  if (run_ && run_->join_unless_cancelled() && !run_->cancelled()) {
    if (auto error = run_->error()) std::rethrow_exception(error);
  }
  return std::nullopt;
}

// The streams of the item types most pipelines carry are compiled once, in the library
// (lib/stream.cpp): a translation unit that pulls from one compiles only next()'s fast path.
extern template class stream<int>;
extern template class stream<long>;
extern template class stream<unsigned long>;
extern template class stream<double>;
extern template class stream<std::string>;

namespace detail {
template <class T>
inline constexpr bool is_stream_v = false;
template <class T>
inline constexpr bool is_stream_v<stream<T>> = true;

// Pulls every remaining output of `in` into a std::vector (to_vector, nested pipelines).
template <class T>
std::vector<T> drain_to_vector(stream<T>& in) {
  std::vector<T> all;
  while (auto item = in.next()) all.push_back(std::move(*item));
  return all;
}
}  // namespace detail

}  // namespace sluice
