// Tests of <sluice/generator.hpp> that must hold in optimised builds: what a co_yield hands to
// the consumer, for each way a producer writes it. sluice_optimised_tests is always compiled at
// -O2 (test/CMakeLists.txt), whatever the preset's own level, because coroutine code generation
// differs between optimisation levels; every preset runs it, the sanitizer presets included.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/sluice.hpp>

#include "common/watchdog.hpp"

// g++ 12 destroys the members of a braced aggregate temporary in a co_yield statement twice
// (see <sluice/generator.hpp>), so there a generator of such an aggregate does not compile
// (test/compile_fail/generator_of_aggregate.cpp); the cases that yield aggregates are compiled
// where the compiler builds them correctly.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ <= 12
#define SLUICE_TEST_AGGREGATE_GENERATORS 0
#else
#define SLUICE_TEST_AGGREGATE_GENERATORS 1
#endif

using namespace std::chrono_literals;

namespace {

// Long enough to live on the heap (no small-string buffer), so a double free or a use after
// free shows up as a crash or a sanitizer report.
std::string text_of(int i) { return "line " + std::to_string(i) + std::string(40, 'x'); }

// An aggregate: the shape a producer most often yields.
struct line {
  std::string text;
  int no = 0;
};

// The same with a constructor.
class entry {
 public:
  entry(std::string text, int no) : text_(std::move(text)), no_(no) {}
  const std::string& text() const { return text_; }
  int no() const { return no_; }

 private:
  std::string text_;
  int no_;
};

// Move-only, as an aggregate and with a constructor.
struct box {
  std::unique_ptr<std::string> text;
  int no = 0;
};

class owner {
 public:
  owner(std::unique_ptr<std::string> text, int no) : text_(std::move(text)), no_(no) {}
  const std::string& text() const { return *text_; }
  int no() const { return no_; }

 private:
  std::unique_ptr<std::string> text_;
  int no_;
};

#if SLUICE_TEST_AGGREGATE_GENERATORS
line make_line(int i) { return line{text_of(i), i}; }

sluice::generator<line> named_lines(int n) {
  for (int i = 0; i < n; ++i) {
    line l{text_of(i), i};
    co_yield std::move(l);
  }
}

sluice::generator<line> made_lines(int n) {
  for (int i = 0; i < n; ++i) co_yield make_line(i);
}
#endif

sluice::generator<entry> braced_entries(int n) {
  for (int i = 0; i < n; ++i) co_yield entry{text_of(i), i};
}

sluice::generator<entry> listed_entries(int n) {
  for (int i = 0; i < n; ++i) co_yield {text_of(i), i};
}

sluice::generator<std::string> braced_strings(int n) {
  for (int i = 0; i < n; ++i) co_yield std::string{text_of(i)};
}

sluice::generator<owner> braced_owners(int n) {
  for (int i = 0; i < n; ++i) co_yield owner{std::make_unique<std::string>(text_of(i)), i};
}

#if SLUICE_TEST_AGGREGATE_GENERATORS
sluice::generator<box> named_boxes(int n) {
  for (int i = 0; i < n; ++i) {
    box b{std::make_unique<std::string>(text_of(i)), i};
    co_yield std::move(b);
  }
}
#endif

sluice::generator<std::unique_ptr<std::string>> made_unique_strings(int n) {
  for (int i = 0; i < n; ++i) co_yield std::make_unique<std::string>(text_of(i));
}

#if SLUICE_TEST_AGGREGATE_GENERATORS
sluice::generator<line> braced_lines(int n) {
  for (int i = 0; i < n; ++i) co_yield line{text_of(i), i};
}

sluice::generator<line> listed_lines(int n) {
  for (int i = 0; i < n; ++i) co_yield {text_of(i), i};
}

sluice::generator<box> braced_boxes(int n) {
  for (int i = 0; i < n; ++i) co_yield box{std::make_unique<std::string>(text_of(i)), i};
}
#endif

// Yields the same lvalue twice; after each resumption records what the body's variable holds.
sluice::generator<entry> yielded_lvalues(int n, std::vector<std::string>* kept) {
  for (int i = 0; i < n; ++i) {
    entry e{text_of(i), i};
    co_yield e;
    kept->push_back(e.text());
    co_yield e;
    kept->push_back(e.text());
  }
}

// Moves every value out of `items` and checks each is the i-th line.
template <class Generator, class Text>
void expect_moved_out(Generator items, int n, Text text) {
  int i = 0;
  for (auto&& item : items) {
    auto mine = std::move(item);
    REQUIRE(i < n);
    CHECK(text(mine) == text_of(i));
    ++i;
  }
  CHECK(i == n);
}

}  // namespace

TEST_SUITE("generator") {
  TEST_CASE("a consumer moves out braced temporaries of types with std::string members") {
    const auto entry_text = [](const entry& e) { return e.text(); };
#if SLUICE_TEST_AGGREGATE_GENERATORS
    const auto line_text = [](const line& l) { return l.text; };
    SUBCASE("a named aggregate, moved") { expect_moved_out(named_lines(5), 5, line_text); }
    SUBCASE("an aggregate made by a function") { expect_moved_out(made_lines(5), 5, line_text); }
#endif
    SUBCASE("entry{...}") { expect_moved_out(braced_entries(5), 5, entry_text); }
    SUBCASE("{...} of a type with a constructor") {
      expect_moved_out(listed_entries(5), 5, entry_text);
    }
    SUBCASE("std::string{...}") {
      expect_moved_out(braced_strings(5), 5, [](const std::string& s) { return s; });
    }
#if SLUICE_TEST_AGGREGATE_GENERATORS
    SUBCASE("line{...}") { expect_moved_out(braced_lines(5), 5, line_text); }
    SUBCASE("{...} of an aggregate") { expect_moved_out(listed_lines(5), 5, line_text); }
#endif
  }

  TEST_CASE("a consumer moves out yielded move-only values") {
    SUBCASE("a type with a std::unique_ptr member and a constructor") {
      expect_moved_out(braced_owners(5), 5, [](const owner& o) { return o.text(); });
    }
#if SLUICE_TEST_AGGREGATE_GENERATORS
    SUBCASE("a named aggregate with a std::unique_ptr member, moved") {
      expect_moved_out(named_boxes(5), 5, [](const box& b) { return *b.text; });
    }
#endif
    SUBCASE("std::make_unique") {
      expect_moved_out(made_unique_strings(5), 5,
                       [](const std::unique_ptr<std::string>& p) { return *p; });
    }
#if SLUICE_TEST_AGGREGATE_GENERATORS
    SUBCASE("box{std::make_unique...}") {
      expect_moved_out(braced_boxes(5), 5, [](const box& b) { return *b.text; });
    }
#endif
  }

  TEST_CASE("a yielded lvalue is copied: the consumer's move leaves the body's value alone") {
    std::vector<std::string> kept;
    std::vector<std::string> got;
    for (auto&& e : yielded_lvalues(3, &kept)) {
      entry mine = std::move(e);
      got.push_back(mine.text());
    }
    const std::vector<std::string> expected{text_of(0), text_of(0), text_of(1),
                                            text_of(1), text_of(2), text_of(2)};
    CHECK(got == expected);
    CHECK(kept == expected);
  }

  TEST_CASE("a producer generator's yielded values reach the end of a pipeline" *
            doctest::timeout(60)) {
    sluice_test::watchdog guard{60s};
    std::vector<std::string> expected;
    for (int i = 0; i < 50; ++i) expected.push_back(text_of(i));

    SUBCASE("entries") {
      auto run = (sluice::task(braced_entries, sluice::branch) |
                  sluice::task([](entry e) { return e.text(); },
                               {.concurrency = 2, .ordered = true})) > sluice::to_vector();
      CHECK(run(50) == expected);
    }
    SUBCASE("move-only owners") {
      auto run = (sluice::task(braced_owners, sluice::branch) |
                  sluice::task([](owner o) { return o.text(); },
                               {.concurrency = 2, .ordered = true})) > sluice::to_vector();
      CHECK(run(50) == expected);
    }
#if SLUICE_TEST_AGGREGATE_GENERATORS
    SUBCASE("named aggregates") {
      auto run = (sluice::task(named_lines, sluice::branch) |
                  sluice::task([](line l) { return std::move(l.text); })) > sluice::to_vector();
      CHECK(run(50) == expected);
    }
    SUBCASE("braced aggregates") {
      auto run = (sluice::task(braced_lines, sluice::branch) |
                  sluice::task([](line l) { return std::move(l.text); })) > sluice::to_vector();
      CHECK(run(50) == expected);
    }
    SUBCASE("braced move-only aggregates") {
      auto run = (sluice::task(braced_boxes, sluice::branch) |
                  sluice::task([](box b) { return std::move(*b.text); })) > sluice::to_vector();
      CHECK(run(50) == expected);
    }
#endif
  }
}  // TEST_SUITE
