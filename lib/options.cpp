// Checks a task's options when a run is built; every message names the task.
#include <stdexcept>
#include <string>
#include <string_view>

#include <sluice/detail/engine/stage.hpp>
#include <sluice/detail/pools/parallel_map.hpp>
#include <sluice/task.hpp>

namespace sluice::detail {

task_config::task_config() = default;
task_config::task_config(const task_config&) = default;
task_config::task_config(task_config&&) noexcept = default;
task_config& task_config::operator=(const task_config&) = default;
task_config& task_config::operator=(task_config&&) noexcept = default;
task_config::~task_config() = default;

std::shared_ptr<const task_settings> keep_task_options(task_options&& options) {
  auto settings = std::make_shared<task_settings>();
  settings->options = std::move(options);
  if (settings->options.cache) {
    settings->cache = std::make_shared<cache_slot>(*settings->options.cache);
  }
  return settings;
}

std::shared_ptr<const task_settings> with_own_cache(const task_settings& settings) {
  return keep_task_options(task_options(settings.options));
}

task_config resolve_task(std::size_t position, const task_settings& settings, bool producer,
                         bool join) {
  const task_options& options = settings.options;
  const std::size_t concurrency = options.concurrency;
  task_resilience resilience{options.retry, options.rate, settings.cache, options.timeout,
                             options.breaker};
  task_config config;
  config.position = position;
  const std::string numbered = "task#" + std::to_string(position);
  config.name = options.name.empty() ? numbered : options.name;
  const std::string who =
      options.name.empty() ? numbered : "task '" + options.name + "' (" + numbered + ")";
  if (concurrency == 0) {
    throw std::invalid_argument("sluice: " + who +
                                " has concurrency 0; concurrency must be at least 1");
  }
  if (concurrency > max_concurrency) {
    throw std::invalid_argument("sluice: " + who + " has concurrency " +
                                std::to_string(concurrency) + "; at most sluice::max_concurrency (" +
                                std::to_string(max_concurrency) +
                                ") calls of a task may be in flight at once, each on a thread");
  }
  if (producer && join) {
    throw std::invalid_argument("sluice: " + who +
                                " is the producer and is marked sluice::join; the first task "
                                "of a pipeline has no upstream to join");
  }
  if (producer && concurrency > 1) {
    throw std::invalid_argument("sluice: " + who + " is the producer and has concurrency " +
                                std::to_string(concurrency) +
                                "; the first task of a pipeline runs once per run, so its "
                                "concurrency must be 1");
  }
  if (resilience.any() && (producer || join)) {
    throw std::invalid_argument(
        "sluice: " + who + (producer ? " is the producer" : " is a sluice::join task") +
        " and has retry, rate, cache, timeout or breaker options; they wrap each item's call, "
        "and this task's callable is not called per item");
  }
  if (resilience.retry) check_retry_policy(*resilience.retry, who);
  if (resilience.rate) check_rate_limit(*resilience.rate, who);
  // A cache policy is checked when the task's cache is made (cache_store), a breaker when it is.
  if (resilience.timeout.count() < 0) {
    throw std::invalid_argument("sluice: " + who + " has a negative timeout (" +
                                std::to_string(resilience.timeout.count()) + " ms); 0 means none");
  }
  config.who = who;
  config.resilience = std::move(resilience);
  config.concurrency = concurrency;
  config.capacity = resolved_capacity(options.capacity);
  config.ordered = options.ordered && concurrency > 1;
  config.on_error = options.on_error;
  return config;
}

void check_workers(std::size_t workers, std::string_view who) {
  if (workers <= max_concurrency) return;
  throw std::invalid_argument("sluice: " + std::string(who) + " has " + std::to_string(workers) +
                              " workers; at most sluice::max_concurrency (" +
                              std::to_string(max_concurrency) +
                              ") calls may be in flight at once, each on a thread");
}

void reject_process_mode(std::string_view where, const std::type_info& element,
                         const std::type_info& result) {
  throw std::invalid_argument(
      "sluice: " + std::string(where) + " with .mode = sluice::execution::process sends each "
      "element to a worker process and its result back by sluice::codec, but the element type (" +
      demangled_name(element) + ") or the result type (" + demangled_name(result) +
      ") has no sluice::codec (specialise it, see sluice/codec.hpp)");
}

void reject_nested(std::size_t position, const std::string& name,
                   const std::invalid_argument& inner) {
  const std::string numbered = "task#" + std::to_string(position);
  const std::string who = name.empty() ? numbered + " (a nested pipeline)"
                                       : "task '" + name + "' (" + numbered + ", a nested pipeline)";
  std::string_view rest = inner.what();
  constexpr std::string_view prefix = "sluice: ";
  if (rest.substr(0, prefix.size()) == prefix) rest.remove_prefix(prefix.size());
  // "its task#2 has ...", "its batch#3 has ...", "its in_order#4 has ..."; other messages name
  // the inner stage themselves.
  bool names_stage = rest.substr(0, 4) == "task";
  for (const std::string_view stage : {"batch#", "fan_out#", "route#", "zip#", "in_order#"}) {
    names_stage = names_stage || rest.substr(0, stage.size()) == stage;
  }
  throw std::invalid_argument("sluice: " + who + ": " + (names_stage ? "its " : "") +
                              std::string(rest));
}

void reject_rvalue_resilience(const std::string& who) {
  throw std::invalid_argument(
      "sluice: " + who +
      " has retry, rate, cache, timeout or breaker options, but its callable takes its input as "
      "an rvalue; they need to call it with the same input again (take it by const reference)");
}

void reject_cache_key_without_cache(const std::string& who) {
  throw std::invalid_argument("sluice: " + who +
                              " has a cache_key but no cache option; the key only chooses what "
                              "its cache is keyed by: give the task .cache = "
                              "sluice::cache_policy{...}, or drop the cache_key");
}

void reject_unmade_cache(const std::string& who) {
  throw std::logic_error("sluice: " + who +
                         "'s cache was not made for its input type before its run started");
}

}  // namespace sluice::detail
