// The worker processes of a process task or pool: the worker's loop (in the child) and the I/O
// thread (in the parent). docs/processes.md tells the same story for users.
//
// Frames. To a worker:   u32 length | u64 sequence | input bytes          (length = 8 + bytes)
//         From a worker: u32 length | u64 sequence | u8 kind | bytes      (length = 9 + bytes)
// kind: a result, a remote exception ("type\0what"), or an input the worker could not decode.
//
// The page a worker shares with its parent (mmap MAP_SHARED, made before the fork) says which
// item it runs and since when (for timeouts and for naming the item a death fails), and mirrors
// the result frames it has not written to its pipe yet: a worker writes its results once per
// batch, so when it dies the results of the items it finished since its last write are read
// from the mirror. Nothing is lost and nothing runs twice; the parent ignores a result it has
// already taken (a worker may die between its write and clearing the mirror).
#include <sluice/detail/process/worker_set.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include <sluice/errors.hpp>

#include "spawner.hpp"

namespace sluice::detail {
namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t kInHeader = 4 + 8;
constexpr std::size_t kOutHeader = 4 + 8 + 1;
constexpr std::size_t kShared = std::size_t{1} << 20;  // page header + result mirror
constexpr std::size_t kReadChunk = 64 * 1024;

enum class frame_kind : std::uint8_t { result = 0, remote_error = 1, codec_error = 2 };

struct shared_page {
  std::atomic<std::uint64_t> running;  // sequence + 1 of the item running; 0 between items
  std::atomic<std::int64_t> started;   // when it started (steady clock, ns); set before running
  std::atomic<std::uint64_t> mirrored;  // bytes of result frames in the mirror, not yet written
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared between processes");
constexpr std::size_t kMirrorOffset = 64;
constexpr std::size_t kMirror = kShared - kMirrorOffset;

char* mirror_of(shared_page* page) { return reinterpret_cast<char*>(page) + kMirrorOffset; }

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

void put_u32(char* at, std::uint32_t v) { std::memcpy(at, &v, 4); }
void put_u64(char* at, std::uint64_t v) { std::memcpy(at, &v, 8); }
std::uint32_t get_u32(const char* at) {
  std::uint32_t v;
  std::memcpy(&v, at, 4);
  return v;
}
std::uint64_t get_u64(const char* at) {
  std::uint64_t v;
  std::memcpy(&v, at, 8);
  return v;
}

// Writes all of `bytes` to a blocking descriptor; false when the reader is gone.
bool write_all(int fd, const char* bytes, std::size_t size) {
  while (size > 0) {
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

// --- the worker ---------------------------------------------------------------------------------

// Runs one item and leaves its result frame in the mirror (or, too big for it, on the pipe).
void run_item(std::uint64_t sequence, std::string_view input, const serve_function& serve,
              shared_page* page, std::string& bytes, int out) {
  page->running.store(0, std::memory_order_relaxed);
  page->started.store(now_ns(), std::memory_order_relaxed);
  page->running.store(sequence + 1, std::memory_order_release);
  bytes.clear();
  frame_kind kind = frame_kind::result;
  try {
    serve(input, bytes);
  } catch (const codec_error& e) {
    kind = frame_kind::codec_error;
    bytes = e.what();
  } catch (...) {
    const exception_description what = describe_current_exception();
    kind = frame_kind::remote_error;
    bytes = what.type_name;
    bytes.push_back('\0');
    bytes += what.what;
  }
  char header[kOutHeader];
  put_u32(header, static_cast<std::uint32_t>(9 + bytes.size()));
  put_u64(header + 4, sequence);
  header[12] = static_cast<char>(kind);
  const std::size_t frame = kOutHeader + bytes.size();
  std::uint64_t used = page->mirrored.load(std::memory_order_relaxed);
  if (used + frame > kMirror && used > 0) {  // send the batch so far first
    if (!write_all(out, mirror_of(page), used)) _exit(0);
    page->mirrored.store(used = 0, std::memory_order_release);
  }
  if (frame > kMirror) {  // sent at once; a death meanwhile fails this item
    if (!write_all(out, header, kOutHeader) || !write_all(out, bytes.data(), bytes.size())) {
      _exit(0);
    }
  } else {
    std::memcpy(mirror_of(page) + used, header, kOutHeader);
    std::memcpy(mirror_of(page) + used + kOutHeader, bytes.data(), bytes.size());
    page->mirrored.store(used + frame, std::memory_order_release);
  }
  page->running.store(0, std::memory_order_release);
}

// The worker's whole life: runs every item it is sent, in order, and sends each batch of results
// in one write when it has no complete item left to run; leaves when its input pipe closes.
[[noreturn]] void worker_main(int in, int out, shared_page* page, const serve_function& serve) {
  fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
  std::vector<char> chunk(kReadChunk);
  std::string input;
  std::string bytes;
  std::size_t start = 0;
  for (;;) {
    while (input.size() - start >= kInHeader) {
      const std::uint32_t length = get_u32(input.data() + start);
      if (input.size() - start < 4 + std::size_t{length}) break;
      const std::uint64_t sequence = get_u64(input.data() + start + 4);
      run_item(sequence, std::string_view(input).substr(start + kInHeader, length - 8), serve,
               page, bytes, out);
      start += 4 + std::size_t{length};
    }
    input.erase(0, start);
    start = 0;
    const ssize_t n = ::read(in, chunk.data(), chunk.size());
    if (n > 0) {
      input.append(chunk.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // nothing more without waiting: send this batch's results
      if (const std::uint64_t used = page->mirrored.load(std::memory_order_relaxed); used > 0) {
        if (!write_all(out, mirror_of(page), used)) _exit(0);
        page->mirrored.store(0, std::memory_order_release);
      }
      pollfd wait{in, POLLIN, 0};
      while (::poll(&wait, 1, -1) < 0 && errno == EINTR) {
      }
      continue;
    }
    // The parent closed the pipe (the run is over) or is gone: nothing more will come.
    if (const std::uint64_t used = page->mirrored.load(std::memory_order_relaxed); used > 0) {
      write_all(out, mirror_of(page), used);
    }
    _exit(0);
  }
}

}  // namespace

// --- the parent ---------------------------------------------------------------------------------

struct worker_set::state {
  struct item {
    std::string input;
    process_reply* reply;
  };

  struct worker {
    pid_t pid = -1;
    int pidfd = -1;
    int in = -1;   // write end of the worker's input pipe (non-blocking)
    int out = -1;  // read end of its result pipe (non-blocking)
    shared_page* page = nullptr;
    std::uint32_t generation = 0;           // tells a stale event from a live one
    std::deque<std::uint64_t> in_flight;    // sent, not answered, in the order sent
    std::string to_send;                    // frames not written yet
    std::size_t sent = 0;                   // of to_send
    bool waiting_to_write = false;          // EPOLLOUT armed on `in`
    std::string received;                   // result bytes not parsed yet
    std::uint64_t killed_for = 0;           // sequence + 1 of the item it was killed for (timeout)
    bool alive() const { return pid > 0; }
  };

  state(worker_set_options o, serve_function s) : options(std::move(o)), serve(std::move(s)) {}

  // --- set-up and the loop ---

  void open() {
    descriptors& fds = worker_descriptors();
    epoll = fds.make("epoll_create1", [] { return epoll_create1(EPOLL_CLOEXEC); });
    wake = fds.make("eventfd", [] { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
    watch(wake, EPOLLIN, kWake);
    if (options.timeout.count() > 0) {
      timer = fds.make("timerfd_create",
                       [] { return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK); });
      // Deadlines are checked every eighth of the timeout, between 1 and 100 ms.
      const auto tick = std::clamp<std::chrono::nanoseconds>(options.timeout / 8,
                                                             std::chrono::milliseconds(1),
                                                             std::chrono::milliseconds(100));
      itimerspec spec{};
      spec.it_interval.tv_sec = static_cast<time_t>(tick.count() / 1'000'000'000);
      spec.it_interval.tv_nsec = static_cast<long>(tick.count() % 1'000'000'000);
      spec.it_value = spec.it_interval;
      timerfd_settime(timer, 0, &spec, nullptr);
      watch(timer, EPOLLIN, kTimer);
    }
    workers.resize(options.workers);
    io = std::thread([this] { loop(); });
  }

  void close_all() noexcept {
    descriptors& fds = worker_descriptors();
    fds.close(timer);
    fds.close(wake);
    fds.close(epoll);
  }

  static constexpr std::uint64_t kWake = ~std::uint64_t{0};
  static constexpr std::uint64_t kTimer = kWake - 1;
  enum : std::uint64_t { on_result = 0, on_exit = 1, on_writable = 2 };

  static std::uint64_t tag(std::size_t index, std::uint32_t generation, std::uint64_t what) {
    return (std::uint64_t{generation} << 32) | (std::uint64_t{index} << 2) | what;
  }

  void watch(int fd, std::uint32_t events, std::uint64_t data) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = data;
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  }

  void loop() {
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);  // a dead worker's pipe: EPIPE, no signal
    std::vector<epoll_event> events(64);
    for (;;) {
      const int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) handle(events[static_cast<std::size_t>(i)].data.u64);
      if (take_incoming()) break;  // closing
      start_workers();
      dispatch();
    }
    stop_everything(closed_error());
  }

  void handle(std::uint64_t data) {
    if (data == kWake) {
      std::uint64_t count;
      while (::read(wake, &count, sizeof count) > 0) {
      }
      return;
    }
    if (data == kTimer) {
      std::uint64_t ticks;
      while (::read(timer, &ticks, sizeof ticks) > 0) {
      }
      check_deadlines();
      return;
    }
    const std::size_t index = (data >> 2) & 0x3fffffff;
    worker& w = workers[index];
    if (!w.alive() || w.generation != static_cast<std::uint32_t>(data >> 32)) return;
    switch (data & 3) {
      case on_result:
        if (!read_results(w)) bury(w);
        break;
      case on_exit:
        bury(w);
        break;
      default:
        send(w);
        break;
    }
  }

  // Moves submitted items into the queue; true when the set is being destroyed.
  bool take_incoming() {
    std::vector<std::pair<std::string, process_reply*>> taken;
    bool cancel_now = false;
    bool close_now = false;
    {
      std::lock_guard lock(mu);
      taken.swap(incoming);
      cancel_now = cancelled && !stopped;
      close_now = closing;
    }
    for (auto& [input, reply] : taken) {
      const std::uint64_t sequence = next_sequence++;
      items.emplace(sequence, item{std::move(input), reply});
      queue.push_back(sequence);
    }
    if (cancel_now || (stopped && !items.empty())) {
      stop_everything(cancelled_error());
      stopped = true;
    }
    return close_now;
  }

  // --- workers ---

  void start_workers() {
    if (stopped || queue.empty()) return;
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (workers[i].alive()) continue;
      try {
        start(i);
      } catch (...) {
        if (std::none_of(workers.begin(), workers.end(), [](const worker& w) { return w.alive(); })) {
          fail_queue(std::current_exception());  // no worker at all: nothing would run them
        }
        return;
      }
    }
  }

  void start(std::size_t index) {
    descriptors& fds = worker_descriptors();
    worker& w = workers[index];
    void* page = mmap(nullptr, kShared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              "sluice: " + options.who + ": mmap of a worker's shared page");
    }
    auto* shared = new (page) shared_page{};
    std::array<int, 2> to{-1, -1};
    std::array<int, 2> from{-1, -1};
    try {
      to = fds.make_pipe();
      from = fds.make_pipe();
      const serve_function& serve_ref = serve;
      const int in = to[0];
      const int out = from[1];
      const spawned child =
          spawn_worker([&] { worker_main(in, out, shared, serve_ref); }, {to[0], from[1]});
      w.pid = child.pid;
      w.pidfd = child.pidfd;
    } catch (...) {
      for (const int fd : {to[0], to[1], from[0], from[1]}) fds.close(fd);
      munmap(page, kShared);
      throw;
    }
    fds.close(to[0]);
    fds.close(from[1]);
    w.in = to[1];
    w.out = from[0];
    fcntl(w.in, F_SETFL, fcntl(w.in, F_GETFL) | O_NONBLOCK);
    fcntl(w.out, F_SETFL, fcntl(w.out, F_GETFL) | O_NONBLOCK);
    w.page = shared;
    ++w.generation;
    watch(w.out, EPOLLIN, tag(index, w.generation, on_result));
    watch(w.pidfd, EPOLLIN, tag(index, w.generation, on_exit));
    forked.fetch_add(1, std::memory_order_relaxed);
  }

  // Sends queued items to the workers with room in their window, the least loaded first.
  void dispatch() {
    while (!queue.empty()) {
      worker* best = nullptr;
      for (worker& w : workers) {
        if (w.alive() && w.in_flight.size() < options.window &&
            (best == nullptr || w.in_flight.size() < best->in_flight.size())) {
          best = &w;
        }
      }
      if (best == nullptr) break;
      const std::uint64_t sequence = queue.front();
      queue.pop_front();
      const std::string& input = items.at(sequence).input;
      const std::size_t at = best->to_send.size();
      best->to_send.resize(at + kInHeader + input.size());
      put_u32(best->to_send.data() + at, static_cast<std::uint32_t>(8 + input.size()));
      put_u64(best->to_send.data() + at + 4, sequence);
      std::memcpy(best->to_send.data() + at + kInHeader, input.data(), input.size());
      best->in_flight.push_back(sequence);
    }
    for (worker& w : workers) {
      if (w.alive() && w.sent < w.to_send.size()) send(w);
    }
  }

  void send(worker& w) {
    while (w.sent < w.to_send.size()) {
      const ssize_t n = ::write(w.in, w.to_send.data() + w.sent, w.to_send.size() - w.sent);
      if (n > 0) {
        w.sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {  // the pipe is full: go on when the worker has read
        if (!w.waiting_to_write) set_writable_watch(w, true);
        return;
      }
      return;  // EPIPE: the worker is dying; its exit is handled on its pidfd
    }
    w.to_send.clear();
    w.sent = 0;
    if (w.waiting_to_write) set_writable_watch(w, false);
  }

  void set_writable_watch(worker& w, bool on) {
    const std::size_t index = static_cast<std::size_t>(&w - workers.data());
    epoll_event event{};
    event.events = EPOLLOUT;
    event.data.u64 = tag(index, w.generation, on_writable);
    epoll_ctl(epoll, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w.in, &event);
    w.waiting_to_write = on;
  }

  // Reads every result available; false at end of file (the worker is gone).
  bool read_results(worker& w) {
    for (;;) {
      const ssize_t n = ::read(w.out, chunk.data(), chunk.size());
      if (n > 0) {
        w.received.append(chunk.data(), static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      const std::size_t used = take_frames(w, w.received);
      w.received.erase(0, used);
      return n < 0;  // EAGAIN: more later; 0: end of file
    }
  }

  // Answers the items whose complete result frames `bytes` holds; returns the bytes used.
  std::size_t take_frames(worker& w, std::string_view bytes) {
    std::size_t at = 0;
    while (bytes.size() - at >= kOutHeader) {
      const std::uint32_t length = get_u32(bytes.data() + at);
      if (bytes.size() - at < 4 + std::size_t{length}) break;
      const std::uint64_t sequence = get_u64(bytes.data() + at + 4);
      const auto kind = static_cast<frame_kind>(bytes[at + 12]);
      const std::string_view payload = bytes.substr(at + kOutHeader, length - 9);
      at += 4 + std::size_t{length};
      if (auto pos = std::find(w.in_flight.begin(), w.in_flight.end(), sequence);
          pos != w.in_flight.end()) {
        w.in_flight.erase(pos);
        answer(sequence, outcome_of(kind, payload));
        idle_deaths = 0;
      }
    }
    return at;
  }

  static process_outcome outcome_of(frame_kind kind, std::string_view payload) {
    switch (kind) {
      case frame_kind::result:
        return {std::string(payload), nullptr};
      case frame_kind::codec_error:
        return {{}, std::make_exception_ptr(codec_error(std::string(payload)))};
      default: {
        const std::size_t split = std::min(payload.find('\0'), payload.size());
        const std::string_view what = split < payload.size() ? payload.substr(split + 1) : "";
        return {{},
                std::make_exception_ptr(remote_error(std::string(payload.substr(0, split)),
                                                     std::string(what)))};
      }
    }
  }

  // The worker has died or is to die: takes what it finished, fails the item it ran, queues
  // again the items it had not started, reaps it and closes its descriptors.
  void bury(worker& w) {
    read_results(w);
    signal_pidfd(w.pidfd, SIGKILL);  // it may have only closed its pipe
    siginfo_t info{};
    int reaped;
    while ((reaped = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w.pidfd), &info,
                            WEXITED)) < 0 &&
           errno == EINTR) {
    }
    const std::uint64_t mirrored = w.page->mirrored.load(std::memory_order_acquire);
    take_frames(w, std::string_view(mirror_of(w.page), std::min<std::uint64_t>(mirrored, kMirror)));
    const std::uint64_t running = w.page->running.load(std::memory_order_acquire);
    // Killed for a timeout just as that item ended: the item it had started since did not fail,
    // it was cut short, and goes to another worker like the ones it had not started.
    const bool cut_short = w.killed_for != 0 && running != w.killed_for;
    if (running != 0 && !cut_short) {
      if (auto pos = std::find(w.in_flight.begin(), w.in_flight.end(), running - 1);
          pos != w.in_flight.end()) {
        w.in_flight.erase(pos);
        answer(running - 1, {{}, death_error(w, running, reaped == 0 ? &info : nullptr)});
      }
    } else if (running == 0 && !w.in_flight.empty() && !stopped &&
               ++idle_deaths > 3 * workers.size()) {
      // Workers die before they start an item, again and again: nothing would ever run.
      fail_queue(death_error(w, 0, reaped == 0 ? &info : nullptr));
      for (auto sequence : w.in_flight) answer(sequence, {{}, death_error(w, 0, nullptr)});
      w.in_flight.clear();
    }
    for (auto it = w.in_flight.rbegin(); it != w.in_flight.rend(); ++it) queue.push_front(*it);
    descriptors& fds = worker_descriptors();
    if (w.waiting_to_write) set_writable_watch(w, false);
    fds.close(w.in);
    fds.close(w.out);
    fds.close(w.pidfd);
    munmap(w.page, kShared);
    const std::uint32_t generation = w.generation;
    w = worker{};
    w.generation = generation;
  }

  std::exception_ptr death_error(const worker& w, std::uint64_t running, const siginfo_t* info) {
    if (running != 0 && w.killed_for == running) {
      return std::make_exception_ptr(timeout_error(
          "sluice: " + options.who + ": an item ran longer than its timeout (" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout)
                             .count()) +
          " ms); its worker process was killed"));
    }
    if (info == nullptr) {
      return std::make_exception_ptr(std::runtime_error(
          "sluice: " + options.who +
          ": its worker process vanished (its exit status was unavailable: was it reaped "
          "elsewhere?)"));
    }
    if (info->si_code == CLD_EXITED) {
      return std::make_exception_ptr(worker_crashed::exited(options.who, info->si_status));
    }
    return std::make_exception_ptr(worker_crashed::killed(options.who, info->si_status));
  }

  void check_deadlines() {
    const std::int64_t now = now_ns();
    for (worker& w : workers) {
      if (!w.alive() || w.killed_for != 0) continue;
      // Read the item and its start consistently: both while `running` held the same value.
      const std::uint64_t running = w.page->running.load(std::memory_order_acquire);
      const std::int64_t started = w.page->started.load(std::memory_order_relaxed);
      if (running == 0 || w.page->running.load(std::memory_order_acquire) != running) continue;
      if (now - started >= options.timeout.count()) {
        w.killed_for = running;
        signal_pidfd(w.pidfd, SIGKILL);  // its exit arrives on its pidfd
      }
    }
  }

  // --- answers ---

  void answer(std::uint64_t sequence, process_outcome outcome) {
    auto found = items.find(sequence);
    if (found == items.end()) return;
    process_reply* reply = found->second.reply;
    items.erase(found);
    reply->done(std::move(outcome));
  }

  void fail_queue(const std::exception_ptr& error) {
    while (!queue.empty()) {
      const std::uint64_t sequence = queue.front();
      queue.pop_front();
      answer(sequence, {{}, error});
    }
  }

  // Kills and reaps every worker, then answers every item left with `error`.
  void stop_everything(const std::exception_ptr& error) {
    for (worker& w : workers) {
      if (!w.alive()) continue;
      w.in_flight.clear();  // answered below, not queued again
      bury(w);
    }
    queue.clear();
    while (!items.empty()) answer(items.begin()->first, {{}, error});
  }

  std::exception_ptr cancelled_error() const {
    return std::make_exception_ptr(std::runtime_error(
        "sluice: " + options.who + ": stopped before this item's result arrived"));
  }
  std::exception_ptr closed_error() const { return cancelled_error(); }

  void poke() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake, &one, sizeof one);
  }

  worker_set_options options;
  serve_function serve;
  int epoll = -1;
  int wake = -1;
  int timer = -1;
  std::thread io;
  std::atomic<std::size_t> forked{0};

  std::mutex mu;
  std::vector<std::pair<std::string, process_reply*>> incoming;  // guarded by mu
  bool cancelled = false;                                        // guarded by mu
  bool closing = false;                                          // guarded by mu

  // The I/O thread's own.
  absl::flat_hash_map<std::uint64_t, item> items;  // every item not answered yet
  std::deque<std::uint64_t> queue;                 // items waiting for a worker, oldest first
  std::uint64_t next_sequence = 0;
  std::vector<worker> workers;
  std::size_t idle_deaths = 0;  // deaths between items since the last result
  std::vector<char> chunk = std::vector<char>(kReadChunk);  // what one read() takes
  bool stopped = false;         // cancelled: no worker is started any more
};

worker_set::worker_set(worker_set_options options, serve_function serve) {
  if (options.workers == 0) {
    throw std::invalid_argument("sluice: " + options.who + ": needs at least 1 worker process");
  }
  if (options.window == 0) {
    throw std::invalid_argument("sluice: " + options.who + ": a window of 0 items sends nothing");
  }
  state_ = std::make_unique<state>(std::move(options), std::move(serve));
  try {
    state_->open();
  } catch (...) {
    state_->close_all();
    throw;
  }
}

worker_set::~worker_set() {
  {
    std::lock_guard lock(state_->mu);
    state_->closing = true;
  }
  state_->poke();
  state_->io.join();
  state_->close_all();
}

void worker_set::submit(std::string input, process_reply& reply) {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->cancelled) {
      state_->incoming.emplace_back(std::move(input), &reply);
      state_->poke();
      return;
    }
  }
  reply.done({{}, state_->cancelled_error()});
}

void worker_set::cancel() noexcept {
  {
    std::lock_guard lock(state_->mu);
    if (state_->cancelled) return;
    state_->cancelled = true;
  }
  state_->poke();
}

std::size_t worker_set::forked() const noexcept {
  return state_->forked.load(std::memory_order_relaxed);
}

}  // namespace sluice::detail
