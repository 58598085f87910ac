// Internal: the caller's side of one batch sent to a worker_set (worker_set.hpp) — encoding the
// items, waiting for their answers in the batch's order as they arrive, and what a worker
// process does with one item. Shared by process tasks (process_calls.hpp) and process maps
// (pools/process_map.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/codec.hpp>
#include <sluice/detail/invoke.hpp>
#include <sluice/detail/engine/backoff.hpp>
#include <sluice/detail/process/worker_set.hpp>

namespace sluice::detail {

// Appends `item`, encoded, to `batch` as its next item.
template <class T>
void encode_into(process_batch& batch, const T& item) {
  writer out(batch.bytes);
  out.write(item);
  batch.end_item();
}

// The answers to one submitted batch: each item's result bytes or its error. Written by the
// set's replying thread as they arrive, read on the waiting thread in the batch's order.
class awaited_batch final : public process_reply {
 public:
  // `count` items, sent to `workers`.
  awaited_batch(std::size_t count, worker_set& workers)
      : results_(count), errors_(count), answered_(count), workers_(workers) {}

  // On the replying thread (worker_set.hpp). An item's slot is written before it is marked
  // answered (a release store), and never again; result bytes are appended to blocks that never
  // move, so a result view taken earlier stays valid while later ones arrive. No lock per item:
  // the waiter is woken once per group, by answered() or batch_done().
  void item_done(std::size_t index, std::string_view result,
                 std::exception_ptr error) noexcept override {
    if (error) {
      errors_[index] = std::move(error);
    } else {
      results_[index] = keep(result);
    }
    answered_[index].store(1, std::memory_order_release);
  }
  // Under mu_: a waiter has either not looked at its item yet (and will see the mark) or sleeps
  // on answered_cv_ (and is woken).
  void answered() noexcept override {
    std::lock_guard lock(mu_);
    if (waiting_ && is_answered(awaited_)) answered_cv_.notify_one();
  }
  void batch_done() noexcept override {
    std::lock_guard lock(mu_);
    done_ = true;
    answered_cv_.notify_one();
  }

  // Then on the waiting thread: waits until item `from` is answered; returns the end of the run
  // of answered items that starts there.
  std::size_t wait_from(std::size_t from) {
    if (answered_.size() <= kSpinningBatch) read_until_answered(from);
    if (!is_answered(from)) {
      std::unique_lock lock(mu_);
      awaited_ = from;
      waiting_ = true;
      answered_cv_.wait(lock, [&] { return is_answered(from); });
      waiting_ = false;
    }
    std::size_t end = from + 1;
    while (end < answered_.size() && is_answered(end)) ++end;
    return end;
  }
  // Waits for batch_done(): the set touches this object no more.
  void wait_done() noexcept {
    std::unique_lock lock(mu_);
    answered_cv_.wait(lock, [&] { return done_; });
  }
  // Item `index`'s outcome, once wait_from() has returned past it: its error, or (when that is
  // null) its encoded result.
  const std::exception_ptr& error(std::size_t index) const noexcept { return errors_[index]; }
  std::string_view result(std::size_t index) const noexcept { return results_[index]; }

 private:
  static constexpr std::size_t kFirstBlock = 1024;
  static constexpr std::size_t kLargestBlock = 64 * 1024;

  // A batch this small (a lone item, say) is most often answered within tens of microseconds:
  // for that long its waiter reads the results itself as they arrive (worker_set::poll), so it
  // is neither woken through the kernel nor waits for the I/O thread to be.
  static constexpr std::size_t kSpinningBatch = 4;
  static constexpr std::chrono::microseconds kSpin{50};

  void read_until_answered(std::size_t index) noexcept {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (!is_answered(index)) {
      workers_.poll();
      if (is_answered(index) || std::chrono::steady_clock::now() >= until) return;
      for (int i = 0; i < 64; ++i) backoff::relax();
    }
  }

  bool is_answered(std::size_t index) const noexcept {
    return answered_[index].load(std::memory_order_acquire) != 0;
  }

  // Blocks double from kFirstBlock up to kLargestBlock (a larger result gets one of its own).
  std::string_view keep(std::string_view bytes) {
    if (blocks_.empty() || blocks_.back().capacity() - blocks_.back().size() < bytes.size()) {
      const std::size_t next =
          blocks_.empty() ? kFirstBlock : std::min(2 * blocks_.back().capacity(), kLargestBlock);
      blocks_.emplace_back().reserve(std::max(next, bytes.size()));
    }
    std::string& block = blocks_.back();
    const std::size_t at = block.size();
    block.append(bytes);  // within its capacity: the block's bytes stay where they are
    return std::string_view(block).substr(at, bytes.size());
  }

  std::vector<std::string_view> results_;
  std::vector<std::exception_ptr> errors_;
  std::vector<std::atomic<std::uint8_t>> answered_;  // 1 once the item's slot is written
  std::deque<std::string> blocks_;  // the replying thread's: result bytes, back to back
  worker_set& workers_;
  std::mutex mu_;
  std::condition_variable answered_cv_;
  std::size_t awaited_ = 0;  // guarded by mu_
  bool waiting_ = false;     // guarded by mu_
  bool done_ = false;        // guarded by mu_
};

// Until the set is done with a batch: cancels the set when the scope is left by an exception
// (so that every item is answered at once), then waits for batch_done().
class batch_scope {
 public:
  batch_scope(worker_set& workers, awaited_batch& answers) : workers_(workers), answers_(answers) {}
  batch_scope(const batch_scope&) = delete;
  batch_scope& operator=(const batch_scope&) = delete;
  ~batch_scope() {
    if (std::uncaught_exceptions() > exceptions_) workers_.cancel();
    answers_.wait_done();
  }

 private:
  worker_set& workers_;
  awaited_batch& answers_;
  int exceptions_ = std::uncaught_exceptions();
};

// What a worker process does with one item: decodes an In, calls fn with it (moved when
// `Moved`, else as an lvalue; a trailing std::stop_token is never stopped: a worker is killed
// instead), and encodes the result as a Result (nothing when fn returns void).
template <class Fn, class In, class Result, bool Moved = false>
serve_function serve_calls_of(const Fn& fn) {
  return [&fn](std::string_view input, std::string& output) {
    In item = sluice::decode<In>(input);
    const std::stop_source never_stopped;
    auto call_it = [&]() -> decltype(auto) {
      if constexpr (Moved) {
        return detail::call(fn, never_stopped, std::move(item));
      } else {
        return detail::call(fn, never_stopped, item);
      }
    };
    if constexpr (std::is_void_v<decltype(call_it())>) {
      call_it();
    } else {
      writer out(output);
      out.write(static_cast<const Result&>(call_it()));
    }
  };
}

}  // namespace sluice::detail
