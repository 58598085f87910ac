// This header defines sluice::generator<T>, a coroutine that yields a lazy sequence of T.
//
// Example:
//   sluice::generator<int> numbers(int limit) { for (int i = 0; i < limit; ++i) co_yield i; }
//   for (int x : numbers(3)) ...;   // 0, 1, 2
//
// A generator is a move-only std::ranges::input_range. Work runs inside begin() and ++, on the
// thread that iterates; an exception thrown by the body propagates out of begin() or ++.
// Thread safety: one generator is iterated by one thread at a time.
//
// A yielded rvalue is handed to the consumer, who may move from it; a yielded lvalue is copied
// first, so the body keeps its own value.
//
// g++ 12 miscompiles a braced temporary of an aggregate whose members have destructors when it
// appears in a co_yield or co_await statement of any coroutine: for
// `struct line { std::string text; int no; };`, `co_yield line{text, no};` destroys the member
// twice (a double free, at -O0 as at -O2). The temporary is built by the body before the
// promise sees it, so no generator can tell it from a safe `co_yield std::move(l)`. So with
// g++ 12 a generator<T> of such an aggregate does not compile; the sentence says what to do:
// give the type a constructor (then `co_yield line{text, no};` calls it and is correct), or
// yield a type that has one. Types with constructors, trivially destructible aggregates and
// every type with clang are unaffected.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>

namespace sluice {
namespace detail {
// Whether this compiler destroys the members of `co_yield T{...}` twice (see above).
template <class T>
inline constexpr bool braced_yield_miscompiled =
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ <= 12
    std::is_aggregate_v<T> && !std::is_trivially_destructible_v<T>;
#else
    false;
#endif
}  // namespace detail

template <class T>
class generator {
 public:
  using value_type = std::remove_cvref_t<T>;
  static_assert(!detail::braced_yield_miscompiled<value_type>,
                "sluice: generator<T> of an aggregate whose members have destructors does not "
                "compile with g++ 12, which destroys those members twice when a co_yield builds "
                "the value in braces (co_yield T{...}: a double free); give T a constructor, or "
                "yield a type that has one");

  struct promise_type {
    value_type* current_ = nullptr;
    std::exception_ptr error_{};

    generator get_return_object() noexcept {
      return generator{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    // A yielded rvalue lives in the coroutine frame until the next resumption, so the iterator
    // hands out a reference to it and the consumer may move from it.
    std::suspend_always yield_value(value_type&& value) noexcept {
      current_ = std::addressof(value);
      return {};
    }
    // A yielded lvalue (or a value of another type) is copied or converted first, so the
    // consumer never moves out of a variable the body still uses.
    template <class U>
    requires std::is_constructible_v<value_type, U&&>
    auto yield_value(U&& value) {
      struct holder {
        value_type value;
        promise_type* promise;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<>) noexcept { promise->current_ = &value; }
        void await_resume() const noexcept {}
      };
      return holder{value_type(std::forward<U>(value)), this};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error_ = std::current_exception(); }
    template <class U>
    std::suspend_never await_transform(U&&) = delete;  // generators do not co_await
  };

  class iterator {
   public:
    using value_type = generator::value_type;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    value_type& operator*() const noexcept { return *handle_.promise().current_; }
    iterator& operator++() {
      advance(handle_);
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return !it.handle_ || it.handle_.done();
    }

   private:
    friend class generator;
    explicit iterator(std::coroutine_handle<promise_type> h) : handle_(h) {}
    std::coroutine_handle<promise_type> handle_{};
  };

  generator(generator&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  generator& operator=(generator&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;
  ~generator() { destroy(); }

  // Runs the body to its first co_yield. Call once.
  iterator begin() {
    advance(handle_);
    return iterator{handle_};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  explicit generator(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  static void advance(std::coroutine_handle<promise_type> h) {
    if (!h || h.done()) return;
    h.resume();
    if (h.promise().error_) std::rethrow_exception(std::exchange(h.promise().error_, {}));
  }
  void destroy() noexcept {
    if (handle_) handle_.destroy();
  }
  std::coroutine_handle<promise_type> handle_{};
};

}  // namespace sluice
