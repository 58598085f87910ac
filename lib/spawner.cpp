#include "spawner.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <sluice/errors.hpp>

#include "process.hpp"

namespace sluice::detail {

std::array<int, 2> descriptors::make_pipe() {
  std::array<int, 2> ends{-1, -1};
  std::lock_guard lock(mu_);
  if (pipe2(ends.data(), O_CLOEXEC) != 0) fail("pipe2 for a worker process");
  fds_.push_back(ends[0]);
  fds_.push_back(ends[1]);
  return ends;
}

void descriptors::close(int fd) noexcept {
  if (fd < 0) return;
  {
    std::lock_guard lock(mu_);
    std::erase(fds_, fd);
    ::close(fd);  // under the lock: the number is not reused before it leaves the list
  }
}

void descriptors::close_all_except(const std::vector<int>& keep) noexcept {
  for (const int fd : fds_) {
    if (std::find(keep.begin(), keep.end(), fd) == keep.end()) ::close(fd);
  }
  fds_.clear();
}

void descriptors::fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), std::string("sluice: ") + what);
}

descriptors& worker_descriptors() { return per_process<descriptors>(); }

int open_pidfd(pid_t pid) noexcept { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int signal_pidfd(int pidfd, int signal) noexcept {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

namespace {

// In the child, on the spawner's thread, right after the fork. Only async-signal-safe calls
// until child_main: another thread of the parent may have held any lock at the fork.
[[noreturn]] void become_worker(pid_t parent, descriptors& fds, const std::vector<int>& keep,
                                const std::function<void()>& child_main) noexcept {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent died before the line above
  mark_worker_process();
  struct sigaction deflt {};
  deflt.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &deflt, nullptr);  // fails for KILL, STOP
  signal(SIGINT, SIG_IGN);  // Ctrl-C is the parent's: it stops the run and kills its workers
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  fds.close_all_except(keep);
  try {
    child_main();
  } catch (...) {
  }
  _exit(0);
}

// A request to fork, answered by the spawner thread.
struct fork_request {
  const std::function<void()>* child_main;
  const std::vector<int>* keep;
  spawned result;
  std::exception_ptr error;
  bool done = false;
};

}  // namespace

// Its thread is made on first use, not by the constructor: per_process may make two spawners
// at once and destroy the one that lost, which must have no thread yet.
class spawner {
 public:
  spawned spawn(const std::function<void()>& child_main, const std::vector<int>& keep) {
    fork_request request{&child_main, &keep, {}, nullptr};
    std::unique_lock lock(mu_);
    if (!started_) {
      watch_forks();
      std::thread([this] { serve(); }).detach();  // lives as long as the process (see header)
      started_ = true;
    }
    requests_.push_back(&request);
    wake_.notify_one();
    answered_.wait(lock, [&] { return request.done; });
    if (request.error) std::rethrow_exception(request.error);
    return request.result;
  }

 private:
  void serve() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return !requests_.empty(); });
      fork_request* request = requests_.front();
      requests_.pop_front();
      lock.unlock();
      try {
        request->result = fork_one(*request->child_main, *request->keep);
      } catch (...) {
        request->error = std::current_exception();
      }
      lock.lock();
      request->done = true;
      answered_.notify_all();
    }
  }

  static spawned fork_one(const std::function<void()>& child_main, const std::vector<int>& keep) {
    descriptors& fds = worker_descriptors();
    const pid_t parent = getpid();
    spawned made;
    {
      std::lock_guard lock(fds.mu_);  // no descriptor is half made while the child is copied
      std::fflush(nullptr);           // nothing buffered is written twice, once by the child
      prime_allocator_before_fork();
      made.pid = fork();
      if (made.pid == 0) become_worker(parent, fds, keep, child_main);
      if (made.pid < 0) descriptors::fail("fork of a worker process");
    }
    try {
      made.pidfd = fds.make("pidfd_open of a worker process",
                            [&] { return open_pidfd(made.pid); });
    } catch (...) {
      kill(made.pid, SIGKILL);  // the pid is still ours: the child is not reaped yet
      waitpid(made.pid, nullptr, 0);
      throw;
    }
    return made;
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable answered_;
  std::deque<fork_request*> requests_;  // guarded by mu_
  bool started_ = false;                 // guarded by mu_: the thread exists
};

spawned spawn_worker(const std::function<void()>& child_main, const std::vector<int>& keep) {
  return per_process<spawner>().spawn(child_main, keep);
}

sigpipe_blocked::sigpipe_blocked() noexcept {
  sigemptyset(&pipe_);
  sigaddset(&pipe_, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_, &before_);
}

sigpipe_blocked::~sigpipe_blocked() {
  const int saved = errno;
  sigset_t pending;
  sigpending(&pending);
  if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
    const timespec now{};
    while (sigtimedwait(&pipe_, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &before_, nullptr);
  errno = saved;
}

bool write_all(int fd, const char* bytes, std::size_t size) noexcept {
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

bool reap_worker(int pidfd, siginfo_t& info) noexcept {
  info = siginfo_t{};
  int reaped;
  while ((reaped = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                          WEXITED)) < 0 &&
         errno == EINTR) {
  }
  return reaped == 0;
}

std::exception_ptr worker_death(std::string_view who, const siginfo_t* info) {
  if (info == nullptr) {
    return std::make_exception_ptr(std::runtime_error(
        "sluice: " + std::string{who} +
        ": its worker process vanished (its exit status was unavailable: was it reaped "
        "elsewhere?)"));
  }
  if (info->si_code == CLD_EXITED) {
    return std::make_exception_ptr(worker_crashed::exited(who, info->si_status));
  }
  return std::make_exception_ptr(worker_crashed::killed(who, info->si_status));
}

}  // namespace sluice::detail
