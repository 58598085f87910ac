// Internal: a set of worker processes that run one callable over items sent as bytes — the
// machinery under process mode (docs/processes.md says how a worker is made and what crosses).
//
// A worker_set is made per run of a process task (or per process_pool call), after the callable
// exists: its workers are forks of this process, made by sluice's one spawner thread, so they
// carry the callable and everything it captured. Items go to the workers in frames over a pipe,
// several in flight per worker; each worker runs its items in order and sends the results back
// in one write per batch. One I/O thread per set does every read, write and reap.
//
// What happens to an item, exactly once each: its encoded result arrives, or it fails with
//   - remote_error: the callable threw (or a codec_error: the worker could not decode it);
//   - worker_crashed: the worker died (signal or exit) while it ran this item;
//   - timeout_error: it ran longer than the set's timeout; its worker was killed;
//   - std::runtime_error naming the set, when the set is cancelled or destroyed first.
// Items a dying worker had not started go to another worker, unchanged; a replacement is forked.
//
// Thread safety: submit and cancel may be called from any thread at once. Replies run on the
// I/O thread, one at a time, and must not block or call back into the set.
// Lifetime: the destructor kills every worker still alive, reaps each one, joins the I/O thread
// and answers every item not answered yet; no child or descriptor of the set survives it.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::detail {

// Runs in a worker process, once per item: decodes `input`, calls the callable and appends the
// encoded result to `output`. Whatever it throws is carried to the item's reply.
using serve_function = std::function<void(std::string_view input, std::string& output)>;

struct worker_set_options {
  std::string who = "process workers";  // names the task or pool in every error
  std::size_t workers = 1;                // worker processes; at least 1
  std::chrono::nanoseconds timeout{0};    // per item, from the moment its worker starts it; 0: none
  std::size_t window = 64;                // items sent ahead to each worker; at least 1
};

// How one item ended: its encoded result, or its error.
struct process_outcome {
  std::string result;        // when error is null
  std::exception_ptr error;  // see the list above
};

// Where a submitted item's outcome goes.
class process_reply {
 public:
  virtual void done(process_outcome outcome) noexcept = 0;

 protected:
  ~process_reply() = default;
};

class worker_set {
 public:
  // Starts the I/O thread; the workers are forked when the first item arrives.
  // Exceptions: std::invalid_argument for 0 workers or a window of 0; std::system_error when a
  // thread or descriptor cannot be made.
  worker_set(worker_set_options options, serve_function serve);
  worker_set(const worker_set&) = delete;
  worker_set& operator=(const worker_set&) = delete;
  ~worker_set();

  // Queues one item; `reply` is told its outcome once, on the I/O thread, and must live until
  // then. Thread-safe.
  void submit(std::string input, process_reply& reply);

  // Kills every worker now; every item not answered yet is answered with an error. Items
  // submitted afterwards are answered with that error at once, on the submitting thread.
  // Thread-safe, idempotent.
  void cancel() noexcept;

  // Workers forked so far, replacements included (for stats and tests).
  std::size_t forked() const noexcept;

  struct state;

 private:
  std::unique_ptr<state> state_;
};

}  // namespace sluice::detail
