// Internal: the bounded queue between two stages, and the port interface a stage pushes into.
// This is the only header that includes moodycamel.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

#include <sluice/detail/run.hpp>

namespace sluice::detail {

// Where an item came from: its position in the producer's output (failure::sequence) and a tag
// that zip uses to match the branches' results of one input.
struct item_meta {
  std::uint64_t sequence = 0;
  std::uint64_t tag = 0;
};

// An item in a queue. An empty value is a tombstone: inside a zip branch, it tells the zip that
// the item with this tag was dropped by an on_error handler.
template <class T>
struct envelope {
  std::optional<T> value{};
  item_meta meta{};
};

// Something a stage pushes its outputs into: a queue, or a shape's dispatcher in front of
// several queues.
template <class T>
class port : public node {
 public:
  // Blocks while there is no room. False when nobody wants more items (the run is stopping,
  // or every consumer downstream finished early); the caller then stops producing.
  virtual bool push(envelope<T>&& item) = 0;
  // Build time: one more producer will push here; `serial` when its pushes never overlap.
  virtual void add_producer(bool serial) = 0;
  // A producer finished; the last one closes the port.
  virtual void producer_done() = 0;
};

// How long a consumer or producer spins before it sleeps on a semaphore (moodycamel's
// LightweightSemaphore spins, then parks on a futex-backed semaphore).
inline constexpr int kSpinBeforePark = 2000;
// Enough tokens to release every waiter for good when a run stops.
inline constexpr moodycamel::LightweightSemaphore::ssize_t kWakeAll = 1 << 28;

// A bounded multi-producer multi-consumer queue of envelope<T>. `capacity` counts items that
// are queued or have been taken by a worker that has not started them yet; a push waits for
// room. The consumer is either a stage's activations (notified on every push) or threads that
// block in pop() (a stream's reader, join workers, batch).
template <class T>
class channel final : public port<T> {
 public:
  channel(run_state& run, std::size_t capacity, activation_target* consumer)
      : run_(run),
        consumer_(consumer),
        queue_(capacity),
        room_(static_cast<moodycamel::LightweightSemaphore::ssize_t>(capacity), kSpinBeforePark) {}

  // ---- producer side ----
  bool push(envelope<T>&& item) override {
    if (!room_.wait()) return false;
    if (run_.stopping() || abandoned_.load(std::memory_order_acquire)) return false;
    if (serial_) {
      queue_.enqueue(*token_, std::move(item));
    } else {
      queue_.enqueue(std::move(item));
    }
    announce();
    return true;
  }

  void add_producer(bool serial) override {
    ++producers_;
    open_.fetch_add(1, std::memory_order_relaxed);
    serial_ = producers_ == 1 && serial;
    token_.reset();
    if (serial_) token_.emplace(queue_);
  }

  void producer_done() override {
    if (open_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    closed_.store(true, std::memory_order_seq_cst);
    if (consumer_ != nullptr) {
      consumer_->notify();
    } else {
      items_.signal(kWakeAll);
    }
  }

  // ---- consumer side ----
  // Takes up to `max` items without blocking. Their room is given back by release().
  std::size_t try_pop_bulk(envelope<T>* out, std::size_t max) {
    return queue_.try_dequeue_bulk(out, max);
  }
  // Gives back room for `count` items taken by try_pop_bulk().
  void release(std::size_t count) noexcept {
    room_.signal(static_cast<moodycamel::LightweightSemaphore::ssize_t>(count));
  }

  enum class pop_result { item, timeout, end };

  // Blocks until an item arrives, the queue is closed and drained, or the run stops.
  bool pop(envelope<T>& out) { return pop_until(out, nullptr) == pop_result::item; }

  // As pop(), but gives up at `deadline` when it is not null.
  pop_result pop_until(envelope<T>& out, const std::chrono::steady_clock::time_point* deadline) {
    for (;;) {
      if (run_.stopping()) return pop_result::end;
      bool token = false;
      if (deadline == nullptr) {
        token = items_.wait();
      } else {
        const auto left = *deadline - std::chrono::steady_clock::now();
        const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
        token = usecs > 0 && items_.wait(usecs);
        if (!token) return pop_result::timeout;
      }
      if (!token || run_.stopping()) return pop_result::end;
      // A token is either an item's (it is in the queue or about to be visible) or one of
      // the tokens released when the queue closed.
      for (;;) {
        if (queue_.try_dequeue(out)) {
          release(1);
          return pop_result::item;
        }
        if (closed_.load(std::memory_order_acquire)) {
          if (queue_.size_approx() == 0) return pop_result::end;
        } else if (run_.stopping()) {
          return pop_result::end;
        }
        std::this_thread::yield();
      }
    }
  }

  bool closed() const noexcept { return closed_.load(std::memory_order_seq_cst); }
  bool empty() const noexcept { return queue_.size_approx() == 0; }
  std::size_t size() const noexcept { return queue_.size_approx(); }
  static std::size_t size_of(const void* self) { return static_cast<const channel*>(self)->size(); }

  // The consumer finished early (a join whose callable returned): producers stop.
  void abandon() noexcept {
    abandoned_.store(true, std::memory_order_release);
    room_.signal(kWakeAll);
  }
  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_acquire); }

  void wake() noexcept override {
    room_.signal(kWakeAll);
    items_.signal(kWakeAll);
  }

 private:
  void announce() {
    if (consumer_ != nullptr) {
      // Pairs with the fence a retiring worker issues after decrementing its active count.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      consumer_->notify();
    } else {
      items_.signal(1);
    }
  }

  run_state& run_;
  activation_target* consumer_;
  moodycamel::ConcurrentQueue<envelope<T>> queue_;
  moodycamel::LightweightSemaphore room_;
  moodycamel::LightweightSemaphore items_{0, kSpinBeforePark};
  std::optional<moodycamel::ProducerToken> token_{};  // used by the one serial producer
  std::size_t producers_ = 0;
  bool serial_ = false;
  std::atomic<int> open_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> abandoned_{false};
};

}  // namespace sluice::detail
