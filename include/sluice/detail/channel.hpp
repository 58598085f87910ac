// Internal: the bounded queue between two stages, and the port interface a stage pushes into.
// This is the only header that includes moodycamel.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

#include <sluice/detail/backoff.hpp>
#include <sluice/detail/barrier.hpp>
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
// several queues. Each producer registers once and passes the id it got to every call.
template <class T>
class port : public node {
 public:
  // Build time: one more producer will push here; `serial` when its pushes never overlap.
  // Returns the id the producer passes to push() and producer_done().
  virtual std::size_t add_producer(bool serial) = 0;
  // Blocks while there is no room. False when nobody wants more items (the run is stopping,
  // or every consumer downstream finished early); the caller then stops producing.
  virtual bool push(envelope<T>&& item, std::size_t producer) = 0;
  // A producer finished; the last one closes the port.
  virtual void producer_done(std::size_t producer) = 0;
};

// A producer's end of a port: the port and the id it registered under.
template <class T>
class outlet {
 public:
  outlet(port<T>& to, bool serial) : port_(&to), id_(to.add_producer(serial)) {}
  bool push(envelope<T>&& item) const { return port_->push(std::move(item), id_); }
  void producer_done() const { port_->producer_done(id_); }

 private:
  port<T>* port_;
  std::size_t id_;
};

// The batch a worker takes from its queue at once, for an item of `size` bytes: large enough
// to amortise the queue's atomics, small enough to keep a worker's stack frame modest.
constexpr std::size_t batch_limit(std::size_t size) {
  return std::clamp<std::size_t>(4096 / (size == 0 ? 1 : size), 1, 128);
}

// How many room credits a serial producer takes at once (see channel::push).
inline constexpr std::size_t kCreditBatch = 64;
// Enough tokens to release every waiter for good when a run stops.
inline constexpr moodycamel::LightweightSemaphore::ssize_t kWakeAll = 1 << 28;

// A bounded multi-producer multi-consumer queue of envelope<T>.
//
// Room: `capacity` counts items that are queued or taken by a consumer that has not finished
// the batch they came in; a push waits for room. A serial producer takes room in credits of up
// to kCreditBatch at once (less when several share the queue), so most pushes touch no shared
// counter; it gives back what it did not use when it is done.
//
// Consumer: either a stage's activations (`consumer`, woken through activation_target::notify)
// or threads that block in pop_bulk() (a stream's reader, join workers, batch). A push makes its
// item visible at once and then, behind a light barrier, reads whether the consumer is awake;
// a consumer going to sleep says so, issues a heavy barrier and looks once more (barrier.hpp).
template <class T>
class channel final : public port<T> {
  using ssize = moodycamel::LightweightSemaphore::ssize_t;

  // One per producer. A serial producer has its own ProducerToken (its items stay FIFO even
  // when its successive activations run on different threads) and takes room in credits.
  struct writer {
    std::optional<moodycamel::ProducerToken> token{};
    std::size_t credits = 0;  // room taken and not used yet; touched by this producer alone
  };

 public:
  channel(run_state& run, std::size_t capacity, activation_target* consumer)
      : run_(run),
        consumer_(consumer),
        capacity_(capacity),
        queue_(capacity),
        room_(static_cast<ssize>(capacity), 1000) {}

  // ---- producer side ----
  std::size_t add_producer(bool serial) override {
    writer& w = writers_.emplace_back();
    if (serial) w.token.emplace(queue_);
    open_.fetch_add(1, std::memory_order_relaxed);
    std::size_t serial_writers = 0;
    for (const writer& each : writers_) serial_writers += each.token ? 1 : 0;
    credit_batch_ = std::max<std::size_t>(
        1, std::min(kCreditBatch, capacity_ / (4 * std::max<std::size_t>(serial_writers, 1))));
    return writers_.size() - 1;
  }

  bool push(envelope<T>&& item, std::size_t producer) override {
    writer& w = writers_[producer];
    if (w.token) {
      if (w.credits == 0 && !refill(w)) return false;
      --w.credits;
    } else if (!room_.tryWait() && !wait_for_room()) {
      return false;
    }
    if (run_.stopping() || abandoned_.load(std::memory_order_relaxed)) return false;
    if (w.token) {
      queue_.enqueue(*w.token, std::move(item));
    } else {
      queue_.enqueue(std::move(item));
    }
    light_barrier();
    if (consumer_ != nullptr) {
      consumer_->notify();
    } else if (sleepers_.load(std::memory_order_relaxed) != 0) {
      items_.signal(1);
    }
    return true;
  }

  void producer_done(std::size_t producer) override {
    writer& w = writers_[producer];
    release(std::exchange(w.credits, 0));  // room it took and did not use
    if (open_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    closed_.store(true, std::memory_order_seq_cst);
    if (consumer_ != nullptr) {
      consumer_->notify_closed();
    } else {
      items_.signal(kWakeAll);
    }
  }

  // ---- consumer side ----
  // Takes up to `max` items without blocking. Their room is given back by release().
  std::size_t try_pop_bulk(envelope<T>* out, std::size_t max) {
    return queue_.try_dequeue_bulk(out, max);
  }
  // Gives back room for `count` items taken by try_pop_bulk() or pop_bulk().
  void release(std::size_t count) noexcept {
    if (count != 0) room_.signal(static_cast<ssize>(count));
  }

  enum class pop_result { item, timeout, end };

  // Takes between 1 and `max` items into `out` (their count in `taken`), blocking until some
  // arrive; `end` once the queue is closed and drained or the run stops; `timeout` at
  // `deadline` when it is not null. Spins, then sleeps on the items semaphore.
  pop_result pop_bulk(envelope<T>* out, std::size_t max, std::size_t& taken,
                      const std::chrono::steady_clock::time_point* deadline) {
    backoff spin;
    for (;;) {
      if (run_.stopping()) return pop_result::end;
      taken = queue_.try_dequeue_bulk(out, max);
      if (taken != 0) return pop_result::item;
      if (closed_.load(std::memory_order_acquire)) {
        taken = queue_.try_dequeue_bulk(out, max);  // everything pushed before the close
        return taken != 0 ? pop_result::item : pop_result::end;
      }
      if (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline) {
        return pop_result::timeout;
      }
      if (spin.wait()) continue;
      if (!sleep(deadline)) return pop_result::timeout;
      spin = backoff{};
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
  // Waits for at least one room credit and takes up to credit_batch_; false when stopping.
  bool refill(writer& w) {
    ssize got = room_.tryWaitMany(static_cast<ssize>(credit_batch_));
    if (got == 0) {
      if (!wait_for_room()) return false;
      got = 1 + room_.tryWaitMany(static_cast<ssize>(credit_batch_) - 1);
    }
    w.credits = static_cast<std::size_t>(got);
    return true;
  }

  // Takes one room credit, spinning first: the consumer usually gives room back within
  // microseconds, and sleeping would cost both sides a system call. False when stopping.
  bool wait_for_room() {
    for (backoff spin; spin.wait();) {
      if (run_.stopping()) return false;
      if (room_.tryWait()) return true;
    }
    return room_.wait();
  }

  // A reader found nothing for a while: sleeps until a push, the close, the stop or `deadline`.
  // False on timeout.
  bool sleep(const std::chrono::steady_clock::time_point* deadline) {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    heavy_barrier();
    bool woke = true;
    if (queue_.size_approx() == 0 && !closed_.load(std::memory_order_acquire) &&
        !run_.stopping()) {
      if (deadline == nullptr) {
        woke = items_.wait();
      } else {
        const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            *deadline - std::chrono::steady_clock::now());
        woke = left.count() > 0 && items_.wait(left.count());
      }
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return woke || deadline == nullptr;
  }

  run_state& run_;
  activation_target* consumer_;
  std::size_t capacity_;
  std::size_t credit_batch_ = 1;
  std::deque<writer> writers_;  // by producer id; filled while building
  moodycamel::ConcurrentQueue<envelope<T>> queue_;
  moodycamel::LightweightSemaphore room_;
  moodycamel::LightweightSemaphore items_{0, 1000};     // wakes sleeping readers
  std::atomic<int> sleepers_{0};                       // readers in sleep()
  std::atomic<int> open_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> abandoned_{false};
};

}  // namespace sluice::detail
