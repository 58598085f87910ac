// Internal: what travels between stages (envelope<T>) and the interface a stage pushes into
// (port<T>, held by the producer as an outlet<T>).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include <sluice/detail/engine/run.hpp>

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
//
// push() makes an item visible at once. offer() lets a queue hold a serial producer's items
// back and make them visible together (one queue operation and one wake-up check for many),
// but never keeps them from a consumer that would take them: they are made visible when the
// producer holds as many as the room it took, when it calls flush() or producer_done(), before
// it pushes, at once when the item would start a worker of the consumer, and otherwise by the
// consumer itself when it runs out of work (also while the producer is inside a call that
// blocks). Each producer's items stay in the order it pushed or offered them.
template <class T>
class port : public node {
 public:
  // Build time: one more producer will push here; `serial` when its pushes never overlap.
  // Returns the id the producer passes to push() and producer_done().
  virtual std::size_t add_producer(bool serial) = 0;
  // Blocks while there is no room. False when nobody wants more items (the run is stopping,
  // or every consumer downstream finished early); the caller then stops producing.
  virtual bool push(envelope<T>&& item, std::size_t producer) = 0;
  // As push(), but the item may be held back (see above). With `hold`, it stays held whatever
  // the consumer does: the caller calls flush() next, before it runs any user code.
  virtual bool offer(envelope<T>&& item, std::size_t producer, bool /*hold*/) {
    return push(std::move(item), producer);
  }
  // As push() for `count` items (moved from), in order: room is taken for as many at once as
  // there is, and the consumer is woken once per step. False as push(); then some may be lost.
  virtual bool push_bulk(envelope<T>* items, std::size_t count, std::size_t producer) {
    for (std::size_t i = 0; i < count; ++i) {
      if (!push(std::move(items[i]), producer)) return false;
    }
    return true;
  }
  // Makes every item this producer offered visible; never waits for room. Inside an
  // activation_target::hand_off_scope the consumer it wakes may be kept for this thread.
  virtual void flush(std::size_t /*producer*/) {}
  // A producer finished (what it offered is made visible first); the last one closes the port.
  virtual void producer_done(std::size_t producer) = 0;
};

// A producer's end of a port: the port and the id it registered under.
template <class T>
class outlet {
 public:
  outlet(port<T>& to, bool serial) : port_(&to), id_(to.add_producer(serial)) {}
  bool push(envelope<T>&& item) const { return port_->push(std::move(item), id_); }
  bool offer(envelope<T>&& item, bool hold = false) const {
    return port_->offer(std::move(item), id_, hold);
  }
  bool push_bulk(envelope<T>* items, std::size_t count) const {
    return port_->push_bulk(items, count, id_);
  }
  void flush() const { port_->flush(id_); }
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

// The same for a task whose calls go to other processes a batch at a time (process mode): each
// batch costs a round trip, so as many items as 64 KiB of a worker's stack frame holds, up to
// 2048.
constexpr std::size_t remote_batch_limit(std::size_t size) {
  return std::clamp<std::size_t>(65536 / (size == 0 ? 1 : size), 1, 2048);
}

}  // namespace sluice::detail
