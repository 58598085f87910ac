// This header defines sluice::result<R>: one item's outcome in sluice::opmap, either the value
// its call returned or the sluice::failure that says why there is none ("errors in place").
//
// Example:
//   for (const auto& r : sluice::opmap(fetch, urls, {.workers = 8, .retry = sluice::retry_policy{}}))
//     if (r.ok()) store(r.value());
//     else log(r.error().input_text, r.error().attempts.size());
//
// value() of a failed result rethrows the item's own exception (failure::error), unchanged;
// error() of a successful one throws std::logic_error. result<void> holds no value.
// Thread safety: like std::optional: const members from many threads, no writer beside them.
#pragma once

#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include <sluice/errors.hpp>

namespace sluice {

namespace detail {
[[noreturn]] void throw_result_has_value();
[[noreturn]] void rethrow_failure(const failure& why);
}  // namespace detail

template <class R>
class result {
  static_assert(!std::is_reference_v<R> && !std::is_same_v<std::remove_cv_t<R>, failure>,
                "sluice::result<R>: R must be an object type other than sluice::failure");

 public:
  result(R value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  result(failure why) : state_(std::in_place_index<1>, std::move(why)) {}  // NOLINT: implicit

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // The value; rethrows the item's exception when the item failed.
  R& value() & { return check(), *std::get_if<0>(&state_); }
  const R& value() const& { return check(), *std::get_if<0>(&state_); }
  R&& value() && { return check(), std::move(*std::get_if<0>(&state_)); }

  // Why the item failed; std::logic_error when it did not.
  const failure& error() const {
    if (ok()) detail::throw_result_has_value();
    return *std::get_if<1>(&state_);
  }

 private:
  void check() const {
    if (!ok()) detail::rethrow_failure(*std::get_if<1>(&state_));
  }

  std::variant<R, failure> state_;
};

template <>
class result<void> {
 public:
  result() = default;
  result(failure why) : why_(std::move(why)), failed_(true) {}  // NOLINT: implicit

  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  // Nothing to return; rethrows the item's exception when the item failed.
  void value() const {
    if (failed_) detail::rethrow_failure(why_);
  }
  const failure& error() const {
    if (!failed_) detail::throw_result_has_value();
    return why_;
  }

 private:
  failure why_{};
  bool failed_ = false;
};

}  // namespace sluice
