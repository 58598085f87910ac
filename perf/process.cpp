// Workload "process": small items through 2 worker processes. N int64 (0..N-1) go to the
// workers, f(x) = 2x + 1 runs there, and the results come back and are summed (sum = N^2). f
// costs nothing, so what is measured is the trip to a worker and back per item; every
// implementation makes (forks) its workers and ends them inside the timing.
//   sluice:         (task(whole input, branch) | task(f, sluice::process, {.concurrency = 2}))
//                   > reduce(0, +): the workers are forked when the first item arrives.
//   sluice-pool:    sluice::process_pool{2}.map(f, input), summed.
//   pipes-lockstep: by hand, as a user would: 2 workers forked up front with a pipe pair each;
//                   one parent thread per worker sends one item (8 bytes) and waits for its
//                   8-byte answer before it sends the next. The workers exit at EOF.
//   pipes-windowed: the same with up to 64 items in flight per worker: the parent writes what
//                   the window allows in one write, a worker answers all it read in one write.
//   python-pool:    only when python3 is on PATH: multiprocessing's "fork" Pool(2), imap(f,
//                   range(N), chunksize=1000), summed, timed by python itself around the pool's
//                   creation, the imap and the sum (not the interpreter's start, nor the pool's
//                   close and join).
// Each half of the input goes to one worker in the hand-written baselines. Reports ns per item.
// Bar: sluice's process stage >= python-pool's items/s (not judged without python3).
//
// Workload "process_latency": one item at a time through an idle process stage. A producer
// sleeps 2 ms before each of N items (200), stamps it just before handing it on, and the sink
// subtracts the stamp on arrival (as workload "latency" does for thread stages).
//   sluice:         task(paced, branch) | task(f, sluice::process, {.concurrency = 2}) > sink.
//   pipes-lockstep: one worker forked up front; the caller writes each item to its pipe and
//                   reads the answer.
// Reports the p50 latency in us (p99 as an extra). The sluice row also reports a whole run of one
// item, forking and reaping its 2 workers included (run_us), beside the same run with the stage
// in threads (thread_run_us): the difference is what starting process workers costs a run.
// Bar: sluice p50 <= 100 us.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "work.hpp"
#include "workloads.hpp"

namespace perf {
namespace {

constexpr std::size_t workers = 2;
constexpr std::size_t window = 64;  // items in flight per worker, pipes-windowed

item step(item x) { return 2 * x + 1; }  // sums to n^2 over 0..n-1

struct process_setup {
  std::vector<item> input;
  bool python = false;  // python3 is on PATH
};

// ---- sluice ---------------------------------------------------------------------------------

std::span<const item> whole(std::span<const item> input) { return input; }

item run_sluice(const process_setup& s) {
  static const auto pipeline = (sluice::task(whole, sluice::branch) |
                                sluice::task(step, sluice::process, {.concurrency = workers})) >
                               sluice::reduce(item{0}, std::plus<>{});
  return pipeline(std::span<const item>(s.input));
}

item run_sluice_pool(const process_setup& s) {
  sluice::process_pool pool{workers};
  const std::vector<item> out = pool.map(step, s.input);
  return std::accumulate(out.begin(), out.end(), item{0});
}

// ---- by hand: fork, pipes, one parent thread per worker ---------------------------------------

// Writes all `size` bytes; false on an error (EPIPE: the reader is gone).
bool write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (size != 0) {
    const ssize_t n = ::write(fd, bytes, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A worker's loop: reads what has arrived on `in`, at most `batch` items, writes their results to
// `out` in one write, and exits with status 0 at EOF (anything else: a non-zero status). It runs
// in a child forked from a threaded process, so it calls read, write, memcpy and _exit only.
[[noreturn]] void serve(int in, int out, std::size_t batch) {
  unsigned char pending[window * sizeof(item)];
  item results[window];
  std::size_t have = 0;  // bytes in pending: whole items and at most one torn one
  const std::size_t capacity = std::min(batch, window) * sizeof(item);
  for (;;) {
    const ssize_t n = ::read(in, pending + have, capacity - have);
    if (n == 0) _exit(have == 0 ? 0 : 3);  // EOF in the middle of an item: 3
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(4);
    }
    have += static_cast<std::size_t>(n);
    const std::size_t count = have / sizeof(item);
    for (std::size_t i = 0; i < count; ++i) {
      item x;
      std::memcpy(&x, pending + i * sizeof(item), sizeof x);
      results[i] = step(x);
    }
    if (!write_all(out, results, count * sizeof(item))) _exit(5);
    have -= count * sizeof(item);
    std::memmove(pending, pending + count * sizeof(item), have);
  }
}

// Worker processes forked up front, each with a pipe for its items and one for its results. The
// destructor closes the parent's ends (a worker exits at EOF on its items; one that is writing
// gets EPIPE) and reaps every worker, so no path leaves a zombie or an open descriptor.
class worker_processes {
 public:
  // `batch`: the most items a worker reads and answers at once.
  worker_processes(std::size_t count, std::size_t batch) {
    workers_.reserve(count);
    try {
      for (std::size_t k = 0; k < count; ++k) start(batch);
    } catch (...) {
      reap();
      throw;
    }
  }
  worker_processes(const worker_processes&) = delete;
  worker_processes& operator=(const worker_processes&) = delete;
  ~worker_processes() { reap(); }

  int items(std::size_t k) const { return workers_[k].items; }
  int results(std::size_t k) const { return workers_[k].results; }

  // Closes every descriptor and reaps every worker (once; later calls do nothing).
  void reap() noexcept {
    for (worker& w : workers_) {
      if (w.items >= 0) ::close(std::exchange(w.items, -1));
      if (w.results >= 0) ::close(std::exchange(w.results, -1));
    }
    for (worker& w : workers_) {
      if (w.pid < 0) continue;
      while (waitpid(w.pid, &w.status, 0) < 0 && errno == EINTR) {
      }
      w.pid = -1;
    }
  }

  // How reaped worker k ended: "exited with status 0", "was killed by signal 9".
  std::string ending(std::size_t k) const {
    const int status = workers_[k].status;
    return WIFEXITED(status) ? format("exited with status %d", WEXITSTATUS(status))
                             : format("was killed by signal %d", WTERMSIG(status));
  }

  // Reaps every worker; throws std::runtime_error naming the first that did not exit with 0.
  void finish(const std::string& who) {
    reap();
    for (std::size_t k = 0; k < workers_.size(); ++k) {
      const int status = workers_[k].status;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(format("%s: worker %zu %s", who.c_str(), k, ending(k).c_str()));
    }
  }

 private:
  struct worker {
    pid_t pid = -1;    // -1 once reaped
    int items = -1;    // the parent writes items here
    int results = -1;  // and reads results here
    int status = 0;    // waitpid's, once reaped
  };

  void start(std::size_t batch) {
    int to[2];
    int from[2];
    // O_CLOEXEC: a child that execs (popen's shell, say) holds none of them open.
    if (pipe2(to, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    if (pipe2(from, O_CLOEXEC) != 0) {
      const int error = errno;
      ::close(to[0]);
      ::close(to[1]);
      throw std::system_error(error, std::generic_category(), "pipe2");
    }
    const pid_t pid = fork();
    if (pid == 0) {
      // The parent's ends of the earlier workers' pipes: held here, they would keep a sibling
      // from seeing EOF.
      for (const worker& w : workers_) {
        ::close(w.items);
        ::close(w.results);
      }
      ::close(to[1]);
      ::close(from[0]);
      serve(to[0], from[1], batch);
    }
    const int error = errno;
    ::close(to[0]);
    ::close(from[1]);
    if (pid < 0) {
      ::close(to[1]);
      ::close(from[0]);
      throw std::system_error(error, std::generic_category(), "fork");
    }
    workers_.push_back({pid, to[1], from[0]});  // reserved: does not throw
  }

  std::vector<worker> workers_;
};

// A parent thread writes to a worker's pipe: if that worker died, the write must fail with EPIPE
// (and be reported) rather than kill sluice-perf with SIGPIPE. The signal stays pending on this
// thread only and is discarded when the thread ends.
void block_sigpipe() {
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
}

// Reads what has arrived, up to `size` bytes, at least one; 0 at EOF.
std::size_t read_some(int fd, void* data, std::size_t size, const std::string& who) {
  for (;;) {
    const ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), who + ": read");
  }
}

[[noreturn]] void throw_lost(const std::string& who, std::size_t received, std::size_t expected) {
  throw std::runtime_error(format("%s: its results pipe closed after %zu of %zu results",
                                  who.c_str(), received, expected));
}

void send(int fd, const void* data, std::size_t size, const std::string& who) {
  if (!write_all(fd, data, size))
    throw std::system_error(errno, std::generic_category(), who + ": write to the worker");
}

// One item in flight: send it, wait for its answer, then the next. Gives up early (the sum is
// then meaningless) once `stop` is set: another worker failed.
item feed_lockstep(int to, int from, std::span<const item> items, const std::string& who,
                   const std::atomic<bool>& stop) {
  block_sigpipe();
  item sum = 0;
  for (std::size_t i = 0; i < items.size() && !stop.load(std::memory_order_relaxed); ++i) {
    send(to, &items[i], sizeof(item), who);
    unsigned char answer[sizeof(item)];
    for (std::size_t have = 0; have < sizeof answer;) {
      const std::size_t n = read_some(from, answer + have, sizeof answer - have, who);
      if (n == 0) throw_lost(who, i, items.size());
      have += n;
    }
    item y;
    std::memcpy(&y, answer, sizeof y);
    sum += y;
  }
  return sum;
}

// Up to `window` items in flight: top the window up in one write, then take whatever results
// have arrived (waiting for at least one byte). Gives up early as feed_lockstep does.
item feed_windowed(int to, int from, std::span<const item> items, const std::string& who,
                   const std::atomic<bool>& stop) {
  block_sigpipe();
  unsigned char buffer[window * sizeof(item)];
  std::size_t have = 0;  // bytes in buffer
  std::size_t sent = 0;
  std::size_t received = 0;
  item sum = 0;
  while (received < items.size() && !stop.load(std::memory_order_relaxed)) {
    const std::size_t count = std::min(window - (sent - received), items.size() - sent);
    if (count != 0) {
      send(to, items.data() + sent, count * sizeof(item), who);
      sent += count;
    }
    const std::size_t n = read_some(from, buffer + have, sizeof buffer - have, who);
    if (n == 0) throw_lost(who, received, items.size());
    have += n;
    const std::size_t whole_items = have / sizeof(item);
    for (std::size_t i = 0; i < whole_items; ++i) {
      item y;
      std::memcpy(&y, buffer + i * sizeof(item), sizeof y);
      sum += y;
    }
    received += whole_items;
    have -= whole_items * sizeof(item);
    std::memmove(buffer, buffer + whole_items * sizeof(item), have);
  }
  return sum;
}

using feed_function = item (*)(int, int, std::span<const item>, const std::string&,
                               const std::atomic<bool>&);

// Worker k gets the positions [k*n/workers, (k+1)*n/workers) and a parent thread of its own. The
// first thread that fails stops the others, so a dead worker fails the run at once, not after
// the other workers have finished their shares.
item run_pipes(const process_setup& s, const char* name, std::size_t batch, feed_function feed) {
  worker_processes procs(workers, batch);
  const std::span<const item> input(s.input);
  const std::size_t n = input.size();
  std::vector<item> sums(workers, 0);
  std::vector<std::exception_ptr> errors(workers);
  std::atomic<bool> failed{false};
  {
    std::vector<std::jthread> threads;
    threads.reserve(workers);
    for (std::size_t k = 0; k < workers; ++k)
      threads.emplace_back([&, k] {
        try {
          const std::string who = format("process/%s: worker %zu", name, k);
          sums[k] = feed(procs.items(k), procs.results(k),
                         input.subspan(k * n / workers, (k + 1) * n / workers - k * n / workers),
                         who, failed);
        } catch (...) {
          errors[k] = std::current_exception();
          failed.store(true, std::memory_order_relaxed);
        }
      });
  }  // joined
  for (std::size_t k = 0; k < workers; ++k) {
    if (!errors[k]) continue;
    procs.reap();
    try {
      std::rethrow_exception(errors[k]);
    } catch (const std::exception& e) {  // what the thread saw, and how its worker ended
      throw std::runtime_error(format("%s; the worker %s", e.what(), procs.ending(k).c_str()));
    }
  }
  procs.finish(std::string("process/") + name);
  return std::accumulate(sums.begin(), sums.end(), item{0});
}

item run_pipes_lockstep(const process_setup& s) {
  return run_pipes(s, "pipes-lockstep", 1, feed_lockstep);
}

item run_pipes_windowed(const process_setup& s) {
  return run_pipes(s, "pipes-windowed", window, feed_windowed);
}

// ---- python's multiprocessing ------------------------------------------------------------------

// Run as `python3 -c SCRIPT N`; prints "SECONDS SUM". No single quote: it is quoted for sh.
constexpr const char* python_script = R"(
import multiprocessing, sys, time
def f(x):
    return 2 * x + 1
n = int(sys.argv[1])
context = multiprocessing.get_context("fork")
start = time.perf_counter()
pool = context.Pool(2)
total = sum(pool.imap(f, range(n), chunksize=1000))
elapsed = time.perf_counter() - start
pool.close()
pool.join()
print(elapsed, total)
)";

bool python_on_path() { return std::system("command -v python3 >/dev/null 2>&1") == 0; }

struct python_result {
  double seconds = 0;
  item sum = 0;
};

python_result run_python(item n) {
  const std::string command =
      std::string("python3 -c '") + python_script + "' " + std::to_string(n);
  std::fflush(nullptr);  // what sluice-perf printed comes before what python3 prints
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr)
    throw std::system_error(errno, std::generic_category(), "process/python-pool: popen");
  std::string output;
  char buffer[256];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) != 0;)
    output.append(buffer, got);
  const int status = pclose(pipe);
  if (status == -1)
    throw std::system_error(errno, std::generic_category(), "process/python-pool: pclose");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(format("process/python-pool: python3 %s %d",
                                    WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)));
  python_result r;
  if (std::sscanf(output.c_str(), "%lf %" SCNd64, &r.seconds, &r.sum) != 2 || !(r.seconds > 0))
    throw std::runtime_error("process/python-pool: python3 printed '" + output +
                             "', expected 'SECONDS SUM'");
  return r;
}

// ---- process_latency ---------------------------------------------------------------------------

constexpr auto gap = std::chrono::milliseconds(2);
constexpr int startup_runs = 20;

struct stamp {
  item index = 0;
  std::int64_t sent_ns = 0;
};

}  // namespace
}  // namespace perf

template <>
struct sluice::codec<perf::stamp> {
  static void encode(const perf::stamp& s, writer& out) {
    out.write(s.index);
    out.write(s.sent_ns);
  }
  static perf::stamp decode(reader& in) {
    perf::stamp s;
    s.index = in.read<perf::item>();
    s.sent_ns = in.read<std::int64_t>();
    return s;
  }
};

namespace perf {
namespace {

stamp pass(stamp s) { return s; }

// What the sink saw: one latency per item, and the indices' sum as the checksum.
struct arrivals {
  std::vector<double> micros;
  item index_sum = 0;

  void record(const stamp& s) {
    micros.push_back(static_cast<double>(now_ns() - s.sent_ns) * 1e-3);
    index_sum += s.index;
  }
};

sluice::generator<stamp> paced(item n) {
  for (item i = 0; i < n; ++i) {
    std::this_thread::sleep_for(gap);
    co_yield stamp{i, now_ns()};
  }
}

arrivals latency_sluice(item n) {
  arrivals a;
  const auto pipeline = sluice::task(paced, sluice::branch) |
                        sluice::task(pass, sluice::process, {.concurrency = workers}) >
                        sluice::for_each([&a](const stamp& s) { a.record(s); });
  pipeline(n);
  return a;
}

arrivals latency_pipes(item n) {
  const std::string who = "process_latency/pipes-lockstep";
  block_sigpipe();
  worker_processes procs(1, 1);
  arrivals a;
  for (item i = 0; i < n; ++i) {
    std::this_thread::sleep_for(gap);
    const stamp s{i, now_ns()};
    send(procs.items(0), &s.index, sizeof(item), who);
    unsigned char answer[sizeof(item)];
    for (std::size_t have = 0; have < sizeof answer;) {
      const std::size_t got = read_some(procs.results(0), answer + have, sizeof answer - have, who);
      if (got == 0) throw_lost(who, static_cast<std::size_t>(i), static_cast<std::size_t>(n));
      have += got;
    }
    item y;
    std::memcpy(&y, answer, sizeof y);
    expect_equal(who, "answer", y, step(i));
    a.record(s);
  }
  procs.finish(who);
  return a;
}

// The median time, in us, of a whole run of one item through a stage in processes or threads.
template <class Stage>
double one_item_run_us(const Stage& stage) {
  std::vector<double> micros;
  for (int k = 0; k < startup_runs; ++k) {
    const std::int64_t start = now_ns();
    const item got = stage(item{20});
    micros.push_back(static_cast<double>(now_ns() - start) * 1e-3);
    expect_equal("process_latency/sluice", "one-item run", got, step(20));
  }
  return median(micros);
}

sample run_us_extras(sample s) {
  const auto single = [](item x) { return std::vector<item>{x}; };
  const auto in_processes = (sluice::task(single, sluice::branch) |
                             sluice::task(step, sluice::process, {.concurrency = workers})) >
                            sluice::reduce(item{0}, std::plus<>{});
  const auto in_threads = (sluice::task(single, sluice::branch) |
                           sluice::task(step, {.concurrency = workers})) >
                          sluice::reduce(item{0}, std::plus<>{});
  s.extras.emplace_back("run_us", one_item_run_us(in_processes));
  s.extras.emplace_back("thread_run_us", one_item_run_us(in_threads));
  return s;
}

implementation latency_impl(std::string name, item n, arrivals (*run)(item), bool with_runs) {
  std::string who = "process_latency/" + name;
  return {std::move(name), [who = std::move(who), n, run, with_runs] {
            const arrivals a = run(n);
            expect_equal(who, "items", static_cast<long long>(a.micros.size()),
                         static_cast<long long>(n));
            expect_equal(who, "index sum", static_cast<long long>(a.index_sum),
                         static_cast<long long>(n * (n - 1) / 2));
            sample s{percentile(a.micros, 50), not_applicable, {{"p99_us", percentile(a.micros, 99)}}};
            return with_runs ? run_us_extras(std::move(s)) : s;
          }};
}

// ---- implementations ---------------------------------------------------------------------------

implementation process_impl(const char* name, const std::shared_ptr<process_setup>& s,
                            item (*run)(const process_setup&)) {
  return {name, [name, s, run] {
            item got = 0;
            const double seconds = time_seconds([&] { got = run(*s); });
            const auto n = static_cast<item>(s->input.size());
            expect_equal(std::string("process/") + name, "sum", got, n * n);
            const double count = static_cast<double>(n);
            return sample{seconds * 1e9 / count, count / seconds};
          }};
}

implementation python_impl(const std::shared_ptr<process_setup>& s) {
  return {"python-pool", [s] {
            const auto n = static_cast<item>(s->input.size());
            const python_result r = run_python(n);
            expect_equal("process/python-pool", "sum", r.sum, n * n);
            const double count = static_cast<double>(n);
            return sample{r.seconds * 1e9 / count, count / r.seconds};
          }};
}

}  // namespace

result run_process(const options& o) {
  auto s = std::make_shared<process_setup>();
  s->input.resize(static_cast<std::size_t>(o.size(2'000'000, 20'000)));
  std::iota(s->input.begin(), s->input.end(), item{0});
  s->python = python_on_path();

  result r{"process", "ns/item"};
  r.parameters = {{"items", static_cast<double>(s->input.size())},
                  {"workers", static_cast<double>(workers)},
                  {"window", static_cast<double>(window)}};
  print_parameters(r);
  std::vector<implementation> impls = {process_impl("sluice", s, run_sluice),
                                       process_impl("sluice-pool", s, run_sluice_pool),
                                       process_impl("pipes-lockstep", s, run_pipes_lockstep),
                                       process_impl("pipes-windowed", s, run_pipes_windowed)};
  if (s->python) impls.push_back(python_impl(s));
  r.rows = run_rounds(r.workload, impls, o);

  const char* text = "sluice process stage >= python-pool items/s";
  if (const row* python = r.find("python-pool")) {
    const double ours = r.at("sluice").median_items_per_second();
    const double theirs = python->median_items_per_second();
    const double ratio = ours / theirs;
    r.bars.push_back(make_bar(
        text, ratio, format("%.2fx (%.3g vs %.3g items/s)", ratio, ours, theirs), ratio >= 1));
  } else {
    r.bars.push_back(unjudged_bar(text, "python3 is not on PATH"));
  }
  return r;
}

}  // namespace perf

namespace perf {

result run_process_latency(const options& o) {
  const item n = o.size(200, 20, 2);
  result r{"process_latency", "us p50"};
  r.parameters = {{"items", static_cast<double>(n)},
                  {"workers", static_cast<double>(workers)},
                  {"gap_ms", std::chrono::duration<double, std::milli>(gap).count()}};
  print_parameters(r);
  std::vector<implementation> impls;
  impls.push_back(latency_impl("sluice", n, latency_sluice, true));
  impls.push_back(latency_impl("pipes-lockstep", n, latency_pipes, false));
  r.rows = run_rounds(r.workload, impls, o);

  const row& sluice = r.at("sluice");
  const double p50 = sluice.median_value();
  r.bars.push_back(make_bar(
      "sluice process stage p50 <= 100 us", p50,
      format("%.1f us (p99 %.1f us); a run of one item: %.0f us in processes, %.0f us in threads",
             p50, sluice.median_extra("p99_us"), sluice.median_extra("run_us"),
             sluice.median_extra("thread_run_us")),
      p50 <= 100));
  return r;
}

}  // namespace perf
