// sluice::stats_json_lines and sluice::stats_prometheus (sluice/stats_export.hpp).
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/detail/engine/shape_stats.hpp>
#include <sluice/stats_export.hpp>

#include "json_text.hpp"

namespace sluice {
namespace {

std::string_view state_name(circuit_state state) noexcept {
  switch (state) {
    case circuit_state::closed:
      return "closed";
    case circuit_state::open:
      return "open";
    case circuit_state::half_open:
      return "half_open";
  }
  return "unknown";
}

// `ns` nanoseconds as seconds with nine decimals, exactly (integers only).
std::string seconds(std::chrono::nanoseconds ns) {
  const std::int64_t count = ns.count();
  const bool negative = count < 0;
  const std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  char text[48];
  std::snprintf(text, sizeof text, "%s%" PRIu64 ".%09" PRIu64, negative ? "-" : "",
                magnitude / 1'000'000'000, magnitude % 1'000'000'000);
  return text;
}

void append_field(std::string& out, std::string_view name, std::uint64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(value);
}

// A label value with Prometheus' escapes: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value) {
  out += '"';
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string stats_json_lines(const std::vector<task_stats>& stats,
                             std::optional<std::chrono::system_clock::time_point> at) {
  std::string time;
  if (at) {
    // Before the epoch: 0 (the field is documented as non-negative seconds since it).
    const std::int64_t ms = std::max<std::int64_t>(
        0, std::chrono::floor<std::chrono::milliseconds>(at->time_since_epoch()).count());
    char text[48];
    std::snprintf(text, sizeof text, "\"time\":%" PRId64 ".%03" PRId64 ",", ms / 1000,
                  ms % 1000);
    time = text;
  }
  std::string out;
  for (const task_stats& s : stats) {
    out += '{';
    out += time;
    out += "\"task\":";
    detail::append_json_string(out, s.name);
    append_field(out, "items_in", s.items_in);
    append_field(out, "items_out", s.items_out);
    append_field(out, "failed", s.failed);
    append_field(out, "retried", s.retried);
    append_field(out, "in_flight", s.in_flight);
    append_field(out, "queued", s.queued);
    out += ",\"busy_ns\":";
    out += std::to_string(s.busy.count());
    out += ",\"blocked_ns\":";
    out += std::to_string(s.blocked.count());
    out += ",\"circuit\":";
    if (s.circuit) {
      out += '"';
      out += state_name(*s.circuit);
      out += '"';
    } else {
      out += "null";
    }
    out += ",\"kind\":\"";
    out += detail::kind_name(s.kind);
    out += '"';
    if (s.kind == stage_kind::zip) append_field(out, "dropped", s.dropped);
    if (s.kind == stage_kind::route) {
      out += ",\"branches\":[";
      for (std::size_t i = 0; i < s.branches.size(); ++i) {
        if (i != 0) out += ',';
        out += std::to_string(s.branches[i]);
      }
      out += ']';
    }
    out += "}\n";
  }
  return out;
}

std::string stats_prometheus(const std::vector<task_stats>& stats,
                             const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out;
  // `{labels...,task="name"` for task `s`, without the closing brace.
  const auto open_labels = [&](const task_stats& s) {
    out += '{';
    for (const auto& [name, value] : labels) {
      out += name;
      out += '=';
      append_label_value(out, value);
      out += ',';
    }
    out += "task=";
    append_label_value(out, s.name);
  };
  const auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  const auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                          auto value_of) {
    header(name, type, help);
    for (const task_stats& s : stats) {
      out += name;
      open_labels(s);
      out += "} ";
      out += value_of(s);
      out += '\n';
    }
  };
  const auto count = [](auto field) {
    return [field](const task_stats& s) { return std::to_string(s.*field); };
  };
  metric("sluice_task_items_in_total", "counter", "Items the task took from its input queue.",
         count(&task_stats::items_in));
  metric("sluice_task_items_out_total", "counter", "Items the task emitted downstream.",
         count(&task_stats::items_out));
  metric("sluice_task_failed_total", "counter", "Items whose call failed.",
         count(&task_stats::failed));
  metric("sluice_task_retried_total", "counter", "Attempts that were retried.",
         count(&task_stats::retried));
  metric("sluice_task_in_flight", "gauge", "Calls running now.", count(&task_stats::in_flight));
  metric("sluice_task_queued", "gauge", "Items waiting for the task.",
         count(&task_stats::queued));
  metric("sluice_task_busy_seconds_total", "counter", "Time spent inside the task's calls.",
         [](const task_stats& s) { return seconds(s.busy); });
  metric("sluice_task_blocked_seconds_total", "counter",
         "Time the task waited for room downstream.",
         [](const task_stats& s) { return seconds(s.blocked); });

  // Shapes' own counters: only their rows have samples, and a metric without any is left out.
  bool any_zip = false;
  bool any_route = false;
  for (const task_stats& s : stats) {
    any_zip = any_zip || s.kind == stage_kind::zip;
    any_route = any_route || s.kind == stage_kind::route;
  }
  if (any_zip) {
    header("sluice_task_dropped_total", "counter",
           "Inputs of a zip whose tuple was dropped because a branch dropped its part.");
    for (const task_stats& s : stats) {
      if (s.kind != stage_kind::zip) continue;
      out += "sluice_task_dropped_total";
      open_labels(s);
      out += "} ";
      out += std::to_string(s.dropped);
      out += '\n';
    }
  }
  if (any_route) {
    header("sluice_task_branch_items_total", "counter", "Items a route sent to each of its branches.");
    for (const task_stats& s : stats) {
      if (s.kind != stage_kind::route) continue;
      for (std::size_t i = 0; i < s.branches.size(); ++i) {
        out += "sluice_task_branch_items_total";
        open_labels(s);
        out += ",branch=\"";
        out += std::to_string(i);
        out += "\"} ";
        out += std::to_string(s.branches[i]);
        out += '\n';
      }
    }
  }

  bool any_breaker = false;
  for (const task_stats& s : stats) any_breaker = any_breaker || s.circuit.has_value();
  if (!any_breaker) return out;
  out += "# HELP sluice_task_circuit_state The state of the task's circuit breaker.\n";
  out += "# TYPE sluice_task_circuit_state gauge\n";
  for (const task_stats& s : stats) {
    if (!s.circuit) continue;
    for (const circuit_state state :
         {circuit_state::closed, circuit_state::open, circuit_state::half_open}) {
      out += "sluice_task_circuit_state";
      open_labels(s);
      out += ",state=\"";
      out += state_name(state);
      out += "\"} ";
      out += *s.circuit == state ? '1' : '0';
      out += '\n';
    }
  }
  return out;
}

}  // namespace sluice
