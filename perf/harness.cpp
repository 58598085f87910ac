// The harness of sluice-perf (see harness.hpp): options, statistics, interleaved rounds, the
// table, the bar lines, the JSON report and the child-process runner. It measures nothing itself.
#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stop_token>
#include <thread>

namespace perf {

// --- options --------------------------------------------------------------------------------

std::int64_t options::size(std::int64_t full, std::int64_t quick_size, std::int64_t minimum) const {
  const double scaled = static_cast<double>(quick ? quick_size : full) * scale;
  return std::max(minimum, static_cast<std::int64_t>(std::llround(scaled)));
}

double options::seconds(double full, double quick_seconds) const {
  return (quick ? quick_seconds : full) * scale;
}

bool options::wants(std::string_view workload) const {
  return only.empty() || std::find(only.begin(), only.end(), workload) != only.end();
}

namespace {

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    parts.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

bool parse_number(const char* text, double& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtod(text, &end);
  return errno == 0 && end != text && *end == '\0';
}

}  // namespace

bool parse_options(int argc, char** argv, options& o, std::vector<std::string>& child) {
  bool repeat_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    double number = 0;
    if (arg == "--child") {  // hidden: this program run by run_child()
      child.assign(argv + i + 1, argv + argc);
      return !child.empty();
    } else if (arg == "--quick") {
      o.quick = true;
    } else if (arg == "--strict") {
      o.strict = true;
    } else if (arg == "--json" && value != nullptr) {
      o.json = value;
      ++i;
    } else if (arg == "--only" && value != nullptr) {
      o.only = split_commas(value);
      ++i;
    } else if (arg == "--repeat" && value != nullptr && parse_number(value, number) &&
               number >= 1 && number <= 1000 && number == std::floor(number)) {
      o.repeat = static_cast<int>(number);
      repeat_given = true;
      ++i;
    } else if (arg == "--timeout" && value != nullptr && parse_number(value, number) &&
               number > 0) {
      o.timeout = number;
      ++i;
    } else if (arg == "--scale" && value != nullptr && parse_number(value, number) && number > 0 &&
               number <= 1000) {
      o.scale = number;
      ++i;
    } else {
      std::fprintf(stderr, "sluice-perf: bad or incomplete argument '%s'\n", argv[i]);
      return false;
    }
  }
  if (o.quick && !repeat_given) o.repeat = 1;
  return true;
}

void print_usage(const char* argv0, const std::vector<std::string>& workloads) {
  std::string names;
  for (const std::string& w : workloads) names += (names.empty() ? "" : ",") + w;
  std::fprintf(stderr,
               "usage: %s [--quick] [--repeat R] [--scale F] [--only W[,W...]] [--json FILE] "
               "[--strict] [--timeout S]\n"
               "  --quick    small sizes, 1 round: checks that everything runs and every result\n"
               "             is right; bars are printed but not judged\n"
               "  --repeat R rounds (default 5; 1 with --quick); the median is reported\n"
               "  --scale F  multiplies every workload's size (default 1)\n"
               "  --only W   run only these workloads: %s\n"
               "  --json F   also write every row and every repetition to F\n"
               "  --strict   exit 3 when a judged bar fails (a wrong result always exits 1)\n"
               "  --timeout S  seconds one implementation may take for one run before sluice-perf\n"
               "             calls it a hang and exits 1 (default 600; 60 with --quick)\n",
               argv0, names.c_str());
}

// --- timing and statistics --------------------------------------------------------------------

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  if (v.empty()) return not_applicable;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 != 0 ? v[m] : (v[m - 1] + v[m]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return not_applicable;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const std::size_t index = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
  return v[std::min(index, v.size() - 1)];
}

// --- results ----------------------------------------------------------------------------------

double row::median_value() const {
  std::vector<double> v;
  for (const sample& s : samples) v.push_back(s.value);
  return median(std::move(v));
}

double row::median_items_per_second() const {
  std::vector<double> v;
  for (const sample& s : samples)
    if (!std::isnan(s.items_per_second)) v.push_back(s.items_per_second);
  return median(std::move(v));
}

std::vector<double> row::extra(std::string_view name) const {
  std::vector<double> v;
  for (const sample& s : samples)
    for (const auto& [key, value] : s.extras)
      if (key == name) v.push_back(value);
  return v;
}

double row::median_extra(std::string_view name) const { return median(extra(name)); }

const row* result::find(std::string_view implementation) const {
  for (const row& r : rows)
    if (r.implementation == implementation) return &r;
  return nullptr;
}

const row& result::at(std::string_view implementation) const {
  if (const row* r = find(implementation)) return *r;
  throw std::out_of_range("sluice-perf: " + workload + " has no row " +
                          std::string(implementation));
}

void throw_mismatch(std::string_view who, std::string_view what, const std::string& got,
                    const std::string& expected) {
  throw mismatch(std::string(who) + ": " + std::string(what) + " " + got + ", expected " +
                 expected);
}

namespace {

// Ends the whole program (exit status 1) if it is not destroyed within `seconds`: a hung
// implementation must fail the run, not stall it. Child processes die with it (run_child).
class watchdog {
 public:
  watchdog(std::string label, double seconds)
      : thread_([this, label = std::move(label), seconds](std::stop_token stop) {
          std::unique_lock lock(mutex_);
          const auto limit = std::chrono::duration<double>(seconds);
          if (!wake_.wait_for(lock, stop, limit, [] { return false; }) && !stop.stop_requested()) {
            std::fprintf(stderr, "\nsluice-perf: %s still running after %g s: a hang? giving up\n",
                         label.c_str(), seconds);
            std::_Exit(1);
          }
        }) {}

 private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: started after, and stopped and joined before, the rest
};

// Whether a thread of this process other than the caller is running or waiting for a core.
bool others_runnable() {
  const long self = static_cast<long>(gettid());
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  bool found = false;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.' || std::atol(entry->d_name) == self) continue;
    std::ifstream stat(std::string("/proc/self/task/") + entry->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto name_end = line.rfind(')');  // the state follows the name, which may hold spaces
    if (name_end != std::string::npos && name_end + 2 < line.size() && line[name_end + 2] == 'R') {
      found = true;
      break;
    }
  }
  closedir(tasks);
  return found;
}

// Waits, up to 200 ms, until no other thread of the process has been runnable for two looks a
// millisecond apart: each run starts on a quiet process, for every implementation alike. Threads
// that the run before left spinning took the cores from the next one: TBB's workers spin for a
// while when their arena's work runs out, and right after a 100-worker TBB arena the blocking
// workload's first sleeper started 4-7 ms late (0.1-0.5 ms after a run of its own).
void settle() {
  using namespace std::chrono_literals;
  const auto until = clock::now() + 200ms;
  for (int quiet = 0; quiet < 2 && clock::now() < until;) {
    quiet = others_runnable() ? 0 : quiet + 1;
    std::this_thread::sleep_for(1ms);
  }
}

double timeout_of(const options& o) {
  if (o.timeout > 0) return o.timeout;
  return o.quick ? 60 : 600;
}

}  // namespace

std::vector<row> run_rounds(std::string_view workload, const std::vector<implementation>& impls,
                            const options& o, const std::function<void(int)>& before_round) {
  std::vector<row> rows;
  for (const implementation& im : impls) rows.push_back({im.name, {}});
  const bool progress = isatty(STDERR_FILENO) != 0;
  for (int r = 0; r < o.repeat; ++r) {
    if (before_round) before_round(r);
    for (std::size_t i = 0; i < impls.size(); ++i) {
      const std::string label = std::string(workload) + "/" + impls[i].name;
      if (progress)
        std::fprintf(stderr, "\r\033[K  round %d/%d: %s", r + 1, o.repeat, label.c_str());
      const watchdog guard(label, timeout_of(o));
      settle();
      rows[i].samples.push_back(impls[i].run());
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  return rows;
}

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string text(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(text.data(), text.size() + 1, fmt, again);
  va_end(again);
  return text;
}

bar make_bar(std::string text, double value, std::string shown, bool pass) {
  return {std::move(text), value, std::move(shown), pass};
}

bar unjudged_bar(std::string text, std::string why) {
  return {std::move(text), not_applicable, std::move(why), false, false};
}

// --- output -----------------------------------------------------------------------------------

namespace {

// A number for the table: about four significant digits, "-" when not applicable.
std::string table_number(double v) {
  if (std::isnan(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 1e7) return format("%.3g", v);
  if (a >= 1000) return format("%.0f", v);
  if (a >= 10) return format("%.1f", v);
  if (a >= 0.01) return format("%.3f", v);
  return format("%.3g", v);
}

double ratio_to_reference(const result& r, const row& x) {
  const row* ref = r.find(r.reference);
  return ref != nullptr ? x.median_value() / ref->median_value() : not_applicable;
}

}  // namespace

void print_preamble(const options& o) {
  std::printf("sluice-perf: %u hardware threads, %d round%s, scale %g%s\n",
              std::thread::hardware_concurrency(), o.repeat, o.repeat == 1 ? "" : "s", o.scale,
              o.quick ? ", quick (sizes too small to judge; bars are not judged)" : "");
  std::printf(
      "(median of the rounds; ratio = median / the reference's median, sluice unless "
      "noted: below 1 is lower than sluice's)\n");
  std::fflush(stdout);
}

void print_parameters(const result& r) {
  std::printf("# %s:", r.workload.c_str());
  for (const auto& [name, value] : r.parameters) std::printf(" %s=%.10g", name.c_str(), value);
  if (r.reference != "sluice") std::printf(" (ratio vs %s)", r.reference.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

void print_table_header() {
  std::printf("%-9s %-22s %11s %-8s %11s %8s\n", "workload", "implementation", "median", "unit",
              "items/s", "ratio");
}

void print_rows(const result& r) {
  for (const row& x : r.rows)
    std::printf("%-9s %-22s %11s %-8s %11s %8s\n", r.workload.c_str(), x.implementation.c_str(),
                table_number(x.median_value()).c_str(), r.unit.c_str(),
                table_number(x.median_items_per_second()).c_str(),
                table_number(ratio_to_reference(r, x)).c_str());
  std::fflush(stdout);
}

void print_bars(const result& r, const options& o) {
  for (const bar& b : r.bars)
    std::printf("bar %s: %s: %s %s\n", r.workload.c_str(), b.text.c_str(), b.shown.c_str(),
                o.quick     ? "(quick: not judged)"
                : !b.judged ? "(not judged)"
                : b.pass    ? "PASS"
                            : "FAIL");
  std::fflush(stdout);
}

namespace {

// A minimal JSON writer: enough for numbers, strings, and the nesting write_json needs.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += format("\\u%04x", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double v) { return std::isfinite(v) ? format("%.9g", v) : "null"; }

std::string json_numbers(const std::vector<double>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i != 0 ? ", " : "") + json_number(v[i]);
  return out + "]";
}

std::vector<std::string> extra_names(const row& x) {
  std::vector<std::string> names;
  for (const sample& s : x.samples)
    for (const auto& extra : s.extras)
      if (std::find(names.begin(), names.end(), extra.first) == names.end())
        names.push_back(extra.first);
  return names;
}

void write_row(std::ostream& out, const result& r, const row& x) {
  std::vector<double> values, rates;
  for (const sample& s : x.samples) {
    values.push_back(s.value);
    rates.push_back(s.items_per_second);
  }
  out << "        {\"implementation\": " << json_string(x.implementation)
      << ", \"median\": " << json_number(x.median_value())
      << ", \"items_per_second\": " << json_number(x.median_items_per_second())
      << ", \"ratio\": " << json_number(ratio_to_reference(r, x))
      << ",\n         \"values\": " << json_numbers(values)
      << ",\n         \"items_per_second_values\": " << json_numbers(rates)
      << ",\n         \"extras\": {";
  const std::vector<std::string> names = extra_names(x);
  for (std::size_t i = 0; i < names.size(); ++i)
    out << (i != 0 ? ", " : "") << json_string(names[i])
        << ": {\"median\": " << json_number(x.median_extra(names[i]))
        << ", \"values\": " << json_numbers(x.extra(names[i])) << "}";
  out << "}}";
}

void write_result(std::ostream& out, const result& r, const options& o) {
  out << "    {\"workload\": " << json_string(r.workload) << ", \"unit\": " << json_string(r.unit)
      << ", \"reference\": " << json_string(r.reference) << ",\n      \"parameters\": {";
  for (std::size_t i = 0; i < r.parameters.size(); ++i)
    out << (i != 0 ? ", " : "") << json_string(r.parameters[i].first) << ": "
        << json_number(r.parameters[i].second);
  out << "},\n      \"rows\": [\n";
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    write_row(out, r, r.rows[i]);
    out << (i + 1 < r.rows.size() ? ",\n" : "\n");
  }
  out << "      ],\n      \"bars\": [";
  for (std::size_t i = 0; i < r.bars.size(); ++i) {
    const bar& b = r.bars[i];
    out << (i != 0 ? ",\n        " : "\n        ") << "{\"text\": " << json_string(b.text)
        << ", \"value\": " << json_number(b.value) << ", \"shown\": " << json_string(b.shown)
        << ", \"pass\": " << (b.pass ? "true" : "false")
        << ", \"judged\": " << (o.quick || !b.judged ? "false" : "true") << "}";
  }
  out << (r.bars.empty() ? "]}" : "\n      ]}");
}

}  // namespace

void write_json(const std::string& path, const options& o, const std::vector<result>& results) {
  std::ofstream out(path);
  out << "{\n  \"program\": \"sluice-perf\",\n  \"hardware_threads\": "
      << std::thread::hardware_concurrency() << ",\n  \"quick\": " << (o.quick ? "true" : "false")
      << ",\n  \"repeat\": " << o.repeat << ",\n  \"scale\": " << json_number(o.scale)
      << ",\n  \"workloads\": [\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    write_result(out, results[i], o);
    out << (i + 1 < results.size() ? ",\n" : "\n");
  }
  out << "  ]\n}\n";
  if (!out) throw std::runtime_error("sluice-perf: could not write " + path);
}

// --- child processes --------------------------------------------------------------------------

namespace {

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return text;
    }
  }
}

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("sluice-perf: waitpid failed");
  return status;
}

}  // namespace

std::string run_child(const std::vector<std::string>& args) {
  std::vector<std::string> words = {"sluice-perf", "--child"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("sluice-perf: pipe failed");
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);  // dup2 below clears it on the child's stdout
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("sluice-perf: fork failed");
  if (pid == 0) {                      // only async-signal-safe calls until exec
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with sluice-perf (e.g. when the watchdog fires)
    dup2(fds[1], STDOUT_FILENO);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string output = read_all(fds[0]);
  close(fds[0]);
  const int status = wait_for(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string command;
    for (const std::string& a : args) command += " " + a;
    throw std::runtime_error(format("sluice-perf: child%s %s %d", command.c_str(),
                                    WIFEXITED(status) ? "exited with" : "killed by signal",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)));
  }
  return output;
}

}  // namespace perf
