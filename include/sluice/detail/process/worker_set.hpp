// Internal: a set of worker processes that run one callable over items sent as bytes — the
// machinery under process mode (docs/processes.md says how a worker is made and what crosses).
// Items are submitted in batches, and each is answered on its own.
//
// A worker_set is made per run of a process task (or per process_pool call), after the callable
// exists: its workers are forks of this process, made by sluice's one spawner thread, so they
// carry the callable and everything it captured. Items go to the workers in frames over a pipe,
// several in flight per worker; each worker runs its items in order and sends the results back
// in one write per batch. A submitter writes its batch's frames to the workers' pipes itself
// once every worker is up; one I/O thread per set forks the workers, reads every result, reaps,
// watches deadlines and writes what a full pipe could not take at once.
//
// What happens to an item, exactly once each: its encoded result arrives, or it fails with
//   - remote_error: the callable threw (or a codec_error: the worker could not decode it);
//   - worker_crashed: the worker died (signal or exit) while it ran this item;
//   - timeout_error: it ran longer than the set's timeout; its worker was killed;
//   - std::runtime_error naming the set, when the set is cancelled or destroyed first.
// Items a dying worker had not started go to another worker, unchanged; a replacement is forked.
//
// Thread safety: submit, poll and cancel may be called from any thread at once. Replies run
// under the set's lock, one at a time, on the I/O thread or in a poll(), and must not block or
// call back into the set.
// Lifetime: the destructor kills every worker still alive, reaps each one, joins the I/O thread
// and answers every item not answered yet; no child or descriptor of the set survives it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::detail {

// Runs in a worker process, once per item: decodes `input`, calls the callable and appends the
// encoded result to `output`. Whatever it throws is carried to the item's reply.
using serve_function = std::function<void(std::string_view input, std::string& output)>;

struct worker_set_options {
  std::string who = "process workers";  // names the task or pool in every error
  std::size_t workers = 1;                // worker processes; at least 1
  std::chrono::nanoseconds timeout{0};    // per item, from the moment its worker starts it; 0: none
  std::size_t window = 1024;              // items sent ahead to each worker; at least 1
  // Where the workers' time inside the callable is added, in ns, as their results arrive (a
  // task's stats().busy); nowhere when null. Must outlive the set.
  std::atomic<std::int64_t>* busy_ns = nullptr;
};

// Items to send at once: their encoded inputs back to back. A batch goes to the workers in
// pieces of consecutive items, as their windows allow.
struct process_batch {
  std::string bytes;                // every item's input, concatenated
  std::vector<std::uint32_t> ends;  // item i is bytes[ends[i - 1] (0 for the first), ends[i])

  std::size_t size() const noexcept { return ends.size(); }
  // Item i's encoded input.
  std::string_view item(std::size_t i) const noexcept {
    const std::uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes).substr(begin, ends[i] - begin);
  }
  // Marks the end of the item whose bytes were just appended.
  void end_item() { ends.push_back(static_cast<std::uint32_t>(bytes.size())); }
};

// Where a submitted batch's outcomes go, one call per item and then one for the batch. Items
// are told in groups (the results of one frame, say); each group ends with answered(), or with
// batch_done() when it ends the batch.
class process_reply {
 public:
  // Item `index` ended: `result` (valid during the call only) is its encoded result when
  // `error` is null. Items of a batch may end in any order.
  virtual void item_done(std::size_t index, std::string_view result,
                         std::exception_ptr error) noexcept = 0;
  // The items told since the last call have ended: whoever waits for them may look now.
  virtual void answered() noexcept = 0;
  // Every item of the batch has ended: the last call this reply gets.
  virtual void batch_done() noexcept = 0;

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

  // Queues a batch; `reply` is told each item's outcome once, then that the batch is done, on
  // the I/O thread. `batch` and `reply` are borrowed until then (an empty batch: done at once,
  // on this thread). Thread-safe.
  void submit(const process_batch& batch, process_reply& reply);

  // Reads the results that have arrived and answers their items on this thread, as the I/O
  // thread would a little later; returns at once when another thread holds the set. For a
  // thread that expects its answer within microseconds: it need not wait for the I/O thread to
  // be woken, and then to wake it.
  void poll() noexcept;

  // Kills every worker now; every item not answered yet is answered with an error. Items
  // submitted afterwards are answered with that error at once, on the submitting thread.
  // Thread-safe, idempotent.
  void cancel() noexcept;

  struct state;

 private:
  std::unique_ptr<state> state_;
};

}  // namespace sluice::detail
