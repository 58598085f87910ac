// Tests of detail/engine/backoff.hpp's core_share: when a worker of quick calls, in a run that
// also has calls that block, gives up its core.
#include <chrono>

#include <doctest/doctest.h>

#include <sluice/detail/engine/backoff.hpp>

using namespace std::chrono_literals;
using sluice::detail::core_share;

TEST_SUITE("core_share") {
  TEST_CASE("a worker of quick calls gives up its core once per 100 us of them") {
    core_share share;
    for (int round = 0; round < 3; ++round) {
      CAPTURE(round);
      for (int batch = 1; batch < 10; ++batch) CHECK_FALSE(share.after(10us));
      CHECK(share.after(10us));  // the tenth: 100 us of calls
    }
  }

  TEST_CASE("a batch long enough to have blocked restarts the count and does not yield") {
    core_share share;
    CHECK_FALSE(share.after(90us));
    CHECK_FALSE(share.after(2ms));  // back from a blocking call: goes straight on
    CHECK_FALSE(share.after(90us));  // the 90 us before the long batch no longer count
    CHECK(share.after(10us));
  }

  TEST_CASE("one batch of 100 us or more, short of blocking, gives up the core at once") {
    core_share share;
    CHECK(share.after(150us));
    CHECK(share.after(999us));
    CHECK_FALSE(share.after(1ms));
  }
}
