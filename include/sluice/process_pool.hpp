// This header defines sluice::process_pool: thread_pool's API (map, imap, amap) with f run in
// worker processes, so that a crash or an exit in f fails one element, not the program.
//
// Example:
//   sluice::process_pool procs{4};
//   std::vector<Report> reports = procs.map(parse_untrusted, files);
//   for (auto r : procs.imap(parse_untrusted, read_names(dir))) use(r);  // lazy, input order
//
// Each call forks its own `size()` worker processes when its first element arrives (a fork
// carries f and what it captured, so a call's workers are made after its f exists) and kills
// and reaps them before it returns (imap: when its stream ends or is destroyed; amap: when its
// background map ends). Elements go to the workers and results come back by sluice::codec:
// an element or result type without one is a compile error. Results come back in input order.
// Exceptions: the first failure stops the call and is thrown as sluice::worker_error, whose
//   original() is the sluice::remote_error of an exception f threw, the
//   sluice::worker_crashed of a worker that died (a signal, std::abort, exit), or a
//   sluice::codec_error; index() and input_text() say which element.
// Thread safety: map, imap and amap may be called from many threads at once; each call has its
//   own workers (at most `size()` of them).
// Lifetime: as thread_pool's: map borrows f and items; imap and amap keep copies. The
//   destructor waits for every amap still running; no worker process outlives its call, also
//   when the caller throws. docs/processes.md says what f may rely on in a worker.
#pragma once

#include <cstddef>
#include <future>
#include <ranges>
#include <type_traits>
#include <utility>

#include <sluice/codec.hpp>
#include <sluice/detail/pools/background.hpp>
#include <sluice/detail/pools/parallel_map.hpp>
#include <sluice/detail/pools/process_map.hpp>
#include <sluice/errors.hpp>
#include <sluice/stream.hpp>

namespace sluice {

namespace detail {

template <class V, bool Crosses>
constexpr bool check_process_pool_codecs() {
  static_assert(Crosses,
                "sluice::process_pool: f's elements and results cross to and from worker "
                "processes by sluice::codec, and the element type V or f's result for it has "
                "none (specialise sluice::codec, see sluice/codec.hpp)");
  return Crosses;
}

}  // namespace detail

class process_pool {
 public:
  // std::thread::hardware_concurrency() workers per call.
  process_pool() : process_pool(0) {}
  // `workers` worker processes per call; 0 -> std::thread::hardware_concurrency().
  // Exceptions: std::invalid_argument for more than sluice::max_concurrency workers.
  explicit process_pool(std::size_t workers)
      : workers_(detail::workers_or_default(workers, "sluice::process_pool")) {}
  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;
  ~process_pool() = default;  // joins every amap still running

  std::size_t size() const noexcept { return workers_; }

  // f over every element, in input order.
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& items) {
    check_codecs<F, Range>();
    return detail::process_map(f, std::forward<Range>(items), config("process_pool::map"));
  }

  // f over every element, lazily, in input order.
  template <class F, std::ranges::input_range Range>
  auto imap(F&& f, Range&& items) {
    check_codecs<F, Range>();
    return detail::lazy_map<true>(std::forward<F>(f), std::forward<Range>(items),
                                  config("process_pool::imap"));
  }

  // map on a background thread, over the pool's own copy of items; the future holds its
  // vector, or its worker_error. void f: std::future<void>.
  template <class F, std::ranges::input_range Range>
  auto amap(F&& f, Range&& items) {
    check_codecs<F, Range>();
    using out = decltype(std::declval<process_pool&>().map(std::declval<std::decay_t<F>&>(),
                                                          std::declval<std::decay_t<Range>&&>()));
    std::promise<out> promise;
    std::future<out> future = promise.get_future();
    background_.start(detail::fulfil(
        std::move(promise), [this, f = std::decay_t<F>(std::forward<F>(f)),
                             items = std::decay_t<Range>(std::forward<Range>(items))]() mutable {
          return detail::process_map(f, std::move(items), config("process_pool::amap"));
        }));
    return future;
  }

 private:
  template <class F, class Range>
  static constexpr void check_codecs() {
    using V = detail::queued_t<std::ranges::range_value_t<std::remove_reference_t<Range>>>;
    using R = std::remove_cvref_t<detail::call_result_t<std::decay_t<F>, V&&>>;
    static_cast<void>(
        detail::check_process_pool_codecs<V, detail::crosses_processes<V, R>>());
  }

  detail::map_config config(const char* where) const {
    detail::map_config c;
    c.where = where;
    c.workers = workers_;
    c.errors = detail::map_errors::worker_error;
    return c;
  }

  std::size_t workers_;
  detail::background_maps background_;  // declared last: joined first
};

}  // namespace sluice
