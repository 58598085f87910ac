// Tests of <sluice/stats_export.hpp>: the exact JSON lines and Prometheus text for given
// counters (field order, escaping, the time field, counters and gauges, extra labels, the
// breaker's state set), and both forms of a real run's stats.
#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/pipeline.hpp>
#include <sluice/stats_export.hpp>
#include <sluice/task.hpp>

#include "common/fixtures.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;
using sluice::task_stats;
using sluice_test::numbers;
using sluice_test::twice;

namespace {

std::vector<task_stats> two_tasks() {
  task_stats parse;
  parse.name = "parse";
  parse.items_out = 5000;
  parse.in_flight = 1;
  parse.busy = 32ms;
  parse.blocked = 968ms;
  task_stats enrich;
  enrich.name = "en\"rich\\";
  enrich.items_in = 4990;
  enrich.items_out = 4988;
  enrich.failed = 1;
  enrich.retried = 2;
  enrich.queued = 512;
  enrich.busy = 1'234'567'891ns;
  enrich.circuit = sluice::circuit_state::half_open;
  return {parse, enrich};
}

// A route, a zip and a batch, as a run of route -> zip -> batch would show them.
std::vector<task_stats> shapes() {
  task_stats route;
  route.name = "route#2";
  route.kind = sluice::stage_kind::route;
  route.items_in = 10;
  route.items_out = 9;
  route.branches = {6, 4};
  task_stats zip;
  zip.name = "zip#4";
  zip.kind = sluice::stage_kind::zip;
  zip.items_in = 9;
  zip.items_out = 7;
  zip.dropped = 1;
  zip.queued = 1;
  task_stats batch;
  batch.name = "batch#6";
  batch.kind = sluice::stage_kind::batch;
  batch.items_in = 7;
  batch.items_out = 2;
  return {route, zip, batch};
}

}  // namespace

TEST_SUITE("stats_export") {
  TEST_CASE("stats_json_lines writes one object per task with every field, in order") {
    CHECK(sluice::stats_json_lines(two_tasks()) ==
          "{\"task\":\"parse\",\"items_in\":0,\"items_out\":5000,\"failed\":0,\"retried\":0,"
          "\"in_flight\":1,\"queued\":0,\"busy_ns\":32000000,\"blocked_ns\":968000000,"
          "\"circuit\":null,\"kind\":\"task\"}\n"
          "{\"task\":\"en\\\"rich\\\\\",\"items_in\":4990,\"items_out\":4988,\"failed\":1,"
          "\"retried\":2,\"in_flight\":0,\"queued\":512,\"busy_ns\":1234567891,\"blocked_ns\":0,"
          "\"circuit\":\"half_open\",\"kind\":\"task\"}\n");
  }

  TEST_CASE(
      "stats_json_lines ends a shape's object with its kind, a zip's dropped tuples and a "
      "route's items per branch") {
    CHECK(sluice::stats_json_lines(shapes()) ==
          "{\"task\":\"route#2\",\"items_in\":10,\"items_out\":9,\"failed\":0,\"retried\":0,"
          "\"in_flight\":0,\"queued\":0,\"busy_ns\":0,\"blocked_ns\":0,\"circuit\":null,"
          "\"kind\":\"route\",\"branches\":[6,4]}\n"
          "{\"task\":\"zip#4\",\"items_in\":9,\"items_out\":7,\"failed\":0,\"retried\":0,"
          "\"in_flight\":0,\"queued\":1,\"busy_ns\":0,\"blocked_ns\":0,\"circuit\":null,"
          "\"kind\":\"zip\",\"dropped\":1}\n"
          "{\"task\":\"batch#6\",\"items_in\":7,\"items_out\":2,\"failed\":0,\"retried\":0,"
          "\"in_flight\":0,\"queued\":0,\"busy_ns\":0,\"blocked_ns\":0,\"circuit\":null,"
          "\"kind\":\"batch\"}\n");
  }

  TEST_CASE("stats_json_lines starts each object with the snapshot's time when given one") {
    const std::chrono::system_clock::time_point at{1'733'600'000'250'900us};
    const std::string lines = sluice::stats_json_lines(two_tasks(), at);
    CHECK(lines.rfind("{\"time\":1733600000.250,\"task\":\"parse\",", 0) == 0);
    CHECK(lines.find("\n{\"time\":1733600000.250,\"task\":\"en") != std::string::npos);
    CHECK(sluice::stats_json_lines({}, at).empty());
  }

  TEST_CASE("stats_prometheus writes counters and gauges with HELP and TYPE, and state sets") {
    CHECK(
        sluice::stats_prometheus(two_tasks(), {{"pipeline", "etl \"1\"\n"}}) ==
        "# HELP sluice_task_items_in_total Items the task took from its input queue.\n"
        "# TYPE sluice_task_items_in_total counter\n"
        "sluice_task_items_in_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} 0\n"
        "sluice_task_items_in_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} 4990\n"
        "# HELP sluice_task_items_out_total Items the task emitted downstream.\n"
        "# TYPE sluice_task_items_out_total counter\n"
        "sluice_task_items_out_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} 5000\n"
        "sluice_task_items_out_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} 4988\n"
        "# HELP sluice_task_failed_total Items whose call failed.\n"
        "# TYPE sluice_task_failed_total counter\n"
        "sluice_task_failed_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} 0\n"
        "sluice_task_failed_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} 1\n"
        "# HELP sluice_task_retried_total Attempts that were retried.\n"
        "# TYPE sluice_task_retried_total counter\n"
        "sluice_task_retried_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} 0\n"
        "sluice_task_retried_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} 2\n"
        "# HELP sluice_task_in_flight Calls running now.\n"
        "# TYPE sluice_task_in_flight gauge\n"
        "sluice_task_in_flight{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} 1\n"
        "sluice_task_in_flight{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} 0\n"
        "# HELP sluice_task_queued Items waiting for the task.\n"
        "# TYPE sluice_task_queued gauge\n"
        "sluice_task_queued{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} 0\n"
        "sluice_task_queued{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} 512\n"
        "# HELP sluice_task_busy_seconds_total Time spent inside the task's calls.\n"
        "# TYPE sluice_task_busy_seconds_total counter\n"
        "sluice_task_busy_seconds_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} "
        "0.032000000\n"
        "sluice_task_busy_seconds_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} "
        "1.234567891\n"
        "# HELP sluice_task_blocked_seconds_total Time the task waited for room downstream.\n"
        "# TYPE sluice_task_blocked_seconds_total counter\n"
        "sluice_task_blocked_seconds_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"parse\"} "
        "0.968000000\n"
        "sluice_task_blocked_seconds_total{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\"} "
        "0.000000000\n"
        "# HELP sluice_task_circuit_state The state of the task's circuit breaker.\n"
        "# TYPE sluice_task_circuit_state gauge\n"
        "sluice_task_circuit_state{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\","
        "state=\"closed\"} 0\n"
        "sluice_task_circuit_state{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\","
        "state=\"open\"} 0\n"
        "sluice_task_circuit_state{pipeline=\"etl \\\"1\\\"\\n\",task=\"en\\\"rich\\\\\","
        "state=\"half_open\"} 1\n");
  }

  TEST_CASE("without a breaker in the run the circuit metric is left out") {
    std::vector<task_stats> stats = two_tasks();
    stats[1].circuit.reset();
    const std::string text = sluice::stats_prometheus(stats);
    CHECK(text.find("circuit") == std::string::npos);
    CHECK(text.find("sluice_task_items_in_total{task=\"parse\"} 0\n") != std::string::npos);
  }

  TEST_CASE(
      "stats_prometheus gives a zip's dropped tuples and a route's items per branch "
      "metrics of their own") {
    const std::string text = sluice::stats_prometheus(shapes(), {{"pipeline", "etl"}});
    CHECK(text.find("sluice_task_items_in_total{pipeline=\"etl\",task=\"route#2\"} 10\n") !=
          std::string::npos);
    CHECK(
        text.find("# HELP sluice_task_dropped_total Inputs of a zip whose tuple was dropped "
                  "because a branch dropped its part.\n"
                  "# TYPE sluice_task_dropped_total counter\n"
                  "sluice_task_dropped_total{pipeline=\"etl\",task=\"zip#4\"} 1\n"
                  "# HELP sluice_task_branch_items_total Items a route sent to each of its "
                  "branches.\n"
                  "# TYPE sluice_task_branch_items_total counter\n"
                  "sluice_task_branch_items_total{pipeline=\"etl\",task=\"route#2\",branch=\"0\"} "
                  "6\n"
                  "sluice_task_branch_items_total{pipeline=\"etl\",task=\"route#2\",branch=\"1\"} "
                  "4\n") != std::string::npos);
  }

  TEST_CASE("without a zip or a route in the run their metrics are left out") {
    const std::string text = sluice::stats_prometheus(two_tasks());
    CHECK(text.find("sluice_task_dropped_total") == std::string::npos);
    CHECK(text.find("sluice_task_branch_items_total") == std::string::npos);
  }

  TEST_CASE("a real run's stats export with its tasks' names and counts" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items =
        (sluice::task(numbers, sluice::branch) | sluice::task(twice, {.name = "double"}))(40);
    CHECK(sluice_test::drain(items) == 40);

    const std::vector<task_stats> stats = items.stats();
    const std::string lines = sluice::stats_json_lines(stats);
    CHECK(lines.find("{\"task\":\"task#1\",\"items_in\":0,\"items_out\":40,") == 0);
    CHECK(lines.find("\n{\"task\":\"double\",\"items_in\":40,\"items_out\":40,") !=
          std::string::npos);
    const std::string metrics = sluice::stats_prometheus(stats);
    CHECK(metrics.find("sluice_task_items_out_total{task=\"double\"} 40\n") != std::string::npos);
  }

  TEST_CASE("a real run's route exports its row and its items per branch" * doctest::timeout(30)) {
    sluice_test::watchdog guard{30s};
    auto items = (sluice::task(numbers, sluice::branch) |
                  sluice::route([](int x) { return x < 30 ? 0 : 1; }, sluice::task(twice),
                                sluice::task(twice)))(40);
    CHECK(sluice_test::drain(items) == 40);

    const std::vector<task_stats> stats = items.stats();
    CHECK(sluice::stats_json_lines(stats).find(
              "\n{\"task\":\"route#2\",\"items_in\":40,\"items_out\":40,") != std::string::npos);
    const std::string metrics = sluice::stats_prometheus(stats);
    CHECK(metrics.find("sluice_task_branch_items_total{task=\"route#2\",branch=\"0\"} 30\n") !=
          std::string::npos);
    CHECK(metrics.find("sluice_task_branch_items_total{task=\"route#2\",branch=\"1\"} 10\n") !=
          std::string::npos);
  }
}
