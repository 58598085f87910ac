// Internal: the bounded queue between two stages. This is the only header that includes
// moodycamel.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

#include <sluice/detail/engine/backoff.hpp>
#include <sluice/detail/engine/barrier.hpp>
#include <sluice/detail/engine/port.hpp>
#include <sluice/detail/engine/run.hpp>

namespace sluice::detail {

// moodycamel's defaults, with room for 128 implicit producers (threads that push without a
// token, such as a task's workers) before the queue grows their hash: while it grows, every
// other thread that pushes for the first time spins without yielding, which on few cores can
// keep the growing thread off them for as long as the spinners hold them.
struct queue_traits : moodycamel::ConcurrentQueueDefaultTraits {
  static const std::size_t INITIAL_IMPLICIT_PRODUCER_HASH_SIZE = 256;
};

// How many room credits a serial producer takes at once (see channel::push).
inline constexpr std::size_t kCreditBatch = 64;
// Enough tokens to release every waiter for good when a run stops.
inline constexpr moodycamel::LightweightSemaphore::ssize_t kWakeAll = 1 << 28;
// Items a queue has storage for from the start: what the default capacity needs. A larger bound
// gets its storage from moodycamel as items arrive (blocks, reused once emptied); the room
// semaphore, not the storage, enforces the bound.
inline constexpr std::size_t kInitialStorage = 1024;

// A bounded multi-producer multi-consumer queue of envelope<T>.
//
// Room: `capacity` counts items that are queued, held back by their producer, or taken by a
// consumer that has not finished the batch they came in; a push waits for room. It is at most
// sluice::max_capacity (2^40), so the room count plus the kWakeAll tokens of a stop stays far
// from its signed 64-bit limit. A serial producer takes room in credits of up to kCreditBatch at
// once (less when several share the queue), so most pushes touch no shared counter; it gives
// back what it did not use when done.
//
// Consumer: either a stage's activations (`consumer`, woken through activation_target::notify)
// or threads that block in pop_bulk() (a stream's reader, join workers, batch). Making items
// visible is followed, behind a light barrier, by a look at whether the consumer is awake; a
// consumer going to sleep says so, issues a heavy barrier and looks once more (barrier.hpp).
//
// Held items (port::offer): a serial producer keeps what it offers in its writer while the item
// would not start a worker of the consumer (activation_target::would_start; a reader never
// starts one), and makes them visible in one step. Before it goes back to user code it sets
// `away`; a consumer that runs out of work (collect(), called after the heavy barrier of its
// retire or sleep) takes the held items over from a producer that is away. The producer, back,
// clears `away` and waits while a consumer is `collecting`: the same light/heavy handshake.
template <class T>
class channel final : public port<T> {
  using ssize = moodycamel::LightweightSemaphore::ssize_t;
  static constexpr std::size_t kHold = std::min(batch_limit(sizeof(envelope<T>)), kCreditBatch);

  // One per producer. A serial producer has its own ProducerToken (its items stay FIFO even
  // when its successive activations run on different threads), takes room in credits and may
  // hold items back. Aligned: each producer writes its own writer on every item.
  struct alignas(64) writer {
    std::optional<moodycamel::ProducerToken> token{};
    std::size_t credits = 0;  // room taken and not used yet
    std::unique_ptr<envelope<T>[]> held{};  // kHold slots, serial producers only
    // Each held item has used one credit. Written by whoever holds the writer (its producer, or a
    // consumer that took it over); read by stats() from any thread.
    std::atomic<std::size_t> held_count{0};
    std::atomic<bool> away{false};          // held items wait while the producer is elsewhere
    std::atomic<bool> collecting{false};    // a consumer is taking them over
  };

 public:
  channel(run_state& run, std::size_t capacity, activation_target* consumer)
      : run_(run),
        consumer_(consumer),
        capacity_(capacity),
        queue_(std::min(capacity, kInitialStorage)),
        room_(static_cast<ssize>(capacity), 1000) {}

  // ---- producer side ----
  std::size_t add_producer(bool serial) override {
    writer& w = writers_.emplace_back();
    if (serial) {
      w.token.emplace(queue_);
      w.held = std::make_unique<envelope<T>[]>(kHold);
    }
    open_.fetch_add(1, std::memory_order_relaxed);
    std::size_t serial_writers = 0;
    for (const writer& each : writers_) serial_writers += each.token ? 1 : 0;
    credit_batch_ = std::max<std::size_t>(
        1, std::min(kCreditBatch, capacity_ / (4 * std::max<std::size_t>(serial_writers, 1))));
    return writers_.size() - 1;
  }

  bool push(envelope<T>&& item, std::size_t producer) override {
    writer& w = writers_[producer];
    if (w.held && !flush_held(w)) return false;
    return put(w, std::move(item));
  }

  bool offer(envelope<T>&& item, std::size_t producer, bool hold) override {
    writer& w = writers_[producer];
    if (!w.held) return put(w, std::move(item));
    come_back(w);
    // Room for the item; what is held already used its own, and leaves before any wait.
    std::size_t held = w.held_count.load(std::memory_order_relaxed);
    if ((held == kHold || w.credits == 0) && !publish(w, true)) return false;
    if (w.credits == 0 && !refill(w)) return false;
    --w.credits;
    held = w.held_count.load(std::memory_order_relaxed);
    w.held[held] = std::move(item);
    w.held_count.store(held + 1, std::memory_order_relaxed);
    if (hold) return true;
    if (consumer_hungry()) return publish(w, true);
    w.away.store(true, std::memory_order_release);
    light_barrier();
    if (consumer_gone()) return flush_held(w);  // pairs with the heavy barrier before collect()
    return true;
  }

  bool push_bulk(envelope<T>* items, std::size_t count, std::size_t producer) override {
    writer& w = writers_[producer];
    if (w.held && !flush_held(w)) return false;
    while (count > 0) {
      const std::size_t n = take_room(w, count);
      if (n == 0 || !wanted()) return false;
      if (w.token) {
        enqueue_bulk(*w.token, items, n);
      } else {
        enqueue_bulk(items, n);
      }
      wake_consumer();
      items += n;
      count -= n;
    }
    return true;
  }

  void flush(std::size_t producer) override {
    writer& w = writers_[producer];
    if (w.held) flush_held(w);
  }

  void producer_done(std::size_t producer) override {
    writer& w = writers_[producer];
    if (w.held) flush_held(w);
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

  // Takes over the items held by producers that are away and makes them visible, without
  // waking anyone (the caller is the consumer and looks next). True when it made any visible.
  // A consumer that stops must call it after the heavy barrier that follows saying so (a
  // retiring activation's release()): then either it takes the items or the producer sees it gone.
  // A live consumer that runs out of work may call it too, before it yields its core.
  bool collect() {
    bool any = false;
    for (writer& w : writers_) {
      if (!w.held || !w.away.load(std::memory_order_relaxed)) continue;
      if (w.collecting.exchange(true, std::memory_order_acq_rel)) continue;  // another consumer
      heavy_barrier();  // pairs with the light barrier in come_back()
      if (w.away.load(std::memory_order_acquire)) {
        any = publish(w, false) || any;
        w.away.store(false, std::memory_order_release);
      }
      w.collecting.store(false, std::memory_order_release);
    }
    return any;
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
  // Items waiting for the consumer: queued, or held back by their producers (stats()).
  std::size_t waiting() const noexcept {
    std::size_t held = 0;
    for (const writer& w : writers_) held += w.held_count.load(std::memory_order_relaxed);
    return queue_.size_approx() + held;
  }
  static std::size_t waiting_in(const void* self) {
    return static_cast<const channel*>(self)->waiting();
  }

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
  // Makes one item visible: takes room for it (waiting if there is none), enqueues it and
  // wakes the consumer if it sleeps. False when stopping or abandoned.
  bool put(writer& w, envelope<T>&& item) {
    if (w.token) {
      if (w.credits == 0 && !refill(w)) return false;
      --w.credits;
    } else if (!room_.tryWait() && !wait_for_room()) {
      return false;
    }
    if (!wanted()) return false;
    if (w.token) {
      queue_.enqueue(*w.token, std::move(item));
    } else {
      queue_.enqueue(std::move(item));
    }
    wake_consumer();
    return true;
  }

  // Makes w's held items visible in one step (their room is taken: no wait), waking the
  // consumer when `wake`. Called by the producer, or by a consumer that took them over (which
  // looks at the queue next itself).
  bool publish(writer& w, bool wake) {
    const std::size_t count = w.held_count.exchange(0, std::memory_order_relaxed);
    if (count == 0) return true;
    if (!wanted()) return false;
    if (count == 1) {
      queue_.enqueue(*w.token, std::move(w.held[0]));
    } else {
      enqueue_bulk(*w.token, w.held.get(), count);
    }
    if (wake) wake_consumer();
    return true;
  }

// g++ 12 sees moodycamel's bulk enqueue write through a pointer it cannot bound and warns
// (-Wstringop-overflow, a known false positive); nothing is written out of bounds.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
  void enqueue_bulk(moodycamel::ProducerToken& token, envelope<T>* items, std::size_t count) {
    queue_.enqueue_bulk(token, std::make_move_iterator(items), count);
  }
  void enqueue_bulk(envelope<T>* items, std::size_t count) {
    queue_.enqueue_bulk(std::make_move_iterator(items), count);
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  bool flush_held(writer& w) {
    come_back(w);
    return publish(w, true);
  }

  // The producer is back from user code: no consumer may take its held items over from now on.
  void come_back(writer& w) {
    // A consumer that took them over cleared `away` (release) after emptying the writer.
    if (!w.away.load(std::memory_order_acquire)) return;
    w.away.store(false, std::memory_order_relaxed);
    light_barrier();  // pairs with the heavy barrier in collect()
    while (w.collecting.load(std::memory_order_acquire)) backoff::relax();
  }

  // An item now would start an activation of the consuming stage, which then takes it at once.
  bool consumer_hungry() const noexcept {
    return consumer_ != nullptr && consumer_->would_start();
  }

  // No consumer will look again unless woken: no activation alive, or a reader asleep.
  bool consumer_gone() const noexcept {
    if (consumer_ != nullptr) return !consumer_->alive();
    return sleepers_.load(std::memory_order_relaxed) != 0;
  }

  bool wanted() const noexcept {
    return !run_.stopping() && !abandoned_.load(std::memory_order_relaxed);
  }

  // After items became visible: behind a light barrier, wakes the consumer if it retired or
  // sleeps.
  void wake_consumer() noexcept {
    light_barrier();
    if (consumer_ != nullptr) {
      consumer_->notify();
    } else if (sleepers_.load(std::memory_order_relaxed) != 0) {
      items_.signal(1);
    }
  }

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

  // Takes room for between 1 and `want` items: a serial producer's credits first (the writer of
  // concurrent producers is shared and has none), then what is free, waiting for one when
  // nothing is. 0 when stopping.
  std::size_t take_room(writer& w, std::size_t want) {
    std::size_t got = 0;
    if (w.token) {
      got = std::min(w.credits, want);
      w.credits -= got;
    }
    if (got < want) {
      got += static_cast<std::size_t>(room_.tryWaitMany(static_cast<ssize>(want - got)));
    }
    if (got != 0) return got;
    if (!wait_for_room()) return 0;
    return 1 + static_cast<std::size_t>(room_.tryWaitMany(static_cast<ssize>(want - 1)));
  }

  // Takes one room credit, spinning first: the consumer usually gives room back within
  // microseconds, and sleeping would cost both sides a system call. False when stopping. The
  // wait counts as the pushing thread's blocked time (task_stats::blocked): reached only when
  // there is no room, so the clock is read only then.
  bool wait_for_room() {
    const auto start = std::chrono::steady_clock::now();
    bool got = false;
    for (backoff spin; spin.wait();) {
      if (run_.stopping()) break;
      if (room_.tryWait()) {
        got = true;
        break;
      }
    }
    if (!got && !run_.stopping()) got = room_.wait();
    blocked_here() += std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    return got;
  }

  // A reader found nothing for a while: sleeps until a push, the close, the stop or `deadline`.
  // False on timeout.
  bool sleep(const std::chrono::steady_clock::time_point* deadline) {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    heavy_barrier();
    bool woke = true;
    if (collect()) {
      // Another reader may sleep: the items it would have been woken for are queued now.
      if (sleepers_.load(std::memory_order_relaxed) > 1) items_.signal(1);
    } else if (queue_.size_approx() == 0 &&
        !closed_.load(std::memory_order_acquire) && !run_.stopping()) {
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
  moodycamel::ConcurrentQueue<envelope<T>, queue_traits> queue_;
  moodycamel::LightweightSemaphore room_;
  moodycamel::LightweightSemaphore items_{0, 1000};  // wakes sleeping readers
  std::atomic<int> sleepers_{0};                    // readers in sleep()
  std::atomic<int> open_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> abandoned_{false};
};

}  // namespace sluice::detail
