// Tests of sluice::result<R> (<sluice/result.hpp>): a value or the sluice::failure that says why
// there is none; value() of a failed result rethrows the item's own exception, error() of a
// successful one throws std::logic_error; result<void>.
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <doctest/doctest.h>

#include <sluice/result.hpp>

#include "common/fixtures.hpp"

using sluice_test::item_of;
using sluice_test::labelled;
using sluice_test::test_error;

namespace {

// The failure of item `at` of a task named "fetch", as opmap reports it.
sluice::failure failure_at(int at) {
  sluice::failure why;
  why.task = "fetch";
  why.sequence = static_cast<std::uint64_t>(at);
  why.error = std::make_exception_ptr(test_error{at});
  why.attempts = {why.error};
  why.input = at;
  why.input_text = std::to_string(at);
  return why;
}

// What calling `fn` throws, or a null exception_ptr when it returns.
template <class Fn>
std::exception_ptr error_of(Fn&& fn) {
  try {
    fn();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

}  // namespace

TEST_SUITE("result") {
  TEST_CASE("a result made from a value is ok and gives the value back") {
    sluice::result<int> r = 42;
    CHECK(r.ok());
    CHECK(static_cast<bool>(r));
    CHECK(r.value() == 42);
    r.value() = 7;  // value() of an lvalue result is a reference to the value it holds
    CHECK(std::as_const(r).value() == 7);
  }

  TEST_CASE("a result converts to bool only explicitly") {
    static_assert(std::is_constructible_v<bool, sluice::result<int>>);
    static_assert(!std::is_convertible_v<sluice::result<int>, bool>);
    static_assert(!std::is_convertible_v<sluice::result<void>, bool>);
    const sluice::result<int> failed = failure_at(1);
    CHECK_FALSE(failed);
    CHECK_FALSE(failed.ok());
  }

  TEST_CASE("a result made from a failure gives that failure back from error()") {
    const sluice::result<std::string> r = failure_at(3);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().task == "fetch");
    CHECK(r.error().sequence == 3);
    CHECK(r.error().input_text == "3");
    CHECK(r.error().attempts.size() == 1);
    CHECK(item_of(r.error().error) == 3);
  }

  TEST_CASE("value() of a failed result rethrows the item's own exception object") {
    const sluice::result<int> r = failure_at(5);
    const std::exception_ptr thrown = error_of([&] { static_cast<void>(r.value()); });
    CHECK(thrown == r.error().error);  // the very object, not a copy
    CHECK(item_of(thrown) == 5);
    CHECK_THROWS_AS(static_cast<void>(sluice::result<int>{failure_at(5)}.value()), test_error);
  }

  TEST_CASE("value() of a failed result without an error throws std::logic_error naming the item") {
    sluice::failure empty;
    empty.task = "fetch";
    empty.sequence = 9;
    const sluice::result<int> r = empty;
    CHECK_THROWS_WITH_AS(static_cast<void>(r.value()), doctest::Contains("item 9"),
                         std::logic_error);
  }

  TEST_CASE("error() of a successful result throws std::logic_error") {
    const sluice::result<int> r = 1;
    CHECK_THROWS_AS(static_cast<void>(r.error()), std::logic_error);
    const sluice::result<void> done;
    CHECK_THROWS_AS(static_cast<void>(done.error()), std::logic_error);
  }

  TEST_CASE("a result holds a move-only value and gives it up from an rvalue") {
    sluice::result<std::unique_ptr<int>> r = std::make_unique<int>(4);
    REQUIRE(r.ok());
    CHECK(*r.value() == 4);
    static_assert(std::is_same_v<decltype(std::move(r).value()), std::unique_ptr<int>&&>);
    const std::unique_ptr<int> taken = std::move(r).value();
    CHECK(*taken == 4);
  }

  TEST_CASE("a result holds a value of a type without a default constructor") {
    static_assert(!std::is_default_constructible_v<labelled>);
    const sluice::result<labelled> r = labelled{8};
    CHECK(r.value() == labelled{8});
    const sluice::result<labelled> failed = failure_at(2);
    CHECK_FALSE(failed.ok());
  }

  TEST_CASE("a result of bool keeps ok() apart from the value it holds") {
    const sluice::result<bool> no = false;
    CHECK(no.ok());
    CHECK(no.value() == false);
  }

  TEST_CASE("result<void> made by default is ok and its value() returns nothing") {
    const sluice::result<void> done;
    CHECK(done.ok());
    CHECK(static_cast<bool>(done));
    static_assert(std::is_void_v<decltype(done.value())>);
    CHECK_NOTHROW(done.value());
  }

  TEST_CASE("result<void> made from a failure rethrows the item's exception from value()") {
    const sluice::result<void> failed = failure_at(6);
    CHECK_FALSE(failed.ok());
    CHECK(failed.error().sequence == 6);
    const std::exception_ptr thrown = error_of([&] { failed.value(); });
    CHECK(thrown == failed.error().error);
    CHECK(item_of(thrown) == 6);
  }

  TEST_CASE("a result can be copied and moved like the value it holds") {
    const sluice::result<std::string> a = std::string("text");
    sluice::result<std::string> b = a;
    CHECK(b.value() == "text");
    const sluice::result<std::string> c = std::move(b);
    CHECK(c.value() == "text");
    sluice::result<std::string> d = failure_at(1);
    d = c;
    CHECK(d.ok());
    CHECK(d.value() == "text");
  }
}  // TEST_SUITE
