// This header defines two text forms of a run's per-task counters (stream::stats()) for
// machines: JSON lines (sluice::stats_json_lines) for logs and ad-hoc analysis, and Prometheus'
// text exposition format (sluice::stats_prometheus) for a metrics endpoint or a textfile
// collector.
//
// Example:
//   auto batches = pipeline(path);
//   std::jthread exporter([&](std::stop_token stop) {
//     while (!stop.stop_requested()) {
//       std::fputs(sluice::stats_json_lines(batches.stats(), std::chrono::system_clock::now())
//                      .c_str(), log);
//       std::this_thread::sleep_for(10s);
//     }
//   });
//   serve("/metrics", [&] {
//     return sluice::stats_prometheus(batches.stats(), {{"pipeline", "etl"}});
//   });
//
// Thread safety: pure functions of their arguments.
// Exceptions: std::bad_alloc.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sluice/stats.hpp>

namespace sluice {

// One JSON object per task, in the order given, each on a line of its own ending in "\n"; the
// fields always in this order:
//   {"time":1733600000.250,"task":"parse","items_in":0,"items_out":5000,"failed":0,
//    "retried":0,"in_flight":1,"queued":0,"busy_ns":32000000,"blocked_ns":968000000,
//    "circuit":null,"kind":"task"}
// - "time": `at` in seconds since the Unix epoch with three decimals (rounded down; 0 before
//   the epoch); left out when `at` is empty.
// - "task": task_stats::name as a JSON string (RFC 8259: quotes, backslashes and control
//   characters escaped; invalid UTF-8 bytes as \ufffd).
// - busy and blocked as integer nanoseconds; "circuit": "closed", "open" or "half_open", or null
//   for a task without a breaker. "kind": task_stats::kind ("task", "batch", "fan_out",
//   "route", "zip", "in_order"); then for a zip only "dropped", for a route only "branches" (an
//   array of integers). Other fields: task_stats' of the same name.
std::string stats_json_lines(const std::vector<task_stats>& stats,
                             std::optional<std::chrono::system_clock::time_point> at = {});

// The counters in Prometheus' text exposition format (version 0.0.4), each metric introduced by
// its # HELP and # TYPE lines, one sample per task in the order given, labelled
// task="<name>" after the given `labels` (name, value), values escaped (\\, \", \n):
//   sluice_task_items_in_total       counter  task_stats::items_in
//   sluice_task_items_out_total      counter  items_out
//   sluice_task_failed_total         counter  failed
//   sluice_task_retried_total        counter  retried
//   sluice_task_in_flight            gauge    in_flight
//   sluice_task_queued               gauge    queued
//   sluice_task_busy_seconds_total   counter  busy, in seconds with nine decimals
//   sluice_task_blocked_seconds_total counter blocked, in seconds with nine decimals
//   sluice_task_circuit_state        gauge    for tasks with a breaker: one sample per state
//                                             (state="closed", "open", "half_open"), 1 for the
//                                             breaker's state and 0 for the others; the metric
//                                             is left out when no task has a breaker
//   sluice_task_dropped_total        counter  for each zip: task_stats::dropped; left out when
//                                             the stats have no zip
//   sluice_task_branch_items_total   counter  for each route: one sample per branch,
//                                             branch="<index>", task_stats::branches; left out
//                                             when the stats have no route
// For instance:
//   # HELP sluice_task_items_in_total Items the task took from its input queue.
//   # TYPE sluice_task_items_in_total counter
//   sluice_task_items_in_total{pipeline="etl",task="parse"} 0
//   sluice_task_items_in_total{pipeline="etl",task="enrich"} 4990
// Label names are written as given: they must be valid Prometheus label names.
std::string stats_prometheus(const std::vector<task_stats>& stats,
                             const std::vector<std::pair<std::string, std::string>>& labels = {});

}  // namespace sluice
