// Internal: the runtimes of the DAG shapes. fan_out, route and zip are ports: an upstream
// worker's push runs the dispatch on its own thread and lands in the branches' queues. Branch
// outputs meet again in `out` (fan_out, route; through a merge_port when the types differ) or in
// a zip_joiner. in_order is a port too: the branches' outputs, pushed into it on their own
// threads, leave it in the order the shape took their inputs. batch is a stage with one worker
// that blocks on its queue with a deadline.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include <sluice/detail/engine/channel.hpp>
#include <sluice/detail/engine/reorder_window.hpp>
#include <sluice/detail/engine/run.hpp>
#include <sluice/detail/engine/shape_stats.hpp>
#include <sluice/detail/saturate.hpp>
#include <sluice/detail/engine/stage.hpp>

namespace sluice::detail {

// The type that fan_out and route emit: the branches' type when they agree, otherwise a
// std::variant of the distinct types in branch order.
template <class... Ts>
struct type_list {};
template <class List, class T>
struct append_unique;
template <class... Ts, class T>
struct append_unique<type_list<Ts...>, T> {
  using type =
      std::conditional_t<(std::is_same_v<T, Ts> || ...), type_list<Ts...>, type_list<Ts..., T>>;
};
template <class List, class... Ts>
struct unique_types {
  using type = List;
};
template <class List, class T, class... Rest>
struct unique_types<List, T, Rest...> {
  using type = typename unique_types<typename append_unique<List, T>::type, Rest...>::type;
};
template <class List>
struct merged_from;
template <class T>
struct merged_from<type_list<T>> {
  using type = T;
};
template <class... Ts>
struct merged_from<type_list<Ts...>> {
  using type = std::variant<Ts...>;
};
template <class... Ts>
using merged_t =
    std::conditional_t<(std::is_same_v<Ts, invalid> || ...), invalid,
                       typename merged_from<typename unique_types<type_list<>, Ts...>::type>::type>;

// Where a fan_out's or route's branch ends: counts the items it passes on into `out` (the
// shape's items_out) and, when the branch's type differs from the merged type, converts them.
template <class From, class To>
class merge_port final : public port<From> {
 public:
  merge_port(port<To>& out, producer_tally& passed) : out_(out), passed_(passed) {}
  std::size_t add_producer(bool serial) override {
    ids_.push_back({passed_.add_producer(serial), out_.add_producer(serial)});
    return ids_.size() - 1;
  }
  bool push(envelope<From>&& item, std::size_t producer) override {
    const bool value = item.value.has_value();
    if (!out_.push(convert(std::move(item)), ids_[producer].out)) return false;
    if (value) passed_.add(ids_[producer].tally, 0, 1);
    return true;
  }
  bool offer(envelope<From>&& item, std::size_t producer, bool hold) override {
    const bool value = item.value.has_value();
    if (!out_.offer(convert(std::move(item)), ids_[producer].out, hold)) return false;
    if (value) passed_.add(ids_[producer].tally, 0, 1);
    return true;
  }
  bool push_bulk(envelope<From>* items, std::size_t count, std::size_t producer) override {
    if constexpr (std::is_same_v<From, To>) {
      std::uint64_t values = 0;
      for (std::size_t i = 0; i < count; ++i) values += items[i].value.has_value() ? 1 : 0;
      if (!out_.push_bulk(items, count, ids_[producer].out)) return false;
      passed_.add(ids_[producer].tally, 0, values);
      return true;
    } else {
      return port<From>::push_bulk(items, count, producer);
    }
  }
  void flush(std::size_t producer) override { out_.flush(ids_[producer].out); }
  void producer_done(std::size_t producer) override { out_.producer_done(ids_[producer].out); }

 private:
  struct ids {
    std::size_t tally;
    std::size_t out;
  };

  static envelope<To> convert(envelope<From>&& item) {
    if constexpr (std::is_same_v<From, To>) {
      return std::move(item);
    } else {
      if (!item.value) return envelope<To>{std::nullopt, item.meta};
      return envelope<To>{To(std::in_place_type<From>, std::move(*item.value)), item.meta};
    }
  }

  port<To>& out_;
  producer_tally& passed_;
  std::vector<ids> ids_;  // by the id this port gave the producer
};

// The side of an in_order that the shape before it sees. Each input the shape takes gets
// `keys` consecutive keys (fan_out: one per branch; route, zip: one), which travel in
// item_meta::tag through the branches: the outputs leave the in_order in key order, with the tag
// the input came with given back (a zip around the shape matches its branches' results by it).
class order_gate {
 public:
  // Takes the next `keys` keys (the first in `first`) for an input tagged `outer_tag`, waiting
  // while they do not fit in the window: the shape stops taking inputs, and its upstream blocks.
  // False when the run is stopping or nobody downstream wants more.
  virtual bool enter(std::size_t keys, std::uint64_t outer_tag, std::uint64_t& first) = 0;

 protected:
  ~order_gate() = default;
};

// in_order: files each output the branches push under its key in a reorder window and emits
// every run of consecutive keys that is complete. A key counts as arrived with a value or with a
// tombstone (a branch dropped the item: the branches are built to leave tombstones).
// Memory: keys are handed out only while they fit in the window (order_gate::enter), so at most
// `bound` outputs wait here, and a push never waits for room; the window's ring grows only as
// outputs wait in it. A push files or emits on the pushing thread; one pusher at a time emits,
// into `out`, without the window's lock.
// Tags: outside a zip branch and outside the branches of another in_order's shape, every item's
// tag is 0, and that is what leaves; inside (`nested`), the input's tag is kept in a map until
// its last output leaves.
// Stats: items_in counts the outputs pushed here, items_out those emitted, queued the difference
// (outputs waiting in the window); tombstones count nowhere.
template <class T>
class in_order_port final : public port<T>, public order_gate, public shape_row {
  struct slot {
    bool filled = false;
    envelope<T> item{};  // meta.tag: the key
  };
  static constexpr std::size_t kInitialWindow = 64;

 public:
  in_order_port(run_state& run, port<T>& out, std::size_t window, bool nested,
                std::size_t position, std::size_t depth)
      : shape_row(stage_kind::in_order, position, depth),
        run_(run),
        out_(out, true),
        requested_(window),
        nested_(nested) {
    run.add_shape(*this);
  }

  // Build time, before the branches: the shape before it gives each input `keys` keys.
  void attach(std::size_t keys) {
    keys_per_input_ = keys;
    window_.emplace(std::max(requested_, keys), kInitialWindow);
  }

  std::size_t add_producer(bool serial) override {
    if (!window_) {  // the chain's static check rejects this first (chain.hpp)
      throw std::invalid_argument("sluice: " + shape_name(stage_kind::in_order, position()) +
                                  " must directly follow a fan_out, route or zip");
    }
    producers_.fetch_add(1, std::memory_order_relaxed);
    return arrived_.add_producer(serial);
  }

  bool enter(std::size_t keys, std::uint64_t outer_tag, std::uint64_t& first) override {
    first = next_key_.fetch_add(keys, std::memory_order_relaxed);
    if (!window_->wait_room(first + keys - 1, [this] { return stopped(); })) return false;
    if (nested_) {
      std::lock_guard lock(tags_mu_);
      tags_[first] = outer_tag;
    }
    return true;
  }

  bool push(envelope<T>&& item, std::size_t producer) override {
    if (stopped()) return false;
    if (item.value) arrived_.add(producer, 0, 1);
    slot arrived{true, std::move(item)};
    window_->settle(
        arrived.item.meta.tag, &arrived, 1, [this] { return stopped(); },
        [this](slot* ready, std::size_t count) { emit(ready, count); });
    return !stopped();
  }

  void producer_done(std::size_t) override {
    if (producers_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // Every push has returned: whatever is still in the window never had an earlier key arrive.
    if (!stopped() && !window_->idle()) {
      run_.fail(std::make_exception_ptr(std::logic_error(
          "sluice: " + row_name() +
          " ended with outputs waiting for an input that never finished")));
    }
    out_.producer_done();
  }

  void wake() noexcept override {
    if (window_) window_->wake_all();
  }

  void read(task_stats& row) const override {
    const std::uint64_t out = emitted_.load(std::memory_order_relaxed);
    const std::uint64_t in = std::max(arrived_.total(), out);  // read after: never behind
    row.items_in = in;
    row.items_out = out;
    row.queued = static_cast<std::size_t>(in - out);
  }

 private:
  bool stopped() const noexcept {
    return run_.stopping() || downstream_gone_.load(std::memory_order_acquire);
  }

  // The tag the input of `key` came with; forgotten with the input's last key.
  std::uint64_t outer_tag(std::uint64_t key) {
    if (!nested_) return 0;
    const std::uint64_t first = key - key % keys_per_input_;
    std::lock_guard lock(tags_mu_);
    const auto it = tags_.find(first);
    if (it == tags_.end()) return 0;  // cannot happen: enter() precedes every output
    const std::uint64_t tag = it->second;
    if (key + 1 - first == keys_per_input_) tags_.erase(it);
    return tag;
  }

  // Emits slots in key order, each with the tag its input came with. One emitter at a time.
  void emit(slot* ready, std::size_t count) {
    std::uint64_t values = 0;
    for (std::size_t i = 0; i < count; ++i) {
      envelope<T>& item = ready[i].item;
      item.meta.tag = outer_tag(item.meta.tag);
      if (!item.value && !nested_) continue;  // a dropped item: nobody after it needs to know
      const bool value = item.value.has_value();
      if (!out_.offer(std::move(item))) {
        emitted_.fetch_add(values, std::memory_order_relaxed);
        downstream_gone_.store(true, std::memory_order_release);
        window_->wake_all();
        return;
      }
      if (value) ++values;
    }
    emitted_.fetch_add(values, std::memory_order_relaxed);
    out_.flush();  // the next emitter may be another thread: nothing stays held between them
  }

  run_state& run_;
  outlet<T> out_;
  std::size_t requested_;
  bool nested_;  // in a zip branch or another in_order's shape: keeps tags, passes tombstones
  std::size_t keys_per_input_ = 1;
  producer_tally arrived_;                // outputs pushed here (values), per producer
  std::atomic<std::uint64_t> emitted_{0};  // outputs emitted (values)
  std::optional<reorder_window<slot>> window_;  // made by attach()
  std::atomic<std::uint64_t> next_key_{0};
  std::atomic<std::size_t> producers_{0};
  std::atomic<bool> downstream_gone_{false};
  std::mutex tags_mu_;
  absl::flat_hash_map<std::uint64_t, std::uint64_t> tags_;  // nested: first key -> input's tag
};

// How a dispatcher passes an item on: as it came (push, or offer with or without hold).
enum class delivery { push, offer, hold };

// What fan_out, route and zip put in front of their branches: a port that hands items to the
// branches' entry ports; producers, their flushes and their end reach every branch.
// Stats: each counts the items it takes (`taken`, per producer; a route per branch) and, through
// the merge_ports at its branches' ends, the items they pass on (`passed`).
template <class In, std::size_t N>
class dispatcher : public port<In>, public shape_row {
 public:
  std::array<port<In>*, N> branches{};
  order_gate* order = nullptr;  // the in_order after the shape, if any

  dispatcher(stage_kind kind, std::size_t position, std::size_t depth, std::size_t columns)
      : shape_row(kind, position, depth), taken_(columns) {}

  // Where the merge_ports at the branches' ends count (fan_out, route).
  producer_tally& passed() noexcept { return passed_; }

  void read(task_stats& row) const override {
    row.items_out = passed_.total();
    row.items_in = taken_.total();
  }

  bool push(envelope<In>&& item, std::size_t producer) override {
    return dispatch(std::move(item), producer, delivery::push);
  }
  bool offer(envelope<In>&& item, std::size_t producer, bool hold) override {
    return dispatch(std::move(item), producer, hold ? delivery::hold : delivery::offer);
  }
  void flush(std::size_t producer) override {
    for (std::size_t i = 0; i < N; ++i) branches[i]->flush(ids_[producer][i]);
  }

  std::size_t add_producer(bool serial) override {
    auto& ids = ids_.emplace_back();
    for (std::size_t i = 0; i < N; ++i) ids[i] = branches[i]->add_producer(serial);
    taken_.add_producer(serial);  // the same id
    return ids_.size() - 1;
  }
  void producer_done(std::size_t producer) override {
    for (std::size_t i = 0; i < N; ++i) branches[i]->producer_done(ids_[producer][i]);
  }

 protected:
  // The shape's own rule: which branches get `item`, each through hand().
  virtual bool dispatch(envelope<In>&& item, std::size_t producer, delivery how) = 0;

  // Hands `item` to branch `i` under the id its producer has there.
  // Counts an item taken from `producer`, in `column` (a route's: the branch chosen).
  void count_taken(std::size_t producer, std::size_t column) noexcept {
    taken_.add(producer, column, 1);
  }
  const producer_tally& taken() const noexcept { return taken_; }

  bool hand(std::size_t i, envelope<In>&& item, std::size_t producer, delivery how) {
    port<In>& branch = *branches[i];
    const std::size_t id = ids_[producer][i];
    if (how == delivery::push) return branch.push(std::move(item), id);
    return branch.offer(std::move(item), id, how == delivery::hold);
  }

 private:
  std::vector<std::array<std::size_t, N>> ids_;  // [producer][branch]: ids in the branches
  producer_tally taken_;
  producer_tally passed_;
};

// fan_out: every item to every branch (copies; the last branch gets the original).
template <class In, std::size_t N>
class fan_out_port final : public dispatcher<In, N> {
 public:
  using dispatcher<In, N>::branches;
  static constexpr std::size_t keys_per_input = N;  // for an in_order: one per branch

  fan_out_port(run_state& run, std::size_t position, std::size_t depth)
      : dispatcher<In, N>(stage_kind::fan_out, position, depth, 1) {
    run.add_shape(*this);
  }

  bool dispatch(envelope<In>&& item, std::size_t producer, delivery how) override {
    if (item.value) this->count_taken(producer, 0);
    std::uint64_t key = 0;
    if (this->order != nullptr && !this->order->enter(N, item.meta.tag, key)) return false;
    bool wanted = false;
    for (std::size_t i = 0; i < N; ++i) {
      if (gone_[i].load(std::memory_order_relaxed)) continue;
      envelope<In> copy = i + 1 == N ? std::move(item) : item;
      if (this->order != nullptr) copy.meta.tag = key + i;
      if (this->hand(i, std::move(copy), producer, how)) {
        wanted = true;
      } else {
        gone_[i].store(true, std::memory_order_relaxed);
      }
    }
    return wanted;
  }

 private:
  std::array<std::atomic<bool>, N> gone_{};
};

// route: each item to the one branch its selector names.
template <class In, class Selector, std::size_t N>
class route_port final : public dispatcher<In, N> {
 public:
  using dispatcher<In, N>::branches;
  static constexpr std::size_t keys_per_input = 1;
  route_port(run_state& run, const Selector& selector, std::size_t position, std::size_t depth)
      : dispatcher<In, N>(stage_kind::route, position, depth, N), run_(run), selector_(selector) {
    run.add_shape(*this);
  }

  void read(task_stats& row) const override {
    dispatcher<In, N>::read(row);
    row.branches.resize(N);
    for (std::size_t i = 0; i < N; ++i) row.branches[i] = this->taken().column(i);
  }

  bool dispatch(envelope<In>&& item, std::size_t producer, delivery how) override {
    std::size_t index = 0;
    try {
      const auto chosen = selector_(std::as_const(*item.value));
      bool negative = false;
      if constexpr (std::is_signed_v<decltype(chosen)>) negative = chosen < 0;
      if (negative || static_cast<std::size_t>(chosen) >= N) {
        throw std::out_of_range("sluice: the selector of " + this->row_name() + " returned " +
                                std::to_string(chosen) + ", but the route has " +
                                std::to_string(N) + " branches (0 to " + std::to_string(N - 1) +
                                ")");
      }
      index = static_cast<std::size_t>(chosen);
    } catch (...) {
      run_.fail(std::current_exception());
      return false;
    }
    this->count_taken(producer, index);
    if (this->order != nullptr && !this->order->enter(1, item.meta.tag, item.meta.tag)) {
      return false;
    }
    if (gone_[index].load(std::memory_order_relaxed)) return true;  // that branch stopped early
    if (this->hand(index, std::move(item), producer, how)) return true;
    gone_[index].store(true, std::memory_order_relaxed);
    for (const auto& g : gone_) {
      if (!g.load(std::memory_order_relaxed)) return true;
    }
    return false;
  }

 private:
  run_state& run_;
  const Selector& selector_;
  std::array<std::atomic<bool>, N> gone_{};
};

// zip: collects the branches' results for one input (matched by tag) into a std::tuple and
// emits it when the last one arrives. Memory: one entry per input inside the branches.
// Stats: items_in counts the inputs opened, items_out the tuples emitted, dropped the tuples a
// branch dropped a part of, queued the inputs still open.
template <class... Outs>
class zip_joiner final : public node, public shape_row {
  using tuple_type = std::tuple<Outs...>;
  static constexpr std::size_t kBranches = sizeof...(Outs);

  struct entry {
    std::tuple<std::optional<Outs>...> parts{};
    std::size_t arrived = 0;
    bool dropped = false;
    item_meta outer{};
  };

 public:
  zip_joiner(run_state& run, port<tuple_type>& out, bool leave_tombstones, std::size_t position,
             std::size_t depth)
      : shape_row(stage_kind::zip, position, depth),
        out_(out, false),
        leave_tombstones_(leave_tombstones) {
    run.add_shape(*this);
  }

  void read(task_stats& row) const override {
    const std::uint64_t out = joined_.load(std::memory_order_relaxed);
    const std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
    // Read last, so that it is never behind the tuples closed.
    const std::uint64_t in = std::max(next_tag_.load(std::memory_order_relaxed), out + dropped);
    row.items_in = in;
    row.items_out = out;
    row.dropped = dropped;
    row.queued = static_cast<std::size_t>(in - out - dropped);
  }

  template <std::size_t I>
  class input final : public port<std::tuple_element_t<I, tuple_type>> {
    using T = std::tuple_element_t<I, tuple_type>;

   public:
    explicit input(zip_joiner& joiner) : joiner_(joiner) {}
    std::size_t add_producer(bool) override {
      joiner_.producers_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    bool push(envelope<T>&& item, std::size_t) override {
      return joiner_.template arrive<I>(std::move(item));
    }
    void producer_done(std::size_t) override { joiner_.producer_done(); }

   private:
    zip_joiner& joiner_;
  };

  // Called by the dispatcher before the branches see the item.
  std::uint64_t open(item_meta outer) {
    const std::uint64_t tag = next_tag_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    entries_[tag].outer = outer;
    return tag;
  }

  const outlet<tuple_type>& out() const noexcept { return out_; }

 private:
  template <std::size_t I, class T>
  bool arrive(envelope<T>&& item) {
    entry done;
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(item.meta.tag);
      if (it == entries_.end()) return true;  // cannot happen: open() precedes every branch
      entry& e = it->second;
      if (item.value) {
        std::get<I>(e.parts) = std::move(item.value);
      } else {
        e.dropped = true;
      }
      if (++e.arrived < kBranches) return true;
      done = std::move(e);
      entries_.erase(it);
      // Under mu_: one writer at a time, so a load and a store suffice.
      auto& closed = done.dropped ? dropped_ : joined_;
      closed.store(closed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    if (done.dropped) {
      return leave_tombstones_ ? out_.push(envelope<tuple_type>{std::nullopt, done.outer}) : true;
    }
    return out_.push(envelope<tuple_type>{
        std::apply([](auto&... part) { return tuple_type(std::move(*part)...); }, done.parts),
        done.outer});
  }

  void producer_done() {
    if (producers_.fetch_sub(1, std::memory_order_acq_rel) == 1) out_.producer_done();
  }

  outlet<tuple_type> out_;
  bool leave_tombstones_;
  std::atomic<std::size_t> producers_{0};
  std::atomic<std::uint64_t> next_tag_{0};  // also the inputs opened (items_in)
  std::atomic<std::uint64_t> joined_{0};    // tuples emitted; written under mu_
  std::atomic<std::uint64_t> dropped_{0};   // tuples dropped; written under mu_
  std::mutex mu_;
  absl::flat_hash_map<std::uint64_t, entry> entries_;  // guarded by mu_
};

// zip's front: opens an entry in the joiner and hands every branch a copy tagged with it.
template <class In, class Joiner, std::size_t N>
class zip_port final : public dispatcher<In, N> {
 public:
  using dispatcher<In, N>::branches;
  // Its row is the joiner's: this one is not registered.
  zip_port(Joiner& joiner, std::size_t position, std::size_t depth)
      : dispatcher<In, N>(stage_kind::zip, position, depth, 1), joiner_(joiner) {}

  bool dispatch(envelope<In>&& item, std::size_t producer, delivery how) override {
    if (this->order != nullptr && !this->order->enter(1, item.meta.tag, item.meta.tag)) {
      return false;
    }
    if (!item.value) return joiner_.out().push({std::nullopt, item.meta});  // nested zip
    const item_meta tagged{item.meta.sequence, joiner_.open(item.meta)};
    for (std::size_t i = 0; i < N; ++i) {
      envelope<In> copy{i + 1 == N ? std::move(item.value) : item.value, tagged};
      if (!this->hand(i, std::move(copy), producer, how)) return false;
    }
    return true;
  }

 private:
  Joiner& joiner_;
};

// batch(n, max_wait): one worker, started with the run, fills a std::vector up to n items and
// emits it when full, when max_wait has passed since its first item, or at the end.
template <class In>
class batch_runtime final : public input_stage<In, std::vector<In>> {
  using Out = std::vector<In>;
  using base = input_stage<In, Out>;
  using base::counters_;
  using base::in_;
  using base::out_;
  using base::run_;

 public:
  batch_runtime(run_state& run, std::size_t position, std::size_t size,
                std::chrono::milliseconds max_wait, std::size_t in_capacity, port<Out>& out)
      : base(run,
             {.position = position,
              .name = "batch#" + std::to_string(position),
              .in_capacity = in_capacity,
              .serial_outlet = true,
              .wakes_on_push = false,
              .starts_with_run = true},
             out),
        size_(size),
        max_wait_(max_wait) {
    counters_.kind = stage_kind::batch;
  }

 private:
  using result = typename channel<In>::pop_result;
  static constexpr std::size_t kTake = batch_limit(sizeof(envelope<In>));
  // Items a batch reserves room for when it opens (about 64 KiB): all of a batch of the usual
  // sizes; a larger one grows as items come, so batch(SIZE_MAX) holds only what arrives.
  static constexpr std::size_t kReserve = std::max<std::size_t>(1, (64 << 10) / sizeof(In));

  void run_activation() noexcept override {
    Out pending;
    item_meta first{};
    std::chrono::steady_clock::time_point deadline{};
    std::array<envelope<In>, kTake> taken_items;
    bool open = true;
    while (open) {
      const bool timed = !pending.empty() && max_wait_.count() > 0;
      std::size_t taken = 0;
      // Never more than the open batch lacks: the rest stays queued (and counted as queued).
      const std::size_t want = std::min(kTake, size_ - pending.size());
      const result got = in_.pop_bulk(taken_items.data(), want, taken, timed ? &deadline : nullptr);
      if (got == result::end) break;
      for (std::size_t i = 0; i < taken; ++i) {
        envelope<In>& item = taken_items[i];
        if (!item.value) continue;
        if (pending.empty()) {
          pending.reserve(std::min(size_, kReserve));
          first = item.meta;
          deadline = saturating_add(std::chrono::steady_clock::now(), max_wait_);
        }
        pending.push_back(std::move(*item.value));
        item.value.reset();
      }
      counters_.items_in.fetch_add(taken, std::memory_order_relaxed);
      in_.release(taken);
      if (got == result::item && pending.size() < size_) continue;
      if (!pending.empty()) open = flush(pending, first);
    }
    if (!pending.empty() && !run_.stopping()) flush(pending, first);
    this->active_.fetch_sub(1, std::memory_order_acq_rel);
    in_.abandon();
    out_.producer_done();
  }

  // When a batch opened at `now` is due: now + max_wait, or the clock's end when that is later
  // than the clock can tell (max_wait = milliseconds::max() is "no deadline", not an overflow).
  bool flush(Out& pending, item_meta first) {
    Out full = std::move(pending);
    pending = Out{};
    if (!out_.push(envelope<Out>{std::move(full), first})) return false;
    counters_.items_out.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  std::size_t size_;
  std::chrono::milliseconds max_wait_;
};

}  // namespace sluice::detail
