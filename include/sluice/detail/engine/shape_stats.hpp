// Internal: how the shapes (fan_out, route, zip, in_order) count for stream::stats(). A shape
// takes no task position; it has a row of its own (shape_row), which the run lists among the
// tasks' rows in pipeline order and names after the position the shape stands at (run.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sluice/stats.hpp>

namespace sluice::detail {

// Items a port sees from its producers, in `width` columns (route: one per branch). Each
// producer adds into cells of its own, each on a cache line of its own, so producers never
// share a line. A serial producer's pushes never overlap (port::add_producer): it adds with a
// relaxed load and store, no read-modify-write; a producer whose workers push at once adds with
// a relaxed fetch_add. Relaxed: these are statistics, nothing else is published through them.
// Thread safety: add_producer() at build time; add() from the producer; total() and column()
// from any thread.
class producer_tally {
  struct alignas(64) cell {
    std::atomic<std::uint64_t> count{0};
  };
  struct producer {
    bool serial = false;
    std::unique_ptr<cell[]> cells;
  };

 public:
  explicit producer_tally(std::size_t width = 1) : width_(width) {}

  std::size_t add_producer(bool serial) {
    producers_.push_back({serial, std::make_unique<cell[]>(width_)});
    return producers_.size() - 1;
  }

  void add(std::size_t id, std::size_t column, std::uint64_t n) noexcept {
    producer& p = producers_[id];
    std::atomic<std::uint64_t>& count = p.cells[column].count;
    if (p.serial) {
      count.store(count.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      count.fetch_add(n, std::memory_order_relaxed);
    }
  }

  std::uint64_t column(std::size_t c) const noexcept {
    std::uint64_t sum = 0;
    for (const producer& p : producers_) sum += p.cells[c].count.load(std::memory_order_relaxed);
    return sum;
  }

  std::uint64_t total() const noexcept {
    std::uint64_t sum = 0;
    for (std::size_t c = 0; c < width_; ++c) sum += column(c);
    return sum;
  }

  std::size_t width() const noexcept { return width_; }

 private:
  std::size_t width_;
  std::vector<producer> producers_;  // by id; fixed once the run is built
};

// A shape's row of stats(). `position` is where the shape stands: the position of the first task
// of its first branch (fan_out, route, zip), or of the stage after it (in_order); `depth` how
// many shapes' branches it is inside. The run names it "<kind>#<position>" (run_state::
// finish_build), and read() fills in its counters.
// Thread safety: read() from any thread while the run goes on (relaxed reads).
class shape_row {
 public:
  shape_row(stage_kind kind, std::size_t position, std::size_t depth)
      : kind_(kind), position_(position), depth_(depth) {}
  shape_row(const shape_row&) = delete;
  shape_row& operator=(const shape_row&) = delete;

  // Counters only: name and kind are the run's to fill in.
  virtual void read(task_stats& row) const = 0;

  // Set by the run before it starts (run_state::finish_build); what messages naming the shape
  // use.
  const std::string& row_name() const noexcept { return name_; }
  void set_row_name(std::string name) { name_ = std::move(name); }
  stage_kind kind() const noexcept { return kind_; }
  std::size_t position() const noexcept { return position_; }
  std::size_t depth() const noexcept { return depth_; }

 protected:
  ~shape_row() = default;

 private:
  std::string name_;
  stage_kind kind_;
  std::size_t position_;
  std::size_t depth_;
};

// "fan_out", "route", "zip", "in_order", "batch" or "task".
const char* kind_name(stage_kind kind) noexcept;

// The name a shape of `kind` standing at `position` has unless another of its kind stands there
// too: "route#6".
std::string shape_name(stage_kind kind, std::size_t position);

}  // namespace sluice::detail
