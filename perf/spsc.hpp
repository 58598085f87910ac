// Hand-written baselines that a user would write instead of sluice: one std::thread per stage,
// connected by moodycamel's single-producer single-consumer queues (libreaderwriterqueue-dev),
// the sink on the caller's thread. Used by the chain, memory and latency workloads. Measures
// nothing by itself. Only built when the headers were found (SLUICE_PERF_HAVE_RWQUEUE).
#pragma once

#if defined(SLUICE_PERF_HAVE_RWQUEUE)

#include <cstddef>
#include <deque>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <readerwriterqueue/readerwritercircularbuffer.h>
#include <readerwriterqueue/readerwriterqueue.h>

namespace perf::spsc {

inline constexpr std::size_t capacity = 1024;  // items per queue, as sluice's default

// A bounded queue whose ends block (semaphores) when it is full or empty. An empty optional
// ends the stream.
template <class T>
class blocking_queue {
 public:
  explicit blocking_queue(std::size_t size) : q_(size) {}
  void push(std::optional<T> x) { q_.wait_enqueue(std::move(x)); }
  std::optional<T> pop() {
    std::optional<T> x;
    q_.wait_dequeue(x);
    return x;
  }

 private:
  moodycamel::BlockingReaderWriterCircularBuffer<std::optional<T>> q_;
};

// A bounded queue (preallocated; try_enqueue never allocates) whose ends spin, yielding the
// core, while it is full or empty: the reference for a per-item hand-off.
template <class T>
class spinning_queue {
 public:
  explicit spinning_queue(std::size_t size) : q_(size) {}
  void push(std::optional<T> x) {
    while (!q_.try_enqueue(std::move(x))) std::this_thread::yield();  // not moved on failure
  }
  std::optional<T> pop() {
    std::optional<T> x;
    while (!q_.try_dequeue(x)) std::this_thread::yield();
    return x;
  }

 private:
  moodycamel::ReaderWriterQueue<std::optional<T>> q_;
};

namespace detail {

template <class Queue, class Map>
void map_loop(Queue& in, Queue& out, Map map) {
  while (auto x = in.pop()) out.push(map(std::move(*x)));
  out.push(std::nullopt);
}

}  // namespace detail

// Runs produce(emit) on a thread of its own (it calls emit(T) per item), each map on a thread
// of its own, and sink(T) per item on the calling thread; joins every thread before returning.
template <template <class> class Queue, class T, class Produce, class Sink, class... Maps>
void run_chain(Produce produce, Sink sink, Maps... maps) {
  constexpr std::size_t stages = sizeof...(Maps);
  std::deque<Queue<T>> queues;  // a deque: the queues are neither copyable nor movable
  for (std::size_t i = 0; i <= stages; ++i) queues.emplace_back(capacity);

  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    produce([&](T x) { queues[0].push(std::move(x)); });
    queues[0].push(std::nullopt);
  });
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (threads.emplace_back(detail::map_loop<Queue<T>, Maps>, std::ref(queues[I]),
                          std::ref(queues[I + 1]), maps),
     ...);
  }
  (std::index_sequence_for<Maps...>{});
  while (auto x = queues[stages].pop()) sink(std::move(*x));
  for (std::thread& t : threads) t.join();
}

}  // namespace perf::spsc

#endif
