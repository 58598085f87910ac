#include "spawner.hpp"

#include <fcntl.h>
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
#include <string>
#include <system_error>
#include <thread>

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

class spawner {
 public:
  spawner() {
    watch_forks();
    std::thread([this] { serve(); }).detach();  // lives as long as the process (see header)
  }

  spawned spawn(const std::function<void()>& child_main, const std::vector<int>& keep) {
    fork_request request{&child_main, &keep, {}, nullptr};
    std::unique_lock lock(mu_);
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
};

spawned spawn_worker(const std::function<void()>& child_main, const std::vector<int>& keep) {
  return per_process<spawner>().spawn(child_main, keep);
}

}  // namespace sluice::detail
