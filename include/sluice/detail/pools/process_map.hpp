// Internal: pmap and process_pool's map and amap in worker processes, straight on a worker_set
// (detail/process/worker_set.hpp), without the pipeline engine:
//
//   caller: encode elements into a batch -> submit -> ... (up to workers + 2 batches out)
//           decode the oldest batch's results in input order as they arrive -> output vector
//
// The caller's thread does all of it; the set's I/O thread moves the bytes and the workers run
// f. At most (workers + 2) × kBatch elements are read ahead of the results taken, so a long
// single-pass input (a generator) is not read into memory; the results are (they are returned).
// The outputs are in input order whatever map_config::ordered says: taking them in order costs
// nothing here.
//
// A drain (map_config::drain) stops the sending: the batches already sent are answered and
// taken, so the outputs are a prefix of the input; elements sent but not begun by a worker (at
// most (workers + 2) batches' worth) still run.
//
// The first failure in input order ends the call: the set is destroyed (its workers killed and
// reaped), then the failure is thrown — unchanged (map_errors::original), or as a
// sluice::worker_error whose input text is the element decoded again from the bytes sent.
#pragma once

#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/codec.hpp>
#include <sluice/detail/failure.hpp>
#include <sluice/detail/pools/map_common.hpp>
#include <sluice/detail/process/batch_answers.hpp>
#include <sluice/detail/process/worker_set.hpp>
#include <sluice/errors.hpp>

namespace sluice::detail {

// One batch of elements sent to the workers, and its answers.
struct sent_batch {
  std::size_t first = 0;  // the position of its first element in the input
  process_batch items;
  std::optional<awaited_batch> answers;  // made once the batch is full
};

// A call's name as worker_set errors show it ("sluice: pmap: ..."): without the namespace.
inline std::string process_map_who(std::string_view where) {
  constexpr std::string_view prefix = "sluice::";
  if (where.substr(0, prefix.size()) == prefix) where.remove_prefix(prefix.size());
  return std::string(where);
}

template <class F, class Range>
auto process_map(const F& f, Range&& items, const map_config& config) {
  using V = queued_t<std::ranges::range_value_t<std::remove_reference_t<Range>>>;
  using R = map_result_t<F, element_arg_t<Range&&>>;
  using Wire = std::conditional_t<std::is_void_v<R>, no_value, R>;
  constexpr bool moved = !std::is_lvalue_reference_v<Range>;  // f gets the element as pmap's
  constexpr std::size_t kBatch = 1024;                       // elements
  constexpr std::size_t kBatchBytes = std::size_t{1} << 20;  // or encoded bytes, at most

  map_progress progress(config.progress, size_if_known(items));
  std::conditional_t<std::is_void_v<R>, no_value, std::vector<R>> outputs{};
  if constexpr (!std::is_void_v<R>) {
    if (auto n = size_if_known(items)) outputs.reserve(*n);
  }
  std::exception_ptr failed;
  std::size_t failed_at = 0;
  std::string failed_text;
  // Declared before the set, so destroyed after it: the set answers every batch it still holds
  // before it goes.
  std::deque<std::unique_ptr<sent_batch>> out;
  worker_set workers({.who = process_map_who(config.where), .workers = config.workers},
                     serve_calls_of<F, V, Wire, moved>(f));

  auto fail = [&](const sent_batch& batch, std::size_t k, std::exception_ptr error) {
    failed = std::move(error);
    failed_at = batch.first + k;
    if (config.errors == map_errors::worker_error) {
      try {
        failed_text = render(sluice::decode<V>(batch.items.item(k)));
      } catch (const codec_error&) {
        failed_text.clear();  // an element its own codec cannot read back: no text
      }
    }
  };
  // Takes the oldest batch's outcomes in order, as they arrive; stops at the first failure.
  auto take_oldest = [&] {
    sent_batch& batch = *out.front();
    awaited_batch& answers = *batch.answers;
    for (std::size_t k = 0; k < batch.items.size() && !failed;) {
      for (const std::size_t end = answers.wait_from(k); k < end && !failed; ++k) {
        if (answers.error(k)) {
          fail(batch, k, answers.error(k));
          break;
        }
        try {
          if constexpr (std::is_void_v<R>) {
            static_cast<void>(sluice::decode<no_value>(answers.result(k)));
          } else {
            outputs.push_back(sluice::decode<R>(answers.result(k)));
          }
        } catch (const codec_error&) {
          fail(batch, k, std::current_exception());
          break;
        }
        progress.advance(1);
      }
    }
    if (failed) return;
    answers.wait_done();
    out.pop_front();
  };

  std::size_t position = 0;
  auto next = std::ranges::begin(items);
  const auto last = std::ranges::end(items);
  while (!failed) {
    while (next != last && out.size() < config.workers + 2 && !config.drain.stop_requested()) {
      auto& batch = *out.emplace_back(std::make_unique<sent_batch>());
      batch.first = position;
      for (; next != last && batch.items.size() < kBatch && batch.items.bytes.size() < kBatchBytes;
           ++next) {
        encode_into<V>(batch.items, *next);
      }
      position += batch.items.size();
      batch.answers.emplace(batch.items.size(), workers);
      workers.submit(batch.items, *batch.answers);
    }
    if (out.empty()) break;
    take_oldest();
  }
  if (failed) {
    workers.cancel();
    if (config.errors == map_errors::original) std::rethrow_exception(failed);
    throw worker_error(config.where, failed, failed_at, std::move(failed_text));
  }
  if constexpr (!std::is_void_v<R>) return outputs;
}

}  // namespace sluice::detail
