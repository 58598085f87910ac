// A process job's attempt: one forked worker per attempt runs the job's callable; its context's
// calls, its result and its output come back over pipes (docs/architecture.md, "Job graphs").
//
// Who does what:
//   - The caller of run_process_attempt (under the graph's mutex) arms the attempt's kill switch
//     and hands the attempt to a spare thread. Nothing else: it returns at once.
//   - The serving thread (that spare thread, one per attempt, in the graph's process) forks the
//     worker (spawn_worker), then until the worker has exited: reads its stdout and stderr into
//     the attempt's output, answers its requests by calling the graph on behalf of the job
//     (create, start, wait: the attempt's own; result: the graph's, with the codec bytes), and
//     keeps its final message. Then it reaps the worker, disarms the kill switch, closes every
//     descriptor and reports with attempt_ended: its last touch of the graph.
//   - The worker (the forked child; its one thread is a copy of the spawner's) writes stdout and
//     stderr to the output pipe and runs the callable with a context whose create, start, wait
//     and result are requests on the request pipe, each blocking for its reply on the reply pipe
//     (a failed call's exception is thrown again there: std::invalid_argument and
//     sluice::job_failed as themselves, others as sluice::remote_error). It ends with one final
//     message: its value's codec bytes, its exception's type and what(), or skipped; then it
//     leaves (spawn_worker's _exit). A worker that ends without one crashed.
//   - Whoever abandons the attempt (the timer, a cancel; under the graph's mutex) pulls the kill
//     switch: SIGKILL through the worker's pidfd. The serving thread sees that exit as any other.
//
// Frames on the request and reply pipes: u32 length | that many bytes, encoded by sluice::codec.
//   worker -> parent: u8 message, then: create: name; start, wait: names; result: name, type
//     (std::type_info::name()); returned: the value's bytes; threw: type, what; skipped: nothing.
//   parent -> worker: u8 status, then: ok: the answer (create: names; result: bytes; start,
//     wait: nothing); invalid_argument: what; failed: count, then per job name, i32 reason,
//     detail; other: type, what.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <any>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sluice/codec.hpp>
#include <sluice/errors.hpp>

#include "job_graph_state.hpp"
#include "spare_threads.hpp"
#include "spawner.hpp"

namespace sluice::detail {
namespace {

enum class message : std::uint8_t { create, start, wait, result, returned, threw, skipped };
enum class status : std::uint8_t { ok, invalid_argument, failed, other };

constexpr std::size_t kLength = 4;  // a frame's u32 length
constexpr std::size_t kReadChunk = 64 * 1024;

// A frame of `kind`, its fields appended by `fill(writer&)`.
template <class Kind, class Fill>
std::string frame(Kind kind, Fill fill) {
  std::string out(kLength, '\0');
  writer w{out};
  w.write(static_cast<std::uint8_t>(kind));
  fill(w);
  const auto length = static_cast<std::uint32_t>(out.size() - kLength);
  std::memcpy(out.data(), &length, kLength);
  return out;
}

template <class Kind>
std::string frame(Kind kind) {
  return frame(kind, [](writer&) {});
}

// The complete frames at the front of `buffer`, each passed (without its length) to `take`;
// they are removed from it.
template <class Take>
void take_frames(std::string& buffer, Take take) {
  std::size_t at = 0;
  while (buffer.size() - at >= kLength) {
    std::uint32_t length;
    std::memcpy(&length, buffer.data() + at, kLength);
    if (buffer.size() - at - kLength < length) break;
    take(std::string_view(buffer).substr(at + kLength, length));
    at += kLength + length;
  }
  buffer.erase(0, at);
}

// --- the worker ---------------------------------------------------------------------------------

void flush_output() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(stdout);
  std::fflush(stderr);
}

// Reads exactly `size` bytes from a blocking descriptor; false at end of file or on an error.
bool read_exact(int fd, char* into, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::read(fd, into, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    into += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Throws again, in the worker, the exception a request raised in the parent.
[[noreturn]] void throw_reply(status s, reader& r) {
  switch (s) {
    case status::invalid_argument:
      throw std::invalid_argument(r.read<std::string>());
    case status::failed: {
      std::vector<failed_job> jobs(r.read<std::uint32_t>());
      for (failed_job& j : jobs) {
        j.name = r.read<std::string>();
        j.reason = static_cast<job_reason>(r.read<std::int32_t>());
        j.detail = r.read<std::string>();
      }
      throw job_failed(std::move(jobs));
    }
    default: {
      std::string type = r.read<std::string>();
      throw remote_error(std::move(type), r.read<std::string>());
    }
  }
}

// A process job's host: each call is a request to the serving thread, answered on the reply
// pipe. A pipe that fails means the parent has given up on this worker: it leaves at once.
class worker_host final : public job_host {
 public:
  worker_host(int requests, int replies) noexcept : requests_(requests), replies_(replies) {}

  std::vector<std::string> create(std::string_view name_or_glob) override {
    const std::string reply =
        ask(frame(message::create, [&](writer& w) { w.write(std::string{name_or_glob}); }));
    reader r{reply};
    return r.read<std::vector<std::string>>();
  }

  void start(const std::vector<std::string>& names) override {
    ask(frame(message::start, [&](writer& w) { w.write(names); }));
  }

  void wait(const std::vector<std::string>& names) override {
    ask(frame(message::wait, [&](writer& w) { w.write(names); }));
  }

  const std::any* result(std::string_view name, const std::type_info& type,
                         std::string& bytes) override {
    const std::string reply = ask(frame(message::result, [&](writer& w) {
      w.write(std::string{name});
      w.write(std::string{type.name()});
    }));
    reader r{reply};
    bytes = r.read<std::string>();
    return nullptr;
  }

 private:
  // Sends `request` and returns its reply's answer (what follows an ok status).
  std::string ask(const std::string& request) {
    flush_output();  // what the job wrote so far comes before what the request causes
    if (!write_all(requests_, request.data(), request.size())) _exit(0);
    std::array<char, kLength> head{};
    if (!read_exact(replies_, head.data(), head.size())) _exit(0);
    std::uint32_t length;
    std::memcpy(&length, head.data(), kLength);
    std::string reply(length, '\0');
    if (!read_exact(replies_, reply.data(), reply.size())) _exit(0);
    reader r{reply};
    const auto s = static_cast<status>(r.read<std::uint8_t>());
    if (s != status::ok) throw_reply(s, r);
    return reply.substr(r.position());
  }

  int requests_;
  int replies_;
};

// The job's final message: its value's bytes, its exception, or skipped.
std::string run_job(const job_rec& job, job_host& host) {
  job_context ctx(host, job.name, job.args, std::stop_token{}, std::cout);
  try {
    const std::any value = job.spec->body.call(ctx);
    std::string bytes;
    if (job.spec->body.encode != nullptr) job.spec->body.encode(value, bytes);
    return frame(message::returned, [&](writer& w) { w.write(bytes); });
  } catch (const skipped&) {
    return frame(message::skipped);
  } catch (...) {
    const exception_description what = describe_current_exception();
    return frame(message::threw, [&](writer& w) {
      w.write(what.type_name);
      w.write(what.what);
    });
  }
}

// `fd`, moved above the standard descriptors when it is one of them (a parent that runs with
// stdout closed), so that the dup2s below do not replace it.
int above_stdio(int fd) { return fd > STDERR_FILENO ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3); }

// The worker's whole life, in the child after the fork.
void worker_main(const job_rec& job, int output, int requests, int replies) {
  output = above_stdio(output);
  requests = above_stdio(requests);
  replies = above_stdio(replies);
  if (dup2(output, STDOUT_FILENO) < 0 || dup2(output, STDERR_FILENO) < 0) _exit(127);
  ::close(output);
  worker_host host(requests, replies);
  const std::string last = run_job(job, host);
  flush_output();
  write_all(requests, last.data(), last.size());
}

// --- the parent ---------------------------------------------------------------------------------

// How the graph kills an attempt's worker: pull() under the graph's mutex (job_attempt::abandon),
// arm() and disarm() by the serving thread. Invariant: `pidfd_` is open while set (the serving
// thread disarms before it closes it), so a pull never signals a descriptor reused since.
class kill_switch {
 public:
  void pull() noexcept {
    std::lock_guard lock(mu_);
    pulled_ = true;
    if (pidfd_ >= 0) signal_pidfd(pidfd_, SIGKILL);
  }
  void arm(int pidfd) noexcept {
    std::lock_guard lock(mu_);
    pidfd_ = pidfd;
    if (pulled_) signal_pidfd(pidfd_, SIGKILL);
  }
  void disarm() noexcept {
    std::lock_guard lock(mu_);
    pidfd_ = -1;
  }
  bool pulled() const noexcept {
    std::lock_guard lock(mu_);
    return pulled_;
  }

 private:
  mutable std::mutex mu_;
  int pidfd_ = -1;
  bool pulled_ = false;
};

// A pipe's end that the serving thread reads without blocking, until end of file.
struct read_end {
  int fd = -1;
  bool open = false;  // end of file not reached

  // Appends what can be read now to `into`.
  void drain(std::string& into, std::vector<char>& chunk) {
    while (open) {
      const ssize_t n = ::read(fd, chunk.data(), chunk.size());
      if (n > 0) {
        into.append(chunk.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        open = n < 0 && errno == EAGAIN;
        return;
      }
    }
  }
};

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// One attempt's worker, from its fork to its reaping, on the serving thread. Invariant: every
// descriptor it made is closed, and a worker it forked reaped, when it is destroyed.
class worker_session {
 public:
  worker_session(job_attempt& attempt, kill_switch& kill)
      : attempt_(attempt), job_(attempt.job()), kill_(kill) {}
  worker_session(const worker_session&) = delete;
  worker_session& operator=(const worker_session&) = delete;
  ~worker_session() {
    bury();
    for (const int fd : fds_) worker_descriptors().close(fd);
  }

  attempt_outcome run() {
    const sigpipe_blocked no_signal;  // a reply to a worker that died: EPIPE, not SIGPIPE
    attempt_outcome outcome;
    try {
      fork_worker();
      serve();
    } catch (...) {
      outcome.error = std::current_exception();
    }
    bury();
    if (!outcome.error) outcome = ended();
    outcome.output = std::move(output_);
    return outcome;
  }

 private:
  // The descriptors, by role: the parent's ends, then the worker's.
  enum : std::size_t { out_r, requests_r, replies_w, out_w, requests_w, replies_r, pidfd, count };

  void fork_worker() {
    descriptors& fds = worker_descriptors();
    make_pipe(out_r, out_w);
    make_pipe(requests_r, requests_w);
    make_pipe(replies_r, replies_w);
    const job_rec& job = job_;
    const int output = fds_[out_w];
    const int requests = fds_[requests_w];
    const int replies = fds_[replies_r];
    const spawned child = spawn_worker([&] { worker_main(job, output, requests, replies); },
                                       {output, requests, replies});
    fds_[pidfd] = child.pidfd;
    kill_.arm(child.pidfd);
    for (const std::size_t worker_end : {out_w, requests_w, replies_r}) {
      fds.close(std::exchange(fds_[worker_end], -1));
    }
    for (const std::size_t parent_end : {out_r, requests_r, replies_w}) {
      set_nonblocking(fds_[parent_end]);
    }
    output_pipe_ = {fds_[out_r], true};
    request_pipe_ = {fds_[requests_r], true};
  }

  void make_pipe(std::size_t read, std::size_t write) {
    const auto ends = worker_descriptors().make_pipe();
    fds_[read] = ends[0];
    fds_[write] = ends[1];
  }

  // Until the worker exits: its output is read, its requests answered, its final message kept.
  void serve() {
    for (;;) {
      std::array<pollfd, 4> watch{{
          {fds_[pidfd], POLLIN, 0},
          {output_pipe_.open ? output_pipe_.fd : -1, POLLIN, 0},
          {request_pipe_.open ? request_pipe_.fd : -1, POLLIN, 0},
          {sent_ < to_send_.size() ? fds_[replies_w] : -1, POLLOUT, 0},
      }};
      if (::poll(watch.data(), watch.size(), -1) < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(),
                                "sluice: poll of a process job's worker");
      }
      if (watch[1].revents != 0) output_pipe_.drain(output_, chunk_);
      if (watch[2].revents != 0) take_requests();
      if (watch[3].revents != 0) send_replies();
      if (watch[0].revents != 0) break;
    }
    exited_ = true;
    output_pipe_.drain(output_, chunk_);  // what it wrote before it exited
    take_requests();                      // its final message, if it sent one
  }

  void take_requests() {
    request_pipe_.drain(received_, chunk_);
    take_frames(received_, [&](std::string_view body) { take(body); });
  }

  // One message from the worker: a request is answered (unless the worker has exited), the
  // final message kept.
  void take(std::string_view body) {
    if (body.empty()) return;
    const auto kind = static_cast<message>(body[0]);
    if (kind == message::returned || kind == message::threw || kind == message::skipped) {
      final_ = std::string{body};
    } else if (!exited_) {
      to_send_ += answer(kind, body.substr(1));
      send_replies();
    }
  }

  // The reply to a request: the graph's answer, or the exception it threw.
  std::string answer(message kind, std::string_view fields) {
    try {
      reader r{fields};
      return frame(status::ok, [&](writer& w) {
        switch (kind) {
          case message::create:
            w.write(attempt_.create(r.read<std::string>()));
            break;
          case message::start:
            attempt_.start(r.read<std::vector<std::string>>());
            break;
          case message::wait:
            attempt_.wait(r.read<std::vector<std::string>>());
            break;
          default: {
            const std::string name = r.read<std::string>();
            const std::string type = r.read<std::string>();
            std::string bytes;
            attempt_.graph().result(name, type, &bytes);
            w.write(bytes);
          }
        }
      });
    } catch (const std::invalid_argument& e) {
      return frame(status::invalid_argument, [&](writer& w) { w.write(std::string{e.what()}); });
    } catch (const job_failed& e) {
      return frame(status::failed, [&](writer& w) {
        w.write(static_cast<std::uint32_t>(e.jobs().size()));
        for (const failed_job& j : e.jobs()) {
          w.write(j.name);
          w.write(static_cast<std::int32_t>(j.reason));
          w.write(j.detail);
        }
      });
    } catch (...) {
      const exception_description what = describe_current_exception();
      return frame(status::other, [&](writer& w) {
        w.write(what.type_name);
        w.write(what.what);
      });
    }
  }

  // Writes what the reply pipe takes now; a worker that is gone takes nothing more.
  void send_replies() {
    while (sent_ < to_send_.size()) {
      const ssize_t n =
          ::write(fds_[replies_w], to_send_.data() + sent_, to_send_.size() - sent_);
      if (n > 0) {
        sent_ += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (errno != EAGAIN) sent_ = to_send_.size();  // EPIPE: its exit is on its pidfd
        return;
      }
    }
    to_send_.clear();
    sent_ = 0;
  }

  // Reaps the worker, killed first unless it has exited; then no kill can reach its pidfd.
  void bury() noexcept {
    if (fds_[pidfd] < 0 || buried_) return;
    if (!exited_) signal_pidfd(fds_[pidfd], SIGKILL);
    reaped_ = reap_worker(fds_[pidfd], status_);
    buried_ = true;
    kill_.disarm();
  }

  // The attempt's outcome from the worker's final message, or from its death without one.
  attempt_outcome ended() {
    attempt_outcome outcome;
    if (!final_) {
      outcome.error = worker_death("job '" + job_.name + "'", reaped_ ? &status_ : nullptr);
      return outcome;
    }
    try {
      reader r{*final_};
      switch (static_cast<message>(r.read<std::uint8_t>())) {
        case message::returned: {
          const std::string bytes = r.read<std::string>();
          if (job_.spec->body.decode != nullptr) outcome.value = job_.spec->body.decode(bytes);
          break;
        }
        case message::skipped:
          outcome.error = std::make_exception_ptr(skipped{});
          break;
        default: {
          std::string type = r.read<std::string>();
          outcome.error = std::make_exception_ptr(remote_error(std::move(type), r.read<std::string>()));
        }
      }
    } catch (...) {
      outcome.error = std::current_exception();  // bytes the job's codec cannot decode
    }
    return outcome;
  }

  job_attempt& attempt_;
  const job_rec& job_;  // its name, args and spec never change: read without the graph's lock
  kill_switch& kill_;
  std::array<int, count> fds_{-1, -1, -1, -1, -1, -1, -1};
  read_end output_pipe_;
  read_end request_pipe_;
  std::vector<char> chunk_ = std::vector<char>(kReadChunk);
  std::string output_;    // the worker's stdout and stderr
  std::string received_;  // request bytes not taken yet
  std::string to_send_;   // replies not written yet, from sent_ on
  std::size_t sent_ = 0;
  std::optional<std::string> final_;
  bool exited_ = false;  // its pidfd said so
  bool buried_ = false;
  bool reaped_ = false;  // its status is in status_
  siginfo_t status_{};
};

struct serving {
  std::shared_ptr<job_attempt> attempt;
  std::shared_ptr<kill_switch> kill;
};

void serve_attempt(void* arg) {
  const std::unique_ptr<serving> s{static_cast<serving*>(arg)};
  attempt_outcome outcome;
  if (s->kill->pulled()) {  // abandoned before its worker was made: its outcome is discarded
    outcome.error = std::make_exception_ptr(std::runtime_error("sluice: abandoned"));
  } else {
    outcome = worker_session(*s->attempt, *s->kill).run();
  }
  job_graph_state& graph = s->attempt->graph();
  graph.attempt_ended(std::move(s->attempt), std::move(outcome));
}

}  // namespace

void run_process_attempt(std::shared_ptr<job_attempt> attempt) {
  auto kill = std::make_shared<kill_switch>();
  attempt->set_kill([kill] { kill->pull(); });
  run_on_spare_thread(&serve_attempt, new serving{std::move(attempt), std::move(kill)});
}

}  // namespace sluice::detail
