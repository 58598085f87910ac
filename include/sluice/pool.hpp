// This header defines sluice::thread_pool: a fixed number of workers that map a callable over
// a range, eagerly (map), lazily (imap) or in the background (amap).
//
// Example:
//   sluice::thread_pool pool{8};
//   std::vector<int> v = pool.map(score, items);            // input order
//   for (int x : pool.imap(score, read_lines(path))) use(x); // lazy: bounded memory
//   std::future<std::vector<int>> later = pool.amap(score, items);
//
// The pool runs on the pipeline engine (sluice/pmap.hpp says how an input is walked): each call
// is one run whose task has `size()` workers, and every call of f made through the pool holds
// one of the pool's `size()` slots, so at most `size()` calls of f run at once however many
// threads use the pool. f may call map, imap or amap of the same pool (see Thread safety).
// f is called as f(element) (see sluice::pmap); results come back in input order.
// Exceptions: the first failure stops the call (no new item starts; the calls in flight finish)
//   and is thrown as sluice::worker_error, which holds the original exception, the item's
//   position and its text. From imap, the pull that meets it throws; from amap, get().
// Thread safety: map, imap and amap may be called from many threads at once, and from inside f:
//   a call made while f runs through the same pool (nested) does not wait for a slot of its own,
//   which its caller may be holding the last of; it runs within the caller's slot, one call of
//   its f at a time while the caller waits for it. A nested amap runs at once, before it returns
//   its (ready) future; a nested imap's stream must be read before the call of f that made it
//   returns.
// Lifetime: map borrows f and items for the call. imap and amap keep decayed copies of f and
//   items (an lvalue container is copied; pass it with std::move, or pass a view such as
//   std::span or std::views::all(v), to avoid the copy). A stream from imap owns its run and
//   may outlive the pool. The destructor waits for every amap still running.
#pragma once

#include <cstddef>
#include <future>
#include <memory>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/detail/pools/background.hpp>
#include <sluice/detail/pools/parallel_map.hpp>
#include <sluice/errors.hpp>
#include <sluice/stream.hpp>

namespace sluice {

class thread_pool {
 public:
  // std::thread::hardware_concurrency() workers.
  thread_pool() : thread_pool(0) {}
  // `workers` workers; 0 -> std::thread::hardware_concurrency().
  // Exceptions: std::invalid_argument for more than sluice::max_concurrency workers.
  explicit thread_pool(std::size_t workers)
      : state_(std::make_shared<detail::pool_state>(
            detail::workers_or_default(workers, "sluice::thread_pool"))) {}
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() = default;  // joins every amap still running

  std::size_t size() const noexcept { return state_->workers; }

  // f over every element, in input order.
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& items) {
    return detail::parallel_map(f, std::forward<Range>(items), config("thread_pool::map"));
  }

  // f over every element, lazily, in input order: the run starts on the first pull and stays
  // at most a few queues' worth ahead of the reader.
  template <class F, std::ranges::input_range Range>
  auto imap(F&& f, Range&& items) {
    return detail::lazy_map<false>(std::forward<F>(f), std::forward<Range>(items),
                                   config("thread_pool::imap"));
  }

  // map on a background thread (over the pool's own copy of items, whose elements f gets as
  // rvalues); the future holds its vector, or its worker_error. void f: std::future<void>.
  template <class F, std::ranges::input_range Range>
  auto amap(F&& f, Range&& items) {
    using out = decltype(std::declval<thread_pool&>().map(std::declval<std::decay_t<F>&>(),
                                                         std::declval<std::decay_t<Range>&&>()));
    std::promise<out> promise;
    std::future<out> future = promise.get_future();
    auto work = detail::fulfil(
        std::move(promise), [this, f = std::decay_t<F>(std::forward<F>(f)),
                             items = std::decay_t<Range>(std::forward<Range>(items))]() mutable {
          return detail::parallel_map(f, std::move(items), config("thread_pool::amap"));
        });
    if (detail::holds_slot_of(*state_)) {
      // Inside f of this pool: a background map could wait for ever for a slot that this
      // caller, waiting for the future, holds. It runs here, within the caller's slot.
      work();
      return future;
    }
    background_.start(std::move(work));
    return future;
  }

 private:
  // Nested in a call of f of this pool (see Thread safety), a call borrows its caller's slot and
  // runs one call at a time: the other slots may all be held by callers waiting like this one.
  detail::map_config config(const char* where) const {
    detail::map_config c;
    c.where = where;
    c.borrowed = detail::holds_slot_of(*state_);
    c.workers = c.borrowed ? 1 : state_->workers;
    c.errors = detail::map_errors::worker_error;
    c.pool = state_;
    return c;
  }

  std::shared_ptr<detail::pool_state> state_;
  detail::background_maps background_;  // declared last: joined first
};

}  // namespace sluice
