// The worker processes of a process task or pool: the worker's loop (in the child) and the I/O
// thread (in the parent). docs/processes.md tells the same story for users.
//
// Frames carry a piece of a batch: consecutive items [first, first + count) of batch `batch`.
//   To a worker:   u32 length | u64 batch | u32 first | u32 count | count x (u32 size | input)
//   From a worker: u32 length | u64 batch | u32 first | u32 count |
//                  count x (u8 kind | u32 size | bytes)
// (length counts the bytes after itself). kind: a result, a remote exception ("type\0what"), or
// an input the worker could not decode. A worker may answer a piece in several frames.
//
// The page a worker shares with its parent (mmap MAP_SHARED, made before the fork) says which
// item it runs and since when (for timeouts and for naming the item a death fails), and mirrors
// the result frames it has not written to its pipe yet: a worker writes its results once per
// read of its input, so when it dies the results of the items it finished since its last write
// are read from the mirror. So are the results a worker finished before it got stuck in a long
// item: every millisecond while workers hold items, the parent copies the mirror of a worker
// whose item has not changed since the last look. Nothing is lost and nothing runs twice; the
// parent ignores a result it has already taken.
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

constexpr std::size_t kHeader = 4 + 8 + 4 + 4;  // length, batch, first, count
constexpr std::size_t kShared = std::size_t{1} << 20;  // page header + result mirror
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint32_t kPiece = 1024;  // items of a batch sent to a worker in one frame, at most

enum class frame_kind : std::uint8_t { result = 0, remote_error = 1, codec_error = 2 };

struct shared_page {
  // The item running: `ticket` (the worker's count of items started, so never reused) is 0
  // between items and is set last, after batch, index and started.
  std::atomic<std::uint64_t> ticket;
  std::atomic<std::uint64_t> batch;
  std::atomic<std::uint32_t> index;
  std::atomic<std::int64_t> started;    // steady clock, ns
  std::atomic<std::uint64_t> mirrored;  // bytes of result frames in the mirror, not yet written
  // Advanced each time the mirror is emptied, before it is written again: a copy taken while
  // it stayed the same is whole (see harvest()).
  std::atomic<std::uint64_t> epoch;
  std::atomic<std::int64_t> busy_ns;  // time spent in serve(), every item so far
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared between processes");
constexpr std::size_t kMirrorOffset = 64;
constexpr std::size_t kMirror = kShared - kMirrorOffset;
static_assert(sizeof(shared_page) <= kMirrorOffset);

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

void put_header(char* at, std::uint32_t length, std::uint64_t batch, std::uint32_t first,
                std::uint32_t count) {
  put_u32(at, length);
  put_u64(at + 4, batch);
  put_u32(at + 12, first);
  put_u32(at + 16, count);
}

// --- the worker ---------------------------------------------------------------------------------

// A worker's results: frames built in the mirror, each one whole after every record, written
// to the pipe together by flush().
class result_writer {
 public:
  result_writer(shared_page* page, int out) : page_(page), out_(out) {}

  // The next records are the results of batch `batch`'s items from `first` on.
  void begin(std::uint64_t batch, std::uint32_t first) {
    frame_ = kNone;
    batch_ = batch;
    next_ = first;
  }

  void add(frame_kind kind, const std::string& bytes) {
    const std::size_t record = 1 + 4 + bytes.size();
    if (kHeader + record > kMirror) {  // too big for the mirror: sent at once, on its own
      flush();
      char header[kHeader + 5];
      put_header(header, static_cast<std::uint32_t>(kHeader - 4 + record), batch_, next_++, 1);
      header[kHeader] = static_cast<char>(kind);
      put_u32(header + kHeader + 1, static_cast<std::uint32_t>(bytes.size()));
      if (!write_all(out_, header, sizeof header) ||
          !write_all(out_, bytes.data(), bytes.size())) {
        _exit(0);
      }
      return;
    }
    if (used() + record + (frame_ == kNone ? kHeader : 0) > kMirror) flush();
    if (frame_ == kNone) {
      frame_ = used();
      count_ = 0;
      first_ = next_;
      page_->mirrored.store(frame_ + kHeader, std::memory_order_relaxed);
    }
    char* at = mirror_of(page_) + used();
    at[0] = static_cast<char>(kind);
    put_u32(at + 1, static_cast<std::uint32_t>(bytes.size()));
    std::memcpy(at + 5, bytes.data(), bytes.size());
    ++count_;
    ++next_;
    const std::size_t end = used() + record;
    put_header(mirror_of(page_) + frame_, static_cast<std::uint32_t>(end - frame_ - 4), batch_,
               first_, count_);
    page_->mirrored.store(end, std::memory_order_release);
  }

  // Writes every frame in the mirror; the next record opens a new frame.
  void flush() {
    if (const std::size_t n = used(); n > 0) {
      if (!write_all(out_, mirror_of(page_), n)) _exit(0);
      page_->mirrored.store(0, std::memory_order_release);
      page_->epoch.fetch_add(1, std::memory_order_release);
    }
    frame_ = kNone;
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};

  std::size_t used() const { return page_->mirrored.load(std::memory_order_relaxed); }

  shared_page* page_;
  int out_;
  std::uint64_t batch_ = 0;
  std::uint32_t next_ = 0;   // the item the next record is for
  std::size_t frame_ = kNone;  // offset of the open frame's header in the mirror
  std::uint32_t first_ = 0;  // the open frame's first item
  std::uint32_t count_ = 0;  // and its records
};

// Runs one item and records its result.
void run_item(std::uint64_t batch, std::uint32_t index, std::string_view input,
              const serve_function& serve, shared_page* page, std::uint64_t& tickets,
              std::string& bytes, result_writer& results) {
  page->ticket.store(0, std::memory_order_relaxed);
  page->batch.store(batch, std::memory_order_relaxed);
  page->index.store(index, std::memory_order_relaxed);
  const std::int64_t started = now_ns();
  page->started.store(started, std::memory_order_relaxed);
  page->ticket.store(++tickets, std::memory_order_release);
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
  // This process is the only writer.
  page->busy_ns.store(page->busy_ns.load(std::memory_order_relaxed) + (now_ns() - started),
                      std::memory_order_relaxed);
  results.add(kind, bytes);
  page->ticket.store(0, std::memory_order_release);
}

// The worker's whole life: runs every item it is sent, in order, and sends the results of what
// it read in one write when it has no complete piece left to run; leaves when its input pipe
// closes.
[[noreturn]] void worker_main(int in, int out, shared_page* page, const serve_function& serve) {
  fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
  std::vector<char> chunk(kReadChunk);
  std::string input;
  std::string bytes;
  std::size_t start = 0;
  std::uint64_t tickets = 0;
  result_writer results(page, out);
  for (;;) {
    while (input.size() - start >= kHeader) {
      const char* frame = input.data() + start;
      const std::uint32_t length = get_u32(frame);
      if (input.size() - start < 4 + std::size_t{length}) break;
      const std::uint64_t batch = get_u64(frame + 4);
      const std::uint32_t first = get_u32(frame + 12);
      const std::uint32_t count = get_u32(frame + 16);
      results.begin(batch, first);
      std::size_t at = start + kHeader;
      for (std::uint32_t k = 0; k < count; ++k) {
        const std::uint32_t size = get_u32(input.data() + at);
        run_item(batch, first + k, std::string_view(input).substr(at + 4, size), serve, page,
                 tickets, bytes, results);
        at += 4 + std::size_t{size};
      }
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
    results.flush();  // nothing more without waiting: send what is done
    if (n < 0 && errno == EAGAIN) {
      pollfd wait{in, POLLIN, 0};
      while (::poll(&wait, 1, -1) < 0 && errno == EINTR) {
      }
      continue;
    }
    _exit(0);  // the parent closed the pipe (the run is over) or is gone
  }
}

}  // namespace

// --- the parent ---------------------------------------------------------------------------------

struct worker_set::state {
  // A submitted batch, until its last item is answered.
  struct batch_state {
    const process_batch* items;  // the submitter's, alive until the reply's batch_done()
    process_reply* reply;
    std::vector<char> answered;  // per item
    std::size_t remaining;       // items not answered
  };

  // Consecutive items [first, first + count) of one batch.
  struct piece {
    std::uint64_t batch;
    std::uint32_t first;
    std::uint32_t count;
  };

  struct worker {
    pid_t pid = -1;
    int pidfd = -1;
    int in = -1;   // write end of the worker's input pipe (non-blocking)
    int out = -1;  // read end of its result pipe (non-blocking)
    shared_page* page = nullptr;
    std::uint32_t generation = 0;  // tells a stale event from a live one
    std::deque<piece> in_flight;   // sent, not all answered, in the order sent
    std::size_t load = 0;          // items in in_flight
    std::string to_send;           // frames not written yet
    std::size_t sent = 0;          // of to_send
    bool waiting_to_write = false;  // EPOLLOUT armed on `in`
    std::string received;          // result bytes not parsed yet
    std::uint64_t killed_for = 0;  // the ticket of the item it was killed for (timeout)
    std::uint64_t last_ticket = 0;  // its item at the timer's last tick
    std::uint64_t harvested_epoch = ~std::uint64_t{0};  // its mirror when last harvested
    std::uint64_t harvested_bytes = 0;
    std::int64_t busy_counted = 0;  // of its page's busy_ns, added to options.busy_ns
    bool alive() const { return pid > 0; }
  };

  state(worker_set_options o, serve_function s) : options(std::move(o)), serve(std::move(s)) {}

  // --- set-up and the loop ---

  void open() {
    descriptors& fds = worker_descriptors();
    epoll = fds.make("epoll_create1", [] { return epoll_create1(EPOLL_CLOEXEC); });
    wake = fds.make("eventfd", [] { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
    watch(wake, EPOLLIN, kWake);
    timer = fds.make("timerfd_create",
                     [] { return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK); });
    watch(timer, EPOLLIN, kTimer);
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
      std::lock_guard lock(mu);
      for (int i = 0; i < n; ++i) handle(events[static_cast<std::size_t>(i)].data.u64);
      if (closing) break;
      if (cancelled && !stopped) {
        stop_everything(cancelled_error());
        stopped = true;
      }
      start_workers();
      dispatch();
      tick_while_busy(std::exchange(ticked, false));
    }
    std::lock_guard lock(mu);
    stop_everything(cancelled_error());
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
      ticked = true;
      look_at_workers();
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

  // Queues a batch's items after those waiting already (under mu).
  void enqueue(const process_batch& items, process_reply& reply) {
    const std::uint64_t id = next_batch++;
    const auto count = static_cast<std::uint32_t>(items.size());
    batches.emplace(id, batch_state{&items, &reply, std::vector<char>(count, 0), count});
    queue.push_back({id, 0, count});
    queued += count;
  }

  // Whether every worker is alive: items can be sent without the I/O thread (under mu).
  bool all_alive() const {
    return std::all_of(workers.begin(), workers.end(), [](const worker& w) { return w.alive(); });
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
  }

  // Sends queued pieces to the workers, the least loaded first. A worker holds at most its
  // fair share of the items not answered yet (and its window): a few slow items spread over
  // every worker instead of queueing behind one, and many quick ones go in large pieces.
  void dispatch() {
    std::size_t alive = 0;
    std::size_t unanswered = queued;
    for (const worker& w : workers) {
      if (!w.alive()) continue;
      ++alive;
      unanswered += w.load;
    }
    if (alive == 0) return;
    const std::size_t share = std::min(options.window, (unanswered + alive - 1) / alive);
    while (!queue.empty()) {
      worker* best = nullptr;
      for (worker& w : workers) {
        if (w.alive() && w.load < share && (best == nullptr || w.load < best->load)) best = &w;
      }
      if (best == nullptr) break;
      piece& next = queue.front();
      const auto room = static_cast<std::uint32_t>(
          std::min<std::size_t>({next.count, kPiece, share - best->load}));
      send_piece(*best, {next.batch, next.first, room});
      queued -= room;
      next.first += room;
      next.count -= room;
      if (next.count == 0) queue.pop_front();
    }
    for (worker& w : workers) {
      if (w.alive() && w.sent < w.to_send.size()) send(w);
    }
  }

  void send_piece(worker& w, piece p) {
    const process_batch& items = *batches.at(p.batch).items;
    const std::uint32_t from = p.first == 0 ? 0 : items.ends[p.first - 1];
    const std::uint32_t to = items.ends[p.first + p.count - 1];
    const std::size_t at = w.to_send.size();
    w.to_send.resize(at + kHeader + 4 * std::size_t{p.count} + (to - from));
    char* out = w.to_send.data() + at;
    put_header(out, static_cast<std::uint32_t>(w.to_send.size() - at - 4), p.batch, p.first,
               p.count);
    out += kHeader;
    for (std::uint32_t i = p.first; i < p.first + p.count; ++i) {
      const std::uint32_t begin = i == 0 ? 0 : items.ends[i - 1];
      const std::uint32_t size = items.ends[i] - begin;
      put_u32(out, size);
      std::memcpy(out + 4, items.bytes.data() + begin, size);
      out += 4 + size;
    }
    w.in_flight.push_back(p);
    w.load += p.count;
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
      count_busy(w);
      return n < 0;  // EAGAIN: more later; 0: end of file
    }
  }

  // Adds the time the worker has spent in calls since the last count to options.busy_ns.
  void count_busy(worker& w) {
    if (options.busy_ns == nullptr) return;
    const std::int64_t busy = w.page->busy_ns.load(std::memory_order_relaxed);
    options.busy_ns->fetch_add(busy - w.busy_counted, std::memory_order_relaxed);
    w.busy_counted = busy;
  }

  // Answers the items whose records the complete frames in `bytes` hold; returns the bytes used.
  std::size_t take_frames(worker& w, std::string_view bytes) {
    std::size_t at = 0;
    while (bytes.size() - at >= kHeader) {
      const std::uint32_t length = get_u32(bytes.data() + at);
      if (bytes.size() - at < 4 + std::size_t{length}) break;
      const std::uint64_t batch = get_u64(bytes.data() + at + 4);
      const std::uint32_t first = get_u32(bytes.data() + at + 12);
      const std::uint32_t count = get_u32(bytes.data() + at + 16);
      std::size_t record = at + kHeader;
      at += 4 + std::size_t{length};
      auto found = batches.find(batch);
      for (std::uint32_t i = 0; i < count && found != batches.end(); ++i) {
        const auto kind = static_cast<frame_kind>(bytes[record]);
        const std::uint32_t size = get_u32(bytes.data() + record + 1);
        const std::string_view payload = bytes.substr(record + 5, size);
        record += 5 + std::size_t{size};
        if (answer(found, first + i, kind, payload, false)) {
          found = batches.end();  // the batch is done and gone
        } else if (i + 1 == count) {
          found->second.reply->answered();
        }
      }
    }
    settle_in_flight(w);
    return at;
  }

  // Drops from the front of the worker's pieces the items that have been answered.
  void settle_in_flight(worker& w) {
    while (!w.in_flight.empty()) {
      piece& p = w.in_flight.front();
      auto found = batches.find(p.batch);
      while (p.count > 0 && (found == batches.end() || found->second.answered[p.first] != 0)) {
        ++p.first;
        --p.count;
        --w.load;
      }
      if (p.count > 0) return;
      w.in_flight.pop_front();
    }
  }

  // Answers one item from its record; true when that was its batch's last item. The caller
  // ends the group with answered() unless the batch is done.
  bool answer(absl::flat_hash_map<std::uint64_t, batch_state>::iterator found, std::uint32_t index,
              frame_kind kind, std::string_view payload, bool group_ends) {
    switch (kind) {
      case frame_kind::result:
        return answer(found, index, payload, nullptr, group_ends);
      case frame_kind::codec_error:
        return answer(found, index, {},
                      std::make_exception_ptr(codec_error(std::string(payload))), group_ends);
      default: {
        const std::size_t split = std::min(payload.find('\0'), payload.size());
        const std::string_view what = split < payload.size() ? payload.substr(split + 1) : "";
        return answer(found, index, {},
                      std::make_exception_ptr(remote_error(std::string(payload.substr(0, split)),
                                                           std::string(what))),
                      group_ends);
      }
    }
  }

  // Answers one item; true when that was its batch's last (the reply then got batch_done()).
  // Otherwise the reply is told answered() too when `group_ends`.
  bool answer(absl::flat_hash_map<std::uint64_t, batch_state>::iterator found, std::uint32_t index,
              std::string_view result, const std::exception_ptr& error, bool group_ends = true) {
    batch_state& b = found->second;
    if (index >= b.answered.size() || b.answered[index] != 0) return false;
    b.answered[index] = 1;
    idle_deaths = 0;
    b.reply->item_done(index, result, error);
    if (--b.remaining != 0) {
      if (group_ends) b.reply->answered();
      return false;
    }
    process_reply* reply = b.reply;
    batches.erase(found);
    reply->batch_done();
    return true;
  }

  // The worker has died or is to die: takes what it finished, fails the item it ran, queues
  // again the items it had not started, reaps it and closes its descriptors.
  void bury(worker& w) {
    read_results(w);
    signal_pidfd(w.pidfd, SIGKILL);  // it may have only closed its pipe
    siginfo_t info;
    const bool reaped = reap_worker(w.pidfd, info);
    const std::uint64_t mirrored = w.page->mirrored.load(std::memory_order_acquire);
    take_frames(w, std::string_view(mirror_of(w.page), std::min<std::uint64_t>(mirrored, kMirror)));
    const std::uint64_t ticket = w.page->ticket.load(std::memory_order_acquire);
    // Killed for a timeout just as that item ended: the item it had started since did not fail,
    // it was cut short, and goes to another worker like the ones it had not started.
    const bool cut_short = w.killed_for != 0 && ticket != w.killed_for;
    if (ticket != 0 && !cut_short) {
      const std::uint64_t batch = w.page->batch.load(std::memory_order_relaxed);
      const std::uint32_t index = w.page->index.load(std::memory_order_relaxed);
      const bool ours = std::any_of(w.in_flight.begin(), w.in_flight.end(), [&](const piece& p) {
        return p.batch == batch && index >= p.first && index - p.first < p.count;
      });
      if (auto found = batches.find(batch); ours && found != batches.end()) {
        answer(found, index, {}, death_error(w, ticket, reaped ? &info : nullptr));
      }
    } else if (ticket == 0 && w.load > 0 && !stopped && ++idle_deaths > 3 * workers.size()) {
      // Workers die before they start an item, again and again: nothing would ever run.
      const std::exception_ptr error = death_error(w, 0, reaped ? &info : nullptr);
      requeue_unanswered(w);
      fail_queue(error);
    }
    requeue_unanswered(w);
    count_busy(w);
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

  // Puts the worker's unanswered items back at the front of the queue, in the order sent.
  void requeue_unanswered(worker& w) {
    std::vector<piece> again;
    for (const piece& p : w.in_flight) {
      auto found = batches.find(p.batch);
      if (found == batches.end()) continue;
      for (std::uint32_t i = p.first; i < p.first + p.count; ++i) {
        if (found->second.answered[i] != 0) continue;
        if (!again.empty() && again.back().batch == p.batch &&
            again.back().first + again.back().count == i) {
          ++again.back().count;
        } else {
          again.push_back({p.batch, i, 1});
        }
      }
    }
    for (auto it = again.rbegin(); it != again.rend(); ++it) {
      queue.push_front(*it);
      queued += it->count;
    }
    w.in_flight.clear();
    w.load = 0;
  }

  std::exception_ptr death_error(const worker& w, std::uint64_t ticket, const siginfo_t* info) {
    if (ticket != 0 && w.killed_for == ticket) {
      return std::make_exception_ptr(timeout_error(
          "sluice: " + options.who + ": an item ran longer than its timeout (" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout)
                             .count()) +
          " ms); its worker process was killed"));
    }
    return worker_death(options.who, info);
  }

  // The timer ticks every millisecond while a worker holds items: it starts as soon as one does
  // and is stopped by the first tick (`at_tick`) that finds none does, not at once: a task that
  // sends its items one at a time would otherwise set it twice per item, on the item's path.
  void tick_while_busy(bool at_tick = false) {
    const bool busy = std::any_of(workers.begin(), workers.end(),
                                  [](const worker& w) { return w.alive() && w.load > 0; });
    if (busy == ticking || (!busy && !at_tick)) return;
    itimerspec spec{};
    if (busy) {
      spec.it_interval.tv_nsec = 1'000'000;
      spec.it_value = spec.it_interval;
    }
    timerfd_settime(timer, 0, &spec, nullptr);
    ticking = busy;
  }

  // Each tick: kills a worker whose item is past its timeout, and takes the finished results of
  // a worker that has been running the same item since the last tick.
  void look_at_workers() {
    const std::int64_t now = now_ns();
    for (worker& w : workers) {
      if (!w.alive() || w.killed_for != 0) continue;
      // Read the item's start consistently: while `ticket` held the same value.
      const std::uint64_t ticket = w.page->ticket.load(std::memory_order_acquire);
      const std::int64_t started = w.page->started.load(std::memory_order_relaxed);
      if (ticket == 0 || w.page->ticket.load(std::memory_order_acquire) != ticket) {
        w.last_ticket = 0;
        continue;
      }
      if (options.timeout.count() > 0 && now - started >= options.timeout.count()) {
        w.killed_for = ticket;
        signal_pidfd(w.pidfd, SIGKILL);  // its exit arrives on its pidfd
        continue;
      }
      if (ticket == w.last_ticket) harvest(w);
      w.last_ticket = ticket;
    }
  }

  // Takes the results in a live worker's mirror. The worker appends to the mirror and empties
  // it only after advancing `epoch`, so a copy made while `epoch` stayed the same holds whole
  // frames up to the `mirrored` read before it (a frame whose header grew meanwhile is seen
  // as unfinished and taken later).
  void harvest(worker& w) {
    const std::uint64_t epoch = w.page->epoch.load(std::memory_order_acquire);
    const std::uint64_t mirrored =
        std::min<std::uint64_t>(w.page->mirrored.load(std::memory_order_acquire), kMirror);
    if (epoch == w.harvested_epoch && mirrored == w.harvested_bytes) return;
    harvest_copy.assign(mirror_of(w.page), mirrored);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (w.page->epoch.load(std::memory_order_relaxed) != epoch) return;
    w.harvested_epoch = epoch;
    w.harvested_bytes = mirrored;
    take_frames(w, harvest_copy);
  }

  // --- answers ---

  void fail_queue(const std::exception_ptr& error) {
    while (!queue.empty()) {
      const piece p = queue.front();
      queue.pop_front();
      queued -= p.count;
      auto found = batches.find(p.batch);
      for (std::uint32_t i = p.first; i < p.first + p.count && found != batches.end(); ++i) {
        if (answer(found, i, {}, error)) break;
      }
    }
  }

  // Kills and reaps every worker, then answers every item left with `error`.
  void stop_everything(const std::exception_ptr& error) {
    for (worker& w : workers) {
      if (!w.alive()) continue;
      w.in_flight.clear();  // answered below, not queued again
      w.load = 0;
      w.killed_for = ~std::uint64_t{0};  // no item of its fails for its death
      bury(w);
    }
    queue.clear();
    queued = 0;
    while (!batches.empty()) {
      auto found = batches.begin();
      for (std::uint32_t i = 0; i < found->second.answered.size(); ++i) {
        if (answer(found, i, {}, error)) break;
      }
    }
  }

  std::exception_ptr cancelled_error() const {
    return std::make_exception_ptr(std::runtime_error(
        "sluice: " + options.who + ": stopped before this item's result arrived"));
  }

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

  // Guards everything below. The I/O thread holds it while it handles events; a submitter
  // while it queues and sends its batch.
  std::mutex mu;
  bool cancelled = false;
  bool closing = false;
  absl::flat_hash_map<std::uint64_t, batch_state> batches;  // every batch not all answered
  std::deque<piece> queue;  // items waiting for a worker, oldest first
  std::size_t queued = 0;   // items in queue
  std::uint64_t next_batch = 0;
  std::vector<worker> workers;
  std::size_t idle_deaths = 0;  // deaths between items since the last answer
  bool stopped = false;         // cancelled: no worker is started any more
  std::vector<char> chunk = std::vector<char>(kReadChunk);  // what one read() takes
  std::string harvest_copy;  // a live worker's mirror, copied
  bool ticking = false;      // the timer is armed
  bool ticked = false;       // it fired since the I/O thread last looked
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

void worker_set::submit(const process_batch& batch, process_reply& reply) {
  if (batch.size() == 0) {
    reply.batch_done();
    return;
  }
  {
    state& s = *state_;
    std::lock_guard lock(s.mu);
    if (!s.cancelled) {
      s.enqueue(batch, reply);
      if (s.all_alive()) {  // sent from this thread: the I/O thread is not woken for it
        const sigpipe_blocked no_signal;  // a worker may have died since
        s.dispatch();
        s.tick_while_busy();
      } else {
        s.poke();  // workers to fork first: the I/O thread's work
      }
      return;
    }
  }
  const std::exception_ptr error = state_->cancelled_error();
  for (std::size_t i = 0; i < batch.size(); ++i) reply.item_done(i, {}, error);
  reply.batch_done();
}

void worker_set::poll() noexcept {
  state& s = *state_;
  std::unique_lock lock(s.mu, std::try_to_lock);
  if (!lock.owns_lock() || s.stopped) return;
  // A worker at end of file is left to the I/O thread, which buries it on its exit.
  for (state::worker& w : s.workers) {
    if (w.alive()) s.read_results(w);
  }
  if (!s.queue.empty()) {  // answers made room for items that wait
    const sigpipe_blocked no_signal;
    s.dispatch();
  }
  s.tick_while_busy();
}

void worker_set::cancel() noexcept {
  {
    std::lock_guard lock(state_->mu);
    if (state_->cancelled) return;
    state_->cancelled = true;
  }
  state_->poke();
}

}  // namespace sluice::detail
