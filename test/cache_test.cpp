// Tests of sluice::cached and its store: hits do not call the function, ttl and LRU eviction
// (on a manual clock), failures are never cached, concurrent callers of one missing key share one
// call, and the persistent cache on disk survives new wrapper objects, truncated or garbage entry
// files, hash collisions, ttl, and whatever else sits at an entry's path (a FIFO, a link, a huge
// sparse file, a directory).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/cache.hpp>
#include <sluice/detail/resilience/disk_cache.hpp>

#include "common/gate.hpp"
#include "common/run_on_threads.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system's temporary directory, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("sluice-cache-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter.fetch_add(1)) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string str() const { return path_.string(); }
  const fs::path& path() const { return path_; }

  // The entry files in the directory (temporary files excluded).
  std::vector<fs::path> entries() const {
    std::vector<fs::path> found;
    for (const auto& file : fs::directory_iterator(path_)) {
      if (file.path().extension() == ".entry") found.push_back(file.path());
    }
    return found;
  }

 private:
  fs::path path_;
};

// Where the persistent cache in `dir` keeps the entry of sluice::cached(f)(key) for an int key
// (the directory is created).
std::string entry_path_of(const temp_dir& dir, int key) {
  const sluice::detail::disk_directory files{dir.str(), std::chrono::milliseconds{0},
                                             sluice::clock::system(), "test"};
  return files.entry_path(sluice::encode(std::tuple<int>{key}));
}

// A function that counts its calls: n -> "value of n".
struct counted {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::string operator()(int n) const {
    calls->fetch_add(1);
    return "value of " + std::to_string(n);
  }
  int count() const { return calls->load(); }
};

int square(int x) { return x * x; }

// How long a stampede test waits, once every caller has entered the cached call, for them all to
// find the computation in flight and wait for it (a few microseconds of work each).
constexpr auto settle = std::chrono::milliseconds{sluice_test::scaled(100, 300)};

struct hashable_without_codec {
  int id = 0;
  bool operator==(const hashable_without_codec&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const hashable_without_codec& k) {
    return H::combine(std::move(h), k.id);
  }
};

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << bytes;
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

}  // namespace

TEST_SUITE("cache") {
  TEST_CASE("a second call with the same arguments returns the cached value without calling f") {
    counted f;
    auto cached = sluice::cached(f, {});
    CHECK(cached(1) == "value of 1");
    CHECK(cached(1) == "value of 1");
    CHECK(f.count() == 1);
    CHECK(cached(2) == "value of 2");
    CHECK(f.count() == 2);
  }

  TEST_CASE("every argument is part of the key") {
    std::atomic<int> calls{0};
    auto join = [&](const std::string& a, int b) {
      ++calls;
      return a + std::to_string(b);
    };
    auto cached = sluice::cached(join, {});
    CHECK(cached("a", 1) == "a1");
    CHECK(cached("a", 2) == "a2");
    CHECK(cached("b", 1) == "b1");
    CHECK(cached("a", 1) == "a1");
    CHECK(calls.load() == 3);
  }

  TEST_CASE("the arguments are deduced from functions, std::function and function objects") {
    auto from_pointer = sluice::cached(square, {});
    CHECK(from_pointer(4) == 16);
    std::function<long(int, int)> add = [](int a, int b) { return long{a} + b; };
    auto from_function = sluice::cached(add, {});
    CHECK(from_function(2, 3) == 5);
    int calls = 0;
    auto nullary = sluice::cached([&calls]() mutable { return ++calls; }, {});
    CHECK(nullary() == 1);
    CHECK(nullary() == 1);
  }

  TEST_CASE("a generic callable is cached with its argument types named") {
    std::atomic<int> calls{0};
    auto cached = sluice::cached<int, std::string>(
        [&](auto n, const auto& s) {
          ++calls;
          return s + std::to_string(n);
        },
        {});
    CHECK(cached(1, "x") == "x1");
    CHECK(cached(1, "x") == "x1");
    CHECK(calls.load() == 1);
  }

  TEST_CASE("copies of a cached callable share one cache") {
    counted f;
    auto original = sluice::cached(f, {});
    auto copy = original;
    CHECK(original(5) == "value of 5");
    CHECK(copy(5) == "value of 5");
    CHECK(f.count() == 1);
  }

  TEST_CASE("an entry expires once ttl has passed on the policy's clock") {
    sluice::manual_clock clock;
    counted f;
    auto cached = sluice::cached(f, {.ttl = 10s, .clock = &clock});
    cached(1);
    clock.advance(9s);
    cached(1);
    CHECK(f.count() == 1);
    clock.advance(1s);
    cached(1);
    CHECK(f.count() == 2);
    clock.advance(9s);  // the new entry's ttl counts from its own computation
    cached(1);
    CHECK(f.count() == 2);
  }

  TEST_CASE(
      "a ttl too long for the clock never expires: the second call hits, in memory and on "
      "disk") {
    temp_dir dir;
    for (const std::chrono::milliseconds ttl :
         {std::chrono::milliseconds::max(), std::chrono::milliseconds{24h * 365 * 1000}}) {
      for (const std::string& directory : {std::string{}, dir.str()}) {
        CAPTURE(ttl.count());
        CAPTURE(directory);
        counted f;
        const sluice::cache_policy policy{.ttl = ttl, .directory = directory};
        auto cached = sluice::cached(f, policy);
        CHECK(cached(1) == "value of 1");
        CHECK(cached(1) == "value of 1");
        CHECK(f.count() == 1);
        if (!directory.empty()) {
          CHECK(sluice::cached(f, policy)(1) == "value of 1");  // a new wrapper reads the entry
          CHECK(f.count() == 1);
          std::filesystem::remove_all(dir.path());  // the next ttl starts from an empty directory
        }
      }
    }
  }

  TEST_CASE("without ttl entries never expire") {
    sluice::manual_clock clock;
    counted f;
    auto cached = sluice::cached(f, {.clock = &clock});
    cached(1);
    clock.advance(24h * 365);
    cached(1);
    CHECK(f.count() == 1);
  }

  TEST_CASE("the least recently used entry is evicted at max_entries") {
    counted f;
    auto cached = sluice::cached(f, {.max_entries = 3});
    cached(1);
    cached(2);
    cached(3);
    cached(1);  // 2 is now the least recently used
    cached(4);  // evicts 2
    CHECK(f.count() == 4);
    cached(1);
    cached(3);
    cached(4);
    CHECK(f.count() == 4);
    cached(2);  // evicted: computed again (and evicts 1)
    CHECK(f.count() == 5);
    cached(1);
    CHECK(f.count() == 6);
  }

  TEST_CASE("a call that throws is not cached and f is called again") {
    int calls = 0;
    auto flaky = [&](int n) {
      if (++calls == 1) throw std::runtime_error("first call fails");
      return n * 10;
    };
    auto cached = sluice::cached(flaky, {});
    CHECK_THROWS_WITH_AS(cached(1), "first call fails", std::runtime_error);
    CHECK(cached(1) == 10);
    CHECK(cached(1) == 10);
    CHECK(calls == 2);
  }

  TEST_CASE("concurrent callers of one missing key call f once and share its result" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t callers = 8;
    sluice_test::gate release;
    std::atomic<int> calls{0};
    std::atomic<std::size_t> entered{0};
    auto slow = [&](int n) {
      ++calls;
      release.wait();
      return n + 1;
    };
    auto cached = sluice::cached(slow, {});
    std::vector<int> results(callers);
    std::jthread opener{[&] {
      // Opens once every caller is inside cached() and has had time to find the computation.
      sluice_test::eventually([&] { return entered == callers; });
      std::this_thread::sleep_for(settle);
      release.open();
    }};
    sluice_test::run_on_threads(callers, [&](std::size_t i) {
      ++entered;
      results[i] = cached(41);
    });
    CHECK(calls.load() == 1);
    CHECK(results == std::vector<int>(callers, 42));
    CHECK_FALSE(release.timed_out());
  }

  TEST_CASE("callers waiting for a computation that throws all get its exception" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr std::size_t callers = 8;
    sluice_test::gate release;
    std::atomic<int> calls{0};
    std::atomic<std::size_t> entered{0};
    auto failing = [&](int n) -> int {
      if (++calls > 1) return n;
      release.wait();
      throw std::runtime_error("computation failed");
    };
    auto cached = sluice::cached(failing, {});
    std::vector<const void*> seen(callers);
    std::jthread opener{[&] {
      sluice_test::eventually([&] { return entered == callers; });
      std::this_thread::sleep_for(settle);
      release.open();
    }};
    sluice_test::run_on_threads(callers, [&](std::size_t i) {
      ++entered;
      try {
        cached(7);
      } catch (const std::runtime_error& e) {
        seen[i] = &e;
      }
    });
    CHECK(calls.load() == 1);
    for (const void* error : seen) CHECK(error == seen[0]);  // one exception object
    CHECK(seen[0] != nullptr);
    CHECK(cached(7) == 7);  // nothing was cached
    CHECK(calls.load() == 2);
  }

  TEST_CASE("a caller whose stop_token is stopped stops waiting and calls f itself" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    sluice_test::gate leader_in;
    sluice_test::gate release;
    auto f = [&](int n, std::stop_token stop) {
      if (stop.stop_requested()) return -n;
      leader_in.open();
      release.wait();
      return n;
    };
    auto cached = sluice::cached(f, {});
    int leader_result = 0;
    std::jthread leader{[&] { leader_result = cached(3, std::stop_token{}); }};
    REQUIRE(leader_in.wait());
    std::stop_source stopped;
    stopped.request_stop();
    CHECK(cached(3, stopped.get_token()) == -3);  // not waiting for the leader
    release.open();
    leader.join();
    CHECK(leader_result == 3);
    CHECK(cached(3, stopped.get_token()) == 3);  // the leader's result was cached
  }

  TEST_CASE("many threads over many keys always get the right value" * doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    constexpr int keys = 200;
    constexpr int calls_per_thread = 4000;
    std::atomic<int> computed{0};
    auto f = [&](int n) {
      ++computed;
      return std::vector<int>{n, n * 2};
    };
    auto cached = sluice::cached(f, {.max_entries = 64});
    std::atomic<int> wrong{0};
    sluice_test::run_on_threads(8, [&](std::size_t thread) {
      for (int i = 0; i < calls_per_thread; ++i) {
        const int key = static_cast<int>((i * 7 + thread * 13) % keys);
        if (cached(key) != std::vector<int>{key, key * 2}) ++wrong;
      }
    });
    CHECK(wrong.load() == 0);
    CHECK(computed.load() >= keys);
    CHECK(computed.load() < 8 * calls_per_thread);
  }

  TEST_CASE("a bad policy is rejected with a message that names the field") {
    CHECK_THROWS_WITH_AS(sluice::cached(square, {.max_entries = 0}),
                         "sluice: cache_policy.max_entries is 0 in sluice::cached; a cache must "
                         "hold at least 1 entry",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(sluice::cached(square, {.ttl = -5ms}),
                         doctest::Contains("cache_policy.ttl is -5ms"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(sluice::detail::check_cache_policy({.max_entries = 0}, "task 'geo'"),
                         doctest::Contains("in task 'geo'"), std::invalid_argument);
  }

  TEST_CASE("a directory for a key or value without a codec is rejected at construction") {
    temp_dir dir;
    auto by_key = [](hashable_without_codec k) { return k.id; };
    CHECK_THROWS_WITH_AS(sluice::cached(by_key, {.directory = dir.str()}),
                         doctest::Contains("sluice: cache_policy.directory is set, but the key "
                                           "of sluice::cached has no sluice::codec"),
                         std::invalid_argument);
    auto to_value = [](int id) { return hashable_without_codec{id}; };
    CHECK_THROWS_WITH_AS(sluice::cached(to_value, {.directory = dir.str()}),
                         doctest::Contains("sluice: cache_policy.directory is set, but the value "
                                           "of sluice::cached has no sluice::codec"),
                         std::invalid_argument);
    CHECK(sluice::cached(to_value, {})(4).id == 4);  // a memory cache needs no codec
  }
}

TEST_SUITE("cache on disk") {
  TEST_CASE("a second wrapper object on the same directory hits without calling f") {
    temp_dir dir;
    counted f;
    auto first = sluice::cached(f, {.directory = dir.str()});
    auto second = sluice::cached(f, {.directory = dir.str()});
    CHECK(first(1) == "value of 1");
    CHECK(second(1) == "value of 1");
    CHECK(f.count() == 1);
    CHECK(dir.entries().size() == 1);
  }

  TEST_CASE("entries survive the cache object: a fresh one after a restart hits") {
    temp_dir dir;
    counted f;
    {
      auto before = sluice::cached(f, {.directory = dir.str()});
      for (int n = 0; n < 5; ++n) before(n);
    }
    auto after = sluice::cached(f, {.directory = dir.str()});
    for (int n = 0; n < 5; ++n) CHECK(after(n) == "value of " + std::to_string(n));
    CHECK(f.count() == 5);
    CHECK(after(5) == "value of 5");
    CHECK(f.count() == 6);
  }

  TEST_CASE("composite keys and values go through their codecs") {
    temp_dir dir;
    std::atomic<int> calls{0};
    auto f = [&](const std::string& name, std::vector<int> weights) {
      ++calls;
      return std::map<std::string, std::vector<int>>{{name, weights}};
    };
    sluice::cached(f, {.directory = dir.str()})("w", {1, 2});
    auto fresh = sluice::cached(f, {.directory = dir.str()});
    CHECK(fresh("w", {1, 2}) == std::map<std::string, std::vector<int>>{{"w", {1, 2}}});
    CHECK(fresh("w", {1, 3}) == std::map<std::string, std::vector<int>>{{"w", {1, 3}}});
    CHECK(calls.load() == 2);
  }

  TEST_CASE("a truncated entry (a crash mid-write) is a miss and is replaced") {
    temp_dir dir;
    counted f;
    sluice::cached(f, {.directory = dir.str()})(7);
    REQUIRE(dir.entries().size() == 1);
    const fs::path entry = dir.entries().front();
    const std::string whole = read_file(entry);
    for (std::size_t cut : {std::size_t{0}, std::size_t{5}, whole.size() / 2, whole.size() - 1}) {
      CAPTURE(cut);
      write_file(entry, whole.substr(0, cut));
      const int before = f.count();
      CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
      CHECK(f.count() == before + 1);
      CHECK(read_file(entry).size() == whole.size());  // replaced by a whole entry
      CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
      CHECK(f.count() == before + 1);
    }
  }

  TEST_CASE("a garbage entry file is a miss and is replaced") {
    temp_dir dir;
    counted f;
    sluice::cached(f, {.directory = dir.str()})(7);
    REQUIRE(dir.entries().size() == 1);
    const fs::path entry = dir.entries().front();
    std::string garbage = read_file(entry);
    garbage[garbage.size() / 2] ^= 0x5a;  // one flipped byte: the checksum no longer matches
    write_file(entry, garbage);
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 2);
    write_file(entry, std::string(300, '\x7f'));
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 3);
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 3);
  }

  TEST_CASE("an entry that holds another key (a hash collision) is a miss, never returned") {
    temp_dir dir;
    counted f;
    sluice::cached(f, {.directory = dir.str()})(1);
    REQUIRE(dir.entries().size() == 1);
    // Put key 1's entry where key 2's would be, as if both keys had the same hash.
    const sluice::detail::disk_directory files{dir.str(), 0ms, sluice::clock::system(), "test"};
    const fs::path for_two = files.entry_path(sluice::encode(std::tuple<int>{2}));
    fs::rename(dir.entries().front(), for_two);
    CHECK(sluice::cached(f, {.directory = dir.str()})(2) == "value of 2");
    CHECK(f.count() == 2);
  }

  TEST_CASE("ttl applies to disk entries by their write time on the wall clock") {
    temp_dir dir;
    sluice::manual_clock clock;
    counted f;
    const sluice::cache_policy policy{.ttl = 1h, .directory = dir.str(), .clock = &clock};
    sluice::cached(f, policy)(1);
    clock.advance(59min);
    auto later = sluice::cached(f, policy);
    CHECK(later(1) == "value of 1");  // 59 minutes old: still fresh
    CHECK(f.count() == 1);
    clock.advance(2min);  // 61 minutes since the write: expired on disk and in `later`'s memory
    CHECK(later(1) == "value of 1");
    CHECK(f.count() == 2);
    CHECK(sluice::cached(f, policy)(1) == "value of 1");  // the replacement is fresh
    CHECK(f.count() == 2);
  }

  TEST_CASE(
      "a missing directory is created, and an unusable one names the wrapper, the option, "
      "the path and the error") {
    temp_dir dir;
    const fs::path nested = dir.path() / "a" / "b";
    counted f;
    CHECK(sluice::cached(f, {.directory = nested.string()})(1) == "value of 1");
    CHECK(fs::is_directory(nested));

    write_file(dir.path() / "plain-file", "x");
    const std::string under_file = (dir.path() / "plain-file" / "cache").string();
    const std::string expected = "sluice: sluice::cached has cache_policy.directory \"" +
                                 under_file + "\", which cannot be used: ";
    CHECK_THROWS_WITH_AS(sluice::cached(f, {.directory = under_file}),
                         doctest::Contains(expected.c_str()), std::runtime_error);
    CHECK_THROWS_WITH_AS(sluice::cached(f, {.directory = under_file}),
                         doctest::Contains("Not a directory"), std::runtime_error);
    const std::string a_file = (dir.path() / "plain-file").string();  // exists, not a directory
    const std::string expected_file = "sluice: sluice::cached has cache_policy.directory \"" +
                                      a_file + "\", which cannot be used: ";
    CHECK_THROWS_WITH_AS(sluice::cached(f, {.directory = a_file}),
                         doctest::Contains(expected_file.c_str()), std::runtime_error);
  }

  TEST_CASE("a FIFO at an entry's path is a miss that never blocks, and is replaced" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};  // opening a FIFO for reading waits for a writer
    temp_dir dir;
    const std::string entry = entry_path_of(dir, 7);
    REQUIRE(::mkfifo(entry.c_str(), 0644) == 0);
    counted f;
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 1);
    CHECK(fs::is_regular_file(fs::symlink_status(entry)));  // a whole entry took its place
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 1);
  }

  TEST_CASE("a symbolic link at an entry's path is a miss, never followed, and is replaced" *
            doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    temp_dir dir;
    const std::string entry = entry_path_of(dir, 7);
    const std::string fifo = (dir.path() / "elsewhere").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    fs::create_symlink(fifo, entry);
    counted f;
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 1);
    CHECK(fs::is_regular_file(fs::symlink_status(entry)));  // the link, not its target, replaced
    CHECK(fs::is_fifo(fs::symlink_status(fifo)));
  }

  TEST_CASE(
      "a huge sparse file at an entry's path is a miss, never read into memory, and is "
      "replaced" *
      doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    temp_dir dir;
    const std::string entry = entry_path_of(dir, 7);
    {
      const int fd = ::open(entry.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      REQUIRE(fd >= 0);
      const bool sized = ::ftruncate(fd, off_t{1} << 40) == 0;  // 1 TiB of holes, no blocks
      ::close(fd);
      REQUIRE(sized);
    }
    counted f;
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 1);
    CHECK(fs::file_size(entry) < 4096);  // a whole entry took its place
    CHECK(sluice::cached(f, {.directory = dir.str()})(7) == "value of 7");
    CHECK(f.count() == 1);
  }

  TEST_CASE("a directory at an entry's path is a miss, and the value is kept in memory") {
    temp_dir dir;
    const std::string entry = entry_path_of(dir, 7);
    fs::create_directories(entry);
    counted f;
    auto cached = sluice::cached(f, {.directory = dir.str()});
    CHECK(cached(7) == "value of 7");
    CHECK(cached(7) == "value of 7");
    CHECK(f.count() == 1);
    CHECK(fs::is_directory(entry));  // rename() cannot replace a directory: left alone
  }

  TEST_CASE("the entry file name is a stable hash of the key bytes") {
    // FNV-1a of no bytes and of "a": the same in every process, unlike absl::Hash.
    CHECK(sluice::detail::stable_hash("") == 0xcbf29ce484222325ULL);
    CHECK(sluice::detail::stable_hash("a") == 0xaf63dc4c8601ec8cULL);
  }
}
