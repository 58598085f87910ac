// Tests of <sluice/errors.hpp> and of how errors travel: the first exception stops the run and
// reaches the caller as the same object with its original type; on_error handlers receive a
// sluice::failure and keep the run going; sluice::skip drops failed items.
#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/concurrency_tracker.hpp"
#include "common/fixtures.hpp"
#include "common/shape_cases.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::counted_numbers;
using sluice_test::item_of;
using sluice_test::numbers;
using sluice_test::plain_error;
using sluice_test::test_error;
using sluice_test::twice;

namespace {

constexpr int many = 100'000;  // far more items than a stopped run may produce

// Collects the failures a handler receives, from any worker thread.
class failure_log {
 public:
  void add(const sluice::failure& f) {
    std::lock_guard lock(mutex_);
    failures_.push_back(f);
  }
  std::vector<sluice::failure> by_sequence() const {
    std::lock_guard lock(mutex_);
    std::vector<sluice::failure> out = failures_;
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<sluice::failure> failures_;
};

struct unprintable {  // no operator<<
  int value;
};

// Runs `pipeline` over `many` items once per subcase, to see its test_error both ways a caller
// can: from run(...) and from the stream's pull; hands what was caught to `check`.
template <class Pipeline, class Check>
void expect_test_error_both_ways(const Pipeline& pipeline, std::atomic<std::int64_t>& produced,
                                 Check check) {
  SUBCASE("from run(...)") {
    try {
      static_cast<void>((pipeline > sluice::count())(many, &produced));
      FAIL("the run did not throw");
    } catch (const test_error& e) {
      check(e);
    }
  }
  SUBCASE("from the stream's pull") {
    auto items = pipeline(many, &produced);
    try {
      static_cast<void>(sluice_test::drain(items));
      FAIL("the stream did not throw");
    } catch (const test_error& e) {
      check(e);
    }
    CHECK(items.next() == std::nullopt);  // the run is over
  }
}

}  // namespace

TEST_SUITE("errors") {
  TEST_CASE(
      "an exception in a task at concurrency 4 reaches the caller as the same object, and the run "
      "stops" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<std::int64_t> produced{0};
    std::atomic<const void*> thrown{nullptr};
    sluice_test::concurrency_tracker calls;
    auto fragile = [&](int x) {
      auto in_call = calls.track();
      if (x == 100) {
        try {
          throw test_error{x};
        } catch (const test_error& e) {
          thrown = &e;
          throw;  // the same object
        }
      }
      return twice(x);
    };
    auto pipeline =
        sluice::task(counted_numbers, sluice::branch) | sluice::task(fragile, {.concurrency = 4});

    expect_test_error_both_ways(pipeline, produced, [&](const test_error& e) {
      CHECK(&e == thrown.load());
      CHECK(e.item == 100);
    });

    const std::size_t calls_when_caught = calls.calls();
    std::this_thread::sleep_for(20ms);
    CHECK(calls.calls() == calls_when_caught);  // no call starts after the caller has the error
    CHECK(calls.current() == 0);
    CHECK(produced.load() < many / 10);
  }

  TEST_CASE("when several calls fail at once, the caller gets one of their exceptions" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto fragile = [](int x) {
      if (x >= 10) throw test_error{x};
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(fragile, {.concurrency = 8})) >
               sluice::count();

    try {
      static_cast<void>(run(many));
      FAIL("the run did not throw");
    } catch (const test_error& e) {
      CHECK(e.item >= 10);
    }
  }

  TEST_CASE("an exception of a type not derived from std::exception reaches the caller unchanged" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto fragile = [](int x) {
      if (x == 3) throw plain_error{x};
      return x;
    };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(fragile, {.concurrency = 2})) >
               sluice::count();

    try {
      static_cast<void>(run(100));
      FAIL("the run did not throw");
    } catch (const plain_error& e) {
      CHECK(e.item == 3);
    }
  }

  TEST_CASE("an exception from the producer function reaches the caller with its type" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};

    SUBCASE("a branch producer that throws before returning its range") {
      auto run =
          (sluice::task([](int n) -> std::vector<int> { throw test_error{n}; }, sluice::branch) |
           sluice::task(twice)) > sluice::to_vector();
      CHECK_THROWS_AS(static_cast<void>(run(7)), test_error);
    }
    SUBCASE("a producer without branch") {
      auto run = sluice::task([](int n) -> int { throw test_error{n}; }) | sluice::task(twice);
      auto items = run(7);
      CHECK_THROWS_AS(static_cast<void>(items.next()), test_error);
    }
  }

  TEST_CASE(
      "an exception thrown by the sink reaches the caller with its type, and the producer stops" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto pipeline =
        sluice::task(counted_numbers, sluice::branch) | sluice::task(twice, {.concurrency = 2});

    SUBCASE("a user sink") {
      auto picky = [](sluice::stream<int>& in) {
        for (int x : in)
          if (x == 10) throw test_error{x};
        return 0;
      };
      CHECK_THROWS_AS(static_cast<void>((pipeline > picky)(many, &produced)), test_error);
    }
    SUBCASE("the function of for_each") {
      auto picky = sluice::for_each([](int x) {
        if (x == 10) throw test_error{x};
      });
      CHECK_THROWS_AS((pipeline > picky)(many, &produced), test_error);
    }
    SUBCASE("the operation of reduce") {
      auto picky = sluice::reduce(0, [](int total, int x) {
        if (x == 10) throw test_error{x};
        return total + x;
      });
      CHECK_THROWS_AS(static_cast<void>((pipeline > picky)(many, &produced)), test_error);
    }
    CHECK(produced.load() < many / 10);
  }

  TEST_CASE(
      "on_error receives a failure with the task, the producer position, the error, one attempt "
      "and the input" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    failure_log log;
    auto fragile = [](int x) {
      if (x == 7 || x == 13) throw test_error{x};
      return x;
    };
    auto run =
        (sluice::task(numbers, sluice::branch) |
         sluice::task(fragile, {.concurrency = 4, .on_error = [&log](const sluice::failure& f) {
                                  log.add(f);
                                }})) > sluice::to_vector();

    std::vector<int> out = run(20);

    std::sort(out.begin(), out.end());
    std::vector<int> expected;
    for (int x = 0; x < 20; ++x)
      if (x != 7 && x != 13) expected.push_back(x);
    CHECK(out == expected);  // the failed items are dropped, the rest go on

    std::vector<sluice::failure> failures = log.by_sequence();
    REQUIRE(failures.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      const sluice::failure& f = failures[i];
      const int item = i == 0 ? 7 : 13;
      CAPTURE(item);
      CHECK(f.task == "task#2");
      CHECK(f.sequence == static_cast<std::uint64_t>(item));
      CHECK(item_of(f.error) == item);
      REQUIRE(f.attempts.size() == 1);
      CHECK(f.attempts.front() == f.error);
      REQUIRE(f.input.has_value());
      CHECK(std::any_cast<int>(f.input) == item);
      CHECK(f.input_text == std::to_string(item));
    }
  }

  TEST_CASE("failure::sequence is the item's position in the producer's output, not its value" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    failure_log log;
    auto from_hundred = [](int n) {
      std::vector<int> out;
      for (int i = 0; i < n; ++i) out.push_back(100 + i);
      return out;
    };
    auto fragile = [](int x) {
      if (x == 107) throw test_error{x};
      return x;
    };
    auto run =
        (sluice::task(from_hundred, sluice::branch) | sluice::task(twice, {.concurrency = 3}) |
         sluice::task([](int x) { return x / 2; }) |
         sluice::task(fragile, {.name = "checker", .on_error = [&log](const sluice::failure& f) {
                                  log.add(f);
                                }})) > sluice::count();

    CHECK(run(20) == 19);

    std::vector<sluice::failure> failures = log.by_sequence();
    REQUIRE(failures.size() == 1);
    CHECK(failures[0].task == "checker");
    CHECK(failures[0].sequence == 7);
    CHECK(failures[0].input_text == "107");
  }

  TEST_CASE(
      "a branch task whose range throws while it is iterated reports the same failure ordered and "
      "unordered" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // The range is lazy: it throws after its first element, once the call itself has returned.
    auto explode_at_3 = [](std::string s) -> sluice::generator<std::string> {
      co_yield s;
      if (s == "3") throw test_error{3};
      co_yield s + "!";
    };
    auto as_text = [](int x) { return std::to_string(x); };
    for (const bool ordered : {false, true}) {
      CAPTURE(ordered);
      failure_log log;
      auto run = (sluice::task(numbers, sluice::branch) | sluice::task(as_text) |
                  sluice::task(explode_at_3, sluice::branch,
                               {.name = "explode", .concurrency = 4, .ordered = ordered,
                                .on_error = [&log](const sluice::failure& f) { log.add(f); }})) >
                 sluice::count();

      CHECK(run(6) == 11);  // 6 first elements, 5 second ones

      std::vector<sluice::failure> failures = log.by_sequence();
      REQUIRE(failures.size() == 1);
      const sluice::failure& f = failures[0];
      CHECK(f.task == "explode");
      CHECK(f.sequence == 3);
      CHECK(item_of(f.error) == 3);
      REQUIRE(f.attempts.size() == 1);
      CHECK(f.attempts.front() == f.error);
      REQUIRE(f.input.has_value());
      CHECK(std::any_cast<std::string>(f.input) == "3");
      CHECK(f.input_text == "3");
    }
  }

  TEST_CASE(
      "failure::sequence after a join is 0, after a batch the sequence of the batch's first item, "
      "and after a branch task that of the item the element came from" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    failure_log log;
    auto handler = [&log](const sluice::failure& f) { log.add(f); };
    auto sequences = [&log] {
      std::vector<std::uint64_t> out;
      for (const sluice::failure& f : log.by_sequence()) out.push_back(f.sequence);
      return out;
    };

    SUBCASE("join") {
      auto gather = [](sluice::stream<int>& in) {
        std::vector<int> all;
        for (int x : in) all.push_back(x);
        return all;
      };
      auto odd_fails = [](int x) {
        if (x % 2 == 1) throw test_error{x};
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) |
                  sluice::task(gather, sluice::join | sluice::branch) |
                  sluice::task(odd_fails, {.on_error = handler})) > sluice::count();
      CHECK(run(6) == 3);
      CHECK(sequences() == std::vector<std::uint64_t>{0, 0, 0});
    }
    SUBCASE("batch") {
      auto fails_holding_4_or_7 = [](const std::vector<int>& batch) {
        for (int x : batch)
          if (x == 4 || x == 7) throw test_error{x};
        return batch.size();
      };
      auto run = (sluice::task(numbers, sluice::branch) | sluice::batch(3) |
                  sluice::task(fails_holding_4_or_7, {.on_error = handler})) > sluice::count();
      CHECK(run(10) == 2);  // {0, 1, 2} and {9} pass
      CHECK(sequences() == std::vector<std::uint64_t>{3, 6});
    }
    SUBCASE("branch") {
      auto three_of = [](int x) { return std::vector<int>{10 * x, 10 * x + 1, 10 * x + 2}; };
      auto fails_on_1 = [](int x) {
        if (x % 10 == 1) throw test_error{x};
        return x;
      };
      auto run = (sluice::task(numbers, sluice::branch) | sluice::task(three_of, sluice::branch) |
                  sluice::task(fails_on_1, {.on_error = handler})) > sluice::count();
      CHECK(run(3) == 6);
      CHECK(sequences() == std::vector<std::uint64_t>{0, 1, 2});
    }
  }

  TEST_CASE("failure::input holds a copy of a string input and input_text renders it" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    failure_log log;
    auto fragile = [](const std::string& s) -> std::size_t {
      if (s == "bad") throw test_error{0};
      return s.size();
    };
    auto run =
        (sluice::from(std::vector<std::string>{"good", "bad", "fine"}) |
         sluice::task(fragile, {.on_error = [&log](const sluice::failure& f) { log.add(f); }})) >
        sluice::to_vector();

    CHECK(run() == std::vector<std::size_t>{4, 4});

    std::vector<sluice::failure> failures = log.by_sequence();
    REQUIRE(failures.size() == 1);
    CHECK(failures[0].sequence == 1);
    REQUIRE(failures[0].input.has_value());
    CHECK(std::any_cast<std::string>(failures[0].input) == "bad");
    CHECK(failures[0].input_text == "bad");
  }

  TEST_CASE("on_error works for inputs that cannot be copied or printed" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    failure_log log;
    auto box = [](int x) { return std::make_unique<int>(x); };
    auto open_box = [](std::unique_ptr<int> b) {
      if (*b == 2) throw test_error{2};
      return *b;
    };
    auto wrap = [](int x) { return unprintable{x}; };
    auto unwrap = [](unprintable u) {
      if (u.value == 3) throw test_error{3};
      return u.value;
    };
    auto handler = [&log](const sluice::failure& f) { log.add(f); };
    auto run = (sluice::task(numbers, sluice::branch) | sluice::task(box) |
                sluice::task(open_box, {.on_error = handler}) | sluice::task(wrap) |
                sluice::task(unwrap, {.on_error = handler})) > sluice::to_vector();

    CHECK(run(5) == std::vector<int>{0, 1, 4});

    std::vector<sluice::failure> failures = log.by_sequence();
    REQUIRE(failures.size() == 2);
    CHECK(failures[0].task == "task#3");
    CHECK_FALSE(failures[0].input.has_value());  // a std::unique_ptr is not copyable
    CHECK(failures[1].task == "task#5");
    CHECK(item_of(failures[1].error) == 3);
  }

  TEST_CASE("an on_error handler that rethrows stops the run with that exception" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<std::int64_t> produced{0};
    auto fragile = [](int x) {
      if (x == 50) throw test_error{x};
      return x;
    };

    SUBCASE("the failure's own error") {
      auto rethrow = [](const sluice::failure& f) { std::rethrow_exception(f.error); };
      auto run = (sluice::task(counted_numbers, sluice::branch) |
                  sluice::task(fragile, {.concurrency = 2, .on_error = rethrow})) > sluice::count();
      try {
        static_cast<void>(run(many, &produced));
        FAIL("the run did not throw");
      } catch (const test_error& e) {
        CHECK(e.item == 50);
      }
    }
    SUBCASE("an exception of the handler's own") {
      auto escalate = [](const sluice::failure& f) {
        throw std::logic_error{"gave up on " + f.input_text};
      };
      auto run =
          (sluice::task(counted_numbers, sluice::branch) |
           sluice::task(fragile, {.concurrency = 2, .on_error = escalate})) > sluice::count();
      CHECK_THROWS_WITH_AS(static_cast<void>(run(many, &produced)), "gave up on 50",
                           std::logic_error);
    }
    CHECK(produced.load() < many / 10);
  }

  TEST_CASE(
      "sluice::skip drops failed items, the run completes with the others, and stats count them as "
      "failed" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto fragile = [](int x) {
      if (x % 10 == 3) throw test_error{x};
      return x;
    };
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::task(fragile, {.concurrency = 3, .on_error = sluice::skip});

    auto items = run(100);
    std::vector<int> out = sluice_test::collect(items);

    std::sort(out.begin(), out.end());
    std::vector<int> expected;
    for (int x = 0; x < 100; ++x)
      if (x % 10 != 3) expected.push_back(x);
    CHECK(out == expected);
    std::vector<sluice::task_stats> stats = items.stats();
    REQUIRE(stats.size() == 2);
    CHECK(stats[1].failed == 10);
    CHECK(stats[1].items_in == 100);
    CHECK(stats[1].items_out == 90);
  }

  TEST_CASE_TEMPLATE(
      "an exception thrown inside a shape reaches the caller with its original type, and the run "
      "stops" *
          doctest::timeout(60),
      Shape, SLUICE_TEST_SHAPES, sluice_test::join_total_case) {
    sluice_test::watchdog guard{60s};
    std::atomic<std::int64_t> produced{0};
    auto fragile = [](int x) {
      if (x == 5) throw test_error{x};
      return x;
    };
    auto pipeline = Shape::make(fragile);

    expect_test_error_both_ways(pipeline, produced,
                                [](const test_error& e) { CHECK(e.item == 5); });
    CHECK(produced.load() < many / 10);
  }

  TEST_CASE("message() of a captured std::exception is its what()") {
    CHECK(sluice::message(std::make_exception_ptr(std::out_of_range("index 7"))) == "index 7");
    CHECK(sluice::message(std::make_exception_ptr(test_error(3))) ==
          std::string(test_error(3).what()));
  }

  TEST_CASE("message() of a thrown value that is no std::exception names its type") {
    CHECK(sluice::message(std::make_exception_ptr(42)) == "unknown exception of type 'int'");
    CHECK(sluice::message(std::make_exception_ptr(unprintable{1})) ==
          "unknown exception of type '(anonymous namespace)::unprintable'");
  }

  TEST_CASE("message() of a null exception_ptr says that there is none") {
    CHECK(sluice::message(std::exception_ptr{}) == "no exception (null exception_ptr)");
  }

  TEST_CASE("message() gives an on_error handler the text of each failed item's error" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::mutex mutex;
    std::vector<std::string> messages;
    auto run = sluice::task(numbers, sluice::branch) |
               sluice::task(
                   [](int x) {
                     if (x == 2) throw std::runtime_error("two is not allowed");
                     if (x == 4) throw x;
                     return x;
                   },
                   {.concurrency = 2,
                    .on_error =
                        [&](const sluice::failure& f) {
                          std::lock_guard lock(mutex);
                          messages.push_back(sluice::message(f.error));
                        }}) |
               sluice::count();
    CHECK(run(6) == 4);
    std::sort(messages.begin(), messages.end());
    CHECK(messages ==
          std::vector<std::string>{"two is not allowed", "unknown exception of type 'int'"});
  }
}  // TEST_SUITE

TEST_SUITE("errors of worker processes") {
  TEST_CASE("worker_crashed names the task and the signal that killed its worker") {
    const auto e = sluice::worker_crashed::killed("task 'parse' (task#2)", SIGSEGV);
    CHECK(e.killed_by_signal());
    CHECK(e.signal() == SIGSEGV);
    CHECK(e.exit_code() == -1);
    const std::string what = e.what();
    CHECK(what.find("task 'parse' (task#2)") != std::string::npos);
    CHECK(what.find("killed by signal " + std::to_string(SIGSEGV) + " (SIGSEGV") !=
          std::string::npos);
    CHECK(std::string(sluice::worker_crashed::killed("task#3", SIGABRT).what()).find("SIGABRT") !=
          std::string::npos);
  }

  TEST_CASE("worker_crashed says the exit code of a worker that exited mid-item, 0 included") {
    for (const int code : {0, 3, 255}) {
      CAPTURE(code);
      const auto e = sluice::worker_crashed::exited("task#4", code);
      CHECK_FALSE(e.killed_by_signal());
      CHECK(e.signal() == 0);
      CHECK(e.exit_code() == code);
      CHECK(std::string(e.what()) == "sluice: task#4: its worker process exited with code " +
                                         std::to_string(code) + " before it finished an item");
    }
  }

  TEST_CASE("worker_crashed names a signal without a name by its number") {
    const auto e = sluice::worker_crashed::killed("task#5", 1000);
    CHECK(std::string(e.what()).find("killed by signal 1000 while") != std::string::npos);
  }

  TEST_CASE("remote_error keeps the original's what() and its type's name") {
    const sluice::remote_error e("std::out_of_range", "vector::at: index 7");
    CHECK(std::string(e.what()) == "vector::at: index 7");
    CHECK(e.type_name() == "std::out_of_range");
    const std::runtime_error& base = e;  // caught as any runtime_error too
    CHECK(std::string(base.what()) == "vector::at: index 7");
  }

  TEST_CASE("the current exception is described by its demangled type and its what()") {
    try {
      throw std::out_of_range("index 7");
    } catch (...) {
      const auto d = sluice::detail::describe_current_exception();
      CHECK(d.type_name == "std::out_of_range");
      CHECK(d.what == "index 7");
    }
    try {
      throw test_error(3);
    } catch (...) {
      const auto d = sluice::detail::describe_current_exception();
      CHECK(d.type_name.find("test_error") != std::string::npos);
    }
  }

  TEST_CASE("a thrown value that is not a std::exception is described as such") {
    try {
      throw 42;
    } catch (...) {
      const auto d = sluice::detail::describe_current_exception();
      CHECK(d.type_name == "int");
      CHECK(d.what == "a thrown int, not derived from std::exception");
    }
    const auto none = sluice::detail::describe_current_exception();
    CHECK(none.what == "no exception is being handled");
  }
}
