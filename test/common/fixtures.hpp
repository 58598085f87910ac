// This header defines the small functions, item types and errors that the tests share.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/sluice.hpp>

namespace sluice_test {

// An error type no library throws, with a payload to check that the caller gets the very
// exception a task threw.
struct test_error : std::runtime_error {
  explicit test_error(int at)
      : std::runtime_error("test_error at item " + std::to_string(at)), item(at) {}
  int item;
};

// The item of the test_error inside `error`, or -1 if it holds something else.
inline int item_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const test_error& e) {
    return e.item;
  } catch (...) {
    return -1;
  }
}

// The message of the std::invalid_argument that `make` throws, or "" when it throws none.
template <class Make>
std::string invalid_argument_message(Make make) {
  try {
    make();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

// An error that is not derived from std::exception at all.
struct plain_error {
  int item;
};

// 0, 1, ..., limit - 1.
inline sluice::generator<int> numbers(int limit) {
  for (int i = 0; i < limit; ++i) co_yield i;
}

// 0, 1, ..., limit - 1, counting each item in `produced` just before it is yielded, so that a
// test can see how far ahead of the sink the producer has run.
inline sluice::generator<int> counted_numbers(int limit, std::atomic<std::int64_t>* produced) {
  for (int i = 0; i < limit; ++i) {
    produced->fetch_add(1);
    co_yield i;
  }
}

inline int twice(int x) { return 2 * x; }

// A sink (or a join task) that adds up its whole stream.
inline int sum(sluice::stream<int>& in) {
  int total = 0;
  for (int x : in) total += x;
  return total;
}

// Burns CPU for `rounds` rounds of arithmetic the optimizer cannot drop.
inline void spin(int rounds) {
  static std::atomic<std::uint64_t> sink{0};
  std::uint64_t h = static_cast<std::uint64_t>(rounds);
  for (int i = 0; i < rounds; ++i) h = h * 6364136223846793005ULL + 1442695040888963407ULL;
  sink.fetch_add(h, std::memory_order_relaxed);
}
inline int plus_hundred(int x) { return x + 100; }
inline std::string as_text(int x) { return std::to_string(x); }

// 0 + 2 + 4 + ... for the first `count` numbers doubled.
constexpr std::int64_t sum_of_doubles(std::int64_t count) { return count * (count - 1); }

// An item type without a default constructor.
class labelled {
 public:
  explicit labelled(int value) : value_(value) {}
  int value() const { return value_; }
  friend bool operator==(const labelled&, const labelled&) = default;
  friend std::ostream& operator<<(std::ostream& out, const labelled& l) {
    return out << "labelled " << l.value_;
  }

 private:
  int value_;
};

// The threads of this process now (the entries of /proc/self/task).
inline std::size_t thread_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

// Pulls every item out of `items` and returns them.
template <class T>
std::vector<T> collect(sluice::stream<T>& items) {
  std::vector<T> out;
  for (auto&& item : items) out.push_back(std::move(item));
  return out;
}

// Pulls every item out of `items` and returns how many there were.
template <class T>
std::int64_t drain(sluice::stream<T>& items) {
  std::int64_t count = 0;
  for (auto&& item : items) {
    static_cast<void>(item);
    ++count;
  }
  return count;
}

}  // namespace sluice_test
