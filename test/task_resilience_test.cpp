// Tests of the resilience options of <sluice/task.hpp>: retry, rate, cache, timeout and breaker
// around each item's call, in the order cache -> rate -> retry -> breaker -> timeout -> call,
// with every attempt in failure::attempts and retried attempts counted in task_stats; and a
// task's cache_key, which keys its cache by a projection of the item, in threads, in worker
// processes and on disk.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/detail/resilience/deadline.hpp>
#include <sluice/sluice.hpp>

#include "common/call_log.hpp"
#include "common/fixtures.hpp"
#include "common/gate.hpp"
#include "common/processes.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice_test::numbers;

namespace {

using sluice_test::call_log;

// Collects the failures an on_error handler receives.
struct failures {
  std::mutex mu;
  std::vector<sluice::failure> seen;
  std::function<void(const sluice::failure&)> handler() {
    return [this](const sluice::failure& f) {
      std::lock_guard lock(mu);
      seen.push_back(f);
    };
  }
};

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

sluice::retry_policy quick_retry(std::size_t attempts) {
  return {.max_attempts = attempts, .min_delay = 0ms, .max_delay = 0ms, .jitter = false};
}

// An order as an ETL job reads it. What a customer lookup returns depends on `customer` alone.
// It has neither absl::Hash nor ==: the whole order cannot be a cache key.
struct order {
  int id = 0;
  std::string customer;
  double amount = 0;
};

std::string customer_name(int i) { return std::string("customer ") + std::to_string(i); }

// `count` orders, order i of customer_name(i % customers), each with its own id and amount.
std::vector<order> orders(int count, int customers) {
  std::vector<order> all;
  for (int i = 0; i < count; ++i) all.push_back({i, customer_name(i % customers), 1.5 * i});
  return all;
}

// The slow remote call a cache saves: what the lookup of `customer` returns.
std::string region_of(const std::string& customer) { return std::string("region of ") + customer; }

// What a lookup task passes on for orders(count, customers), in order.
std::vector<std::string> regions(int count, int customers) {
  std::vector<std::string> all;
  for (const order& o : orders(count, customers)) all.push_back(region_of(o.customer));
  return all;
}

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

// A key with absl::Hash and == but no sluice::codec.
struct customer_key {
  std::string name;
  friend bool operator==(const customer_key&, const customer_key&) = default;
  template <class H>
  friend H AbslHashValue(H h, const customer_key& k) {
    return H::combine(std::move(h), k.name);
  }
};

// A fresh directory under the system's temporary directory, removed with everything in it.
class temp_dir {
 public:
  temp_dir()
      : path_(std::filesystem::temp_directory_path() /
              (std::string("sluice-cache-key-test-") + std::to_string(::getpid()) + "-" +
               std::to_string(next_.fetch_add(1)))) {}
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string str() const { return path_.string(); }
  std::size_t entries() const {
    std::size_t count = 0;
    for (const auto& file : std::filesystem::directory_iterator(path_)) {
      if (file.path().extension() == ".entry") ++count;
    }
    return count;
  }

 private:
  static inline std::atomic<int> next_{0};
  std::filesystem::path path_;
};

}  // namespace

// Orders cross to a process task's workers by codec.
template <>
struct sluice::codec<order> {
  static void encode(const order& o, sluice::writer& w) {
    w.write(o.id);
    w.write(o.customer);
    w.write(o.amount);
  }
  static order decode(sluice::reader& r) {
    order o;
    o.id = r.read<int>();
    o.customer = r.read<std::string>();
    o.amount = r.read<double>();
    return o;
  }
};

TEST_SUITE("task resilience") {
  TEST_CASE("a task's retry calls a failing item again until it succeeds" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto flaky = [&](int x) {
      if (calls.add(x) < 3) throw std::runtime_error("not yet");
      return 2 * x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(flaky, {.concurrency = 4, .retry = quick_retry(3)});
    auto out = p(50);
    std::vector<int> got;
    for (int x : out) got.push_back(x);
    std::sort(got.begin(), got.end());
    std::vector<int> expected;
    for (int i = 0; i < 50; ++i) expected.push_back(2 * i);
    CHECK(got == expected);
    CHECK(calls.total() == 150);
    CHECK(out.stats()[1].retried == 100);  // two retried attempts per item
    CHECK(out.stats()[1].failed == 0);
  }

  TEST_CASE(
      "a failed item's failure lists every attempt, oldest first, and its error is the last "
      "attempt's own exception" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    failures handled;
    auto always = [&](int x) -> int {
      throw std::runtime_error("attempt " + std::to_string(calls.add(x)));
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(always, {.name = "fetch",
                                   .retry = quick_retry(3),
                                   .on_error = handled.handler()}) > sluice::count();

    CHECK(p(4) == 0);
    REQUIRE(handled.seen.size() == 4);
    for (const sluice::failure& f : handled.seen) {
      CHECK(f.task == "fetch");
      REQUIRE(f.attempts.size() == 3);
      CHECK(what_of(f.attempts[0]) == "attempt 1");
      CHECK(what_of(f.attempts[1]) == "attempt 2");
      CHECK(what_of(f.attempts[2]) == "attempt 3");
      CHECK(f.error == f.attempts.back());
      CHECK(what_of(f.error) == "attempt 3");
    }
  }

  TEST_CASE(
      "without on_error, an item whose retries run out stops the run with its last "
      "attempt's own exception, its type unchanged" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto bad_seven = [&](int x) {
      if (x == 7) throw sluice_test::test_error{100 + calls.add(x)};  // 101, then 102
      return x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(bad_seven, {.retry = quick_retry(2)}) > sluice::count();
    try {
      p(20);
      FAIL("the run should have failed");
    } catch (const sluice::all_failed&) {
      FAIL("a task's retry must not wrap the item's exception in all_failed");
    } catch (const sluice_test::test_error& e) {
      CHECK(e.item == 102);  // the second, last attempt's
    }
    CHECK(calls.of(7) == 2);
  }

  TEST_CASE("a task's retry rethrows the last attempt's all_failed as it is, not wrapped again" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    failures handled;
    // Each attempt is a fallback sequence that throws its own all_failed.
    auto keys = sluice::with_fallback(
        [&](int x, int key) -> int { throw sluice_test::test_error{10 * calls.add(x) + key}; },
        std::vector<int>{1, 2});
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(keys, {.retry = quick_retry(2), .on_error = handled.handler()}) >
                 sluice::count();
    CHECK(p(1) == 0);
    REQUIRE(handled.seen.size() == 1);
    const sluice::failure& f = handled.seen.front();
    REQUIRE(f.attempts.size() == 2);
    CHECK(f.error == f.attempts.back());
    try {
      std::rethrow_exception(f.error);
    } catch (const sluice::all_failed& e) {
      REQUIRE(e.errors().size() == 2);  // the last attempt's two keys, not the two attempts
      CHECK(sluice_test::item_of(e.errors()[0]) == 31);
      CHECK(sluice_test::item_of(e.errors()[1]) == 42);
    }
  }

  TEST_CASE("a task with one attempt reports its own exception unchanged" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto bad = [](int x) -> int { throw std::out_of_range("item " + std::to_string(x)); };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(bad, {.retry = quick_retry(1)}) > sluice::count();
    CHECK_THROWS_AS(p(3), std::out_of_range);
  }

  TEST_CASE("a task's cache outlives a run: the second run of the pipeline makes no call" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    auto square = [&](int x) {
      calls.add(x);
      return x * x;
    };
    const auto p = sluice::task(numbers, sluice::branch) |
                   sluice::task(square, {.concurrency = 2, .cache = sluice::cache_policy{}}) >
                       sluice::reduce(0, [](int total, int x) { return total + x; });
    const int first = p(30);
    const auto copy = p;  // copies of the pipeline object share the cache
    const int second = copy(30);
    CHECK(first == second);
    CHECK(calls.total() == 30);
    for (int i = 0; i < 30; ++i) CHECK(calls.of(i) == 1);
  }

  TEST_CASE(
      "a task's unusable cache directory is rejected when the pipeline is called, naming the "
      "task, the option and the path" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                       ("sluice-task-cache-file-" + std::to_string(::getpid()));
    std::ofstream{file} << "not a directory";
    const std::string under_file = (file / "cache").string();
    auto square = [](int x) { return x * x; };
    struct example {
      std::string name;
      std::string who;
    };
    for (const example& ex : {example{"geo", "task 'geo' (task#2)"}, example{"", "task#2"}}) {
      CAPTURE(ex.who);
      const auto p =
          sluice::task(numbers, sluice::branch) |
          sluice::task(square,
                       {.name = ex.name, .cache = sluice::cache_policy{.directory = under_file}}) >
              sluice::count();
      const std::string expected = "sluice: " + ex.who + " has cache_policy.directory \"" +
                                   under_file + "\", which cannot be used: ";
      CHECK_THROWS_WITH_AS(p(3), doctest::Contains(expected.c_str()), std::runtime_error);
    }
    std::filesystem::remove(file);
  }

  TEST_CASE("a task's cache keeps no failure" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    call_log calls;
    failures handled;
    auto first_fails = [&](int x) {
      if (calls.add(x) == 1) throw std::runtime_error("first call");
      return x;
    };
    const auto p = sluice::task(numbers, sluice::branch) |
                   sluice::task(first_fails, {.cache = sluice::cache_policy{},
                                              .on_error = handled.handler()}) > sluice::count();
    CHECK(p(5) == 0);  // every item failed once
    CHECK(p(5) == 5);  // called again, not answered by the cache
    CHECK(p(5) == 5);  // now cached
    CHECK(calls.total() == 10);
  }

  TEST_CASE("a task's rate limit spaces its calls, and a cache hit takes no token" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    auto same = [](int x) { return x; };
    const auto p = sluice::task(numbers, sluice::branch) |
                   sluice::task(same, {.rate = sluice::rate_limit{10.0, 1, &fake},
                                       .cache = sluice::cache_policy{}}) > sluice::count();
    CHECK(p(5) == 5);
    const auto after_first = fake.sleeps();
    CHECK(after_first.size() == 4);  // the first token was in the full bucket
    for (auto slept : after_first) CHECK(slept == 100ms);
    CHECK(p(5) == 5);                                   // every item hits the cache
    CHECK(fake.sleeps().size() == after_first.size());  // and waits for no token
  }

  TEST_CASE(
      "a task's timeout stops a call that takes a stop_token and fails it with "
      "timeout_error" *
      doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    failures handled;
    std::atomic<int> asked_to_stop{0};
    auto waits = [&](int x, std::stop_token stop) {
      // Waits until asked to stop, for `patience` at most.
      sluice_test::eventually([&] { return stop.stop_requested(); });
      if (stop.stop_requested()) asked_to_stop.fetch_add(1);
      return x;
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(
                 waits, {.retry = quick_retry(2), .timeout = 20ms, .on_error = handled.handler()}) >
                 sluice::count();
    CHECK(p(2) == 0);
    CHECK(asked_to_stop.load() == 4);  // two items, two attempts each
    REQUIRE(handled.seen.size() == 2);
    for (const sluice::failure& f : handled.seen) {
      REQUIRE(f.attempts.size() == 2);
      CHECK_THROWS_AS(std::rethrow_exception(f.attempts[0]), sluice::timeout_error);
      CHECK_THROWS_AS(std::rethrow_exception(f.attempts[1]), sluice::timeout_error);
    }
  }

  TEST_CASE("a timeout of milliseconds::max() never expires, not even after a later deadline" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    // Each call waits until a 1 ms deadline armed after its attempt's own has passed. The timer
    // fires deadlines in order, so an attempt deadline that overflowed into the past would have
    // stopped the call first; a saturated one never does.
    auto outlasts = [](int x, std::stop_token attempt) {
      std::stop_source later;
      {
        const sluice::detail::deadline_guard one_ms(later, 1ms);
        std::mutex mu;
        std::condition_variable_any passed;
        std::unique_lock lock(mu);
        passed.wait(lock, later.get_token(), [] { return false; });
      }
      return attempt.stop_requested() ? -1 : x;
    };
    for (const std::chrono::milliseconds timeout :
         {std::chrono::milliseconds::max(), std::chrono::milliseconds{24h * 365 * 1000}}) {
      CAPTURE(timeout.count());
      auto p = sluice::task(numbers, sluice::branch) |
               sluice::task(outlasts, {.concurrency = 2, .timeout = timeout}) > sluice::to_vector();
      std::vector<int> out = p(4);
      std::sort(out.begin(), out.end());
      CHECK(out == std::vector<int>{0, 1, 2, 3});
    }
  }

  TEST_CASE("a timeout leaves alone an attempt that ends in time" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto quick = [](int x, std::stop_token stop) { return stop.stop_requested() ? -1 : x; };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(quick, {.concurrency = 3, .timeout = 10s}) >
                 sluice::reduce(0, [](int total, int x) { return total + x; });
    CHECK(p(100) == 4950);
  }

  TEST_CASE("a task's breaker opens after failures in a row and later items fail fast" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    std::atomic<int> calls{0};
    failures handled;
    const sluice::circuit_breaker breaker{
        {.consecutive_failures = 3, .open_for = 1h, .clock = &fake}};
    auto down = [&](int) -> int {
      calls.fetch_add(1);
      throw std::runtime_error("service down");
    };
    auto p = sluice::task(numbers, sluice::branch) |
             sluice::task(down, {.breaker = breaker, .on_error = handled.handler()});
    auto out = p(10);
    int outputs = 0;
    for (int x : out) outputs += x * 0 + 1;
    CHECK(outputs == 0);
    CHECK(calls.load() == 3);
    REQUIRE(handled.seen.size() == 10);
    int refused = 0;
    for (const sluice::failure& f : handled.seen) {
      try {
        std::rethrow_exception(f.error);
      } catch (const sluice::circuit_open&) {
        ++refused;
      } catch (const std::runtime_error&) {
      }
    }
    CHECK(refused == 7);
    REQUIRE(out.stats()[1].circuit.has_value());
    CHECK(*out.stats()[1].circuit == sluice::circuit_state::open);
    CHECK(breaker.state() == sluice::circuit_state::open);
  }

  TEST_CASE("invalid resilience options are rejected naming the task" * doctest::timeout(30)) {
    auto same = [](int x) { return x; };
    SUBCASE("retry with no attempts") {
      auto p =
          sluice::task(numbers, sluice::branch) |
          sluice::task(same, {.name = "fetch", .retry = sluice::retry_policy{.max_attempts = 0}}) >
              sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("task 'fetch' (task#2)"), std::invalid_argument);
    }
    SUBCASE("a negative timeout") {
      auto p = sluice::task(numbers, sluice::branch) |
               sluice::task(same, {.timeout = -5ms}) > sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("task#2"), std::invalid_argument);
    }
    SUBCASE("resilience on the producer") {
      auto p = sluice::task(numbers, sluice::branch, {.retry = quick_retry(2)}) |
               sluice::task(same) > sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("producer"), std::invalid_argument);
    }
    SUBCASE("a cache on an input that cannot be a key") {
      struct opaque {
        int value = 0;
      };
      auto make = [](int x) { return opaque{x}; };
      auto unwrap = [](const opaque& o) { return o.value; };
      auto p = sluice::task(numbers, sluice::branch) | sluice::task(make) |
               sluice::task(unwrap, {.cache = sluice::cache_policy{}}) > sluice::count();
      CHECK_THROWS_WITH_AS(p(1), doctest::Contains("cannot be a cache key"), std::invalid_argument);
    }
  }
}

TEST_SUITE("task cache_key") {
  TEST_CASE("a cache_key member keys the cache: 1000 orders of 10 customers make 10 calls" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::atomic<int> calls{0};
    auto lookup = [&](const order& o) {
      calls.fetch_add(1);
      return region_of(o.customer);
    };
    const auto p =
        sluice::task(orders, sluice::branch) |
        sluice::task(lookup, {.cache = sluice::cache_policy{}}).cache_key(&order::customer) >
            sluice::to_vector();
    CHECK(p(1000, 10) == regions(1000, 10));  // concurrency 1 keeps input order
    CHECK(calls.load() == 10);
    CHECK(p(1000, 10) == regions(1000, 10));  // a second run hits the same cache
    CHECK(calls.load() == 10);
  }

  TEST_CASE("concurrent misses of one key share one call of a lambda projection" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t workers = 16;
    sluice_test::gate release;
    std::atomic<int> calls{0};
    auto lookup = [&](const order& o) {
      calls.fetch_add(1);
      release.wait();
      return region_of(o.customer);
    };
    const auto p = sluice::task(orders, sluice::branch) |
                   sluice::task(lookup, {.concurrency = workers, .cache = sluice::cache_policy{}})
                       .cache_key([](const order& o) { return o.customer; });
    auto out = p(1000, 10);
    std::atomic<bool> all_busy{false};
    std::jthread opener{[&] {
      // Every call waits for the gate, and there are 10 customers: once all 16 workers are busy,
      // at least 6 of them wait in the cache for another worker's call of their customer.
      all_busy = sluice_test::eventually([&] {
        const std::vector<sluice::task_stats> stats = out.stats();
        return stats.size() == 2 && stats[1].in_flight == workers;
      });
      release.open();
    }};
    const std::vector<std::string> got = sluice_test::collect(out);
    opener.join();
    CHECK(all_busy.load());
    CHECK(calls.load() == 10);
    CHECK(sorted(got) == sorted(regions(1000, 10)));
    CHECK_FALSE(release.timed_out());
  }

  TEST_CASE("a projection keys by what it returns: names that differ in case share one call" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto lower = [](const order& o) {
      std::string name = o.customer;
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return name;
    };
    std::atomic<int> calls{0};
    auto lookup = [&](const order& o) {
      calls.fetch_add(1);
      return region_of(lower(o));
    };
    auto spelled = [](int) {
      return std::vector<order>{{1, "Acme", 1}, {2, "ACME", 2}, {3, "acme", 3}, {4, "Initech", 4}};
    };
    const auto p = sluice::task(spelled, sluice::branch) |
                   sluice::task(lookup, {.cache = sluice::cache_policy{}}).cache_key(lower) >
                       sluice::to_vector();
    CHECK(p(0) == std::vector<std::string>{"region of acme", "region of acme", "region of acme",
                                           "region of initech"});
    CHECK(calls.load() == 2);
  }

  TEST_CASE("a hit through a cache_key takes no rate-limit token" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    sluice::manual_clock fake;
    auto lookup = [](const order& o) { return region_of(o.customer); };
    const auto p = sluice::task(orders, sluice::branch) |
                   sluice::task(lookup, {.rate = sluice::rate_limit{10.0, 1, &fake},
                                         .cache = sluice::cache_policy{}})
                           .cache_key(&order::customer) > sluice::count();
    CHECK(p(20, 4) == 20);
    // 4 calls, one per customer: the first token was in the full bucket, each other call waited
    // for one; the 16 hits waited for none.
    CHECK(fake.sleeps().size() == 3);
  }

  TEST_CASE("a failed call is not cached under its key: the next item of that key calls again" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> calls{0};
    failures handled;
    auto first_fails = [&](const order& o) {
      if (calls.fetch_add(1) == 0) throw std::runtime_error("lookup failed");
      return region_of(o.customer);
    };
    const auto p =
        sluice::task(orders, sluice::branch) |
        sluice::task(first_fails, {.cache = sluice::cache_policy{}, .on_error = handled.handler()})
                .cache_key(&order::customer) > sluice::to_vector();
    CHECK(p(4, 1) == std::vector<std::string>(3, region_of(customer_name(0))));
    CHECK(calls.load() == 2);
    REQUIRE(handled.seen.size() == 1);
    CHECK(what_of(handled.seen[0].error) == "lookup failed");
  }

  TEST_CASE("a cache_key without a cache option is refused naming the task" *
            doctest::timeout(30)) {
    auto lookup = [](const order& o) { return region_of(o.customer); };
    SUBCASE("a named task") {
      const auto p =
          sluice::task(orders, sluice::branch) |
          sluice::task(lookup, {.name = "enrich", .concurrency = 4}).cache_key(&order::customer) >
              sluice::count();
      CHECK_THROWS_WITH_AS(
          p(3, 1),
          doctest::Contains("sluice: task 'enrich' (task#2) has a cache_key but no cache option"),
          std::invalid_argument);
    }
    SUBCASE("an unnamed task") {
      const auto p = sluice::task(orders, sluice::branch) |
                     sluice::task(lookup).cache_key(&order::customer) > sluice::count();
      CHECK_THROWS_WITH_AS(p(3, 1),
                           doctest::Contains("sluice: task#2 has a cache_key but no cache option"),
                           std::invalid_argument);
    }
  }

  TEST_CASE("an input that cannot be a key is cached by a cache_key that can" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    std::atomic<int> calls{0};
    auto lookup = [&](const order& o) {
      calls.fetch_add(1);
      return region_of(o.customer);
    };
    const auto whole = sluice::task(orders, sluice::branch) |
                       sluice::task(lookup, {.cache = sluice::cache_policy{}}) > sluice::count();
    CHECK_THROWS_WITH_AS(whole(3, 1),
                         doctest::Contains("task#2 has a cache, but its input type cannot be a "
                                           "cache key"),
                         std::invalid_argument);
    const auto keyed =
        sluice::task(orders, sluice::branch) |
        sluice::task(lookup, {.cache = sluice::cache_policy{}}).cache_key(&order::customer) >
            sluice::count();
    CHECK(keyed(3, 1) == 3);
    CHECK(calls.load() == 1);
  }

  TEST_CASE("a disk cache keyed by a cache_key serves a new pipeline object on its directory" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    temp_dir dir;
    std::atomic<int> calls{0};
    auto lookup = [&](const order& o) {
      calls.fetch_add(1);
      return region_of(o.customer);
    };
    // order has no sluice::codec: only the key (a std::string) and the result go to disk.
    auto make = [&] {
      return sluice::task(orders, sluice::branch) |
             sluice::task(lookup,
                          {.concurrency = 4, .cache = sluice::cache_policy{.directory = dir.str()}})
                     .cache_key(&order::customer) > sluice::to_vector();
    };
    CHECK(sorted(make()(100, 10)) == sorted(regions(100, 10)));
    CHECK(calls.load() == 10);
    CHECK(dir.entries() == 10);
    CHECK(sorted(make()(100, 10)) == sorted(regions(100, 10)));  // a cold memory cache
    CHECK(calls.load() == 10);
  }

  TEST_CASE("a disk cache needs a codec for the cache key, and says so naming the task") {
    temp_dir dir;
    auto lookup = [](const order& o) { return region_of(o.customer); };
    const auto p = sluice::task(orders, sluice::branch) |
                   sluice::task(lookup, {.name = "enrich",
                                         .cache = sluice::cache_policy{.directory = dir.str()}})
                           .cache_key([](const order& o) { return customer_key{o.customer}; }) >
                       sluice::count();
    CHECK_THROWS_WITH_AS(p(3, 1),
                         doctest::Contains("sluice: cache_policy.directory is set, but the cache "
                                           "key (the result of its cache_key projection) of task "
                                           "'enrich' (task#2) has no sluice::codec"),
                         std::invalid_argument);
  }

  TEST_CASE("a process task's cache is keyed by its cache_key in the calling process" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::shared_counters calls;
    auto lookup = [&calls](const order& o) {
      calls[0].fetch_add(1);  // in a worker process
      return region_of(o.customer);
    };
    const auto p =
        sluice::task(orders, sluice::branch) |
        sluice::task(lookup, sluice::process, {.concurrency = 2, .cache = sluice::cache_policy{}})
                .cache_key(&order::customer) > sluice::to_vector();
    CHECK(sorted(p(40, 4)) == sorted(regions(40, 4)));
    CHECK(calls[0].load() == 4);
  }
}
