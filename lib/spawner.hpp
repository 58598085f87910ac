// Internal to lib/: how sluice makes worker processes (docs/processes.md, "How a worker is made").
//
// Every fork of a worker happens on one thread, the spawner, which lives as long as the process:
//   - a worker asks the kernel to kill it when the thread that forked it ends
//     (PR_SET_PDEATHSIG), so that thread must outlive every worker;
//   - the descriptors sluice made for its workers are known at every fork: each is opened and
//     closed through `descriptors`, whose lock the spawner holds across the fork, so a worker
//     closes every one of them but its own and never holds another run's pipe (which would turn
//     that run's crash into a hang).
// The child leaves the spawner's code only through `child_main`, then `_exit`.
//
// Below that: what every user of workers shares to talk to them and to bury them (process
// pools' worker_set.cpp, process jobs' job_process.cpp).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <array>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

namespace sluice::detail {

// The descriptors sluice made for worker processes (pipes, pidfds, epoll, event and timer fds).
// Thread-safe. Each call that makes or closes one throws nothing but std::system_error.
class descriptors {
 public:
  // pipe2(O_CLOEXEC): {read end, write end}.
  std::array<int, 2> make_pipe();
  // Registers the descriptor `make()` returns (or throws std::system_error naming `what` when it
  // returns -1), made under the lock so that no fork sees it unregistered.
  template <class Make>
  int make(const char* what, Make make) {
    std::lock_guard lock(mu_);
    const int fd = make();
    if (fd < 0) fail(what);
    fds_.push_back(fd);
    return fd;
  }
  void close(int fd) noexcept;  // unregisters and closes; ignores -1

  // In a worker, right after the fork (its only thread): closes every registered descriptor but
  // those in `keep`. Takes no lock: the spawner held it across the fork.
  void close_all_except(const std::vector<int>& keep) noexcept;

 private:
  friend class spawner;
  [[noreturn]] static void fail(const char* what);

  std::mutex mu_;
  std::vector<int> fds_;  // guarded by mu_
};

// pidfd_open(2) and pidfd_send_signal(2) by their system calls: glibc 2.36's <sys/pidfd.h>
// declares them without C linkage, so C++ cannot link against them.
int open_pidfd(pid_t pid) noexcept;
int signal_pidfd(int pidfd, int signal) noexcept;

// This process's registry (a forked child makes its own).
descriptors& worker_descriptors();

struct spawned {
  pid_t pid = -1;
  int pidfd = -1;  // registered in worker_descriptors()
};

// Forks a worker on the spawner thread and returns once it exists. In the child: the fork rules
// of docs/processes.md are applied (death signal, default signal handling with SIGINT ignored,
// no library descriptor but `keep`), then `child_main` runs, then the child leaves with
// _exit(0) (also when child_main throws). Exceptions: std::system_error when fork or
// pidfd_open fails.
spawned spawn_worker(const std::function<void()>& child_main, const std::vector<int>& keep);

// While it lives, SIGPIPE is blocked on this thread, and one that a write to a pipe whose reader
// is gone raises meanwhile is taken back: the write fails with EPIPE and kills no process. For
// threads that write to workers' pipes only for a while (a thread that does nothing else
// blocks it for good).
class sigpipe_blocked {
 public:
  sigpipe_blocked() noexcept;
  sigpipe_blocked(const sigpipe_blocked&) = delete;
  sigpipe_blocked& operator=(const sigpipe_blocked&) = delete;
  ~sigpipe_blocked();

 private:
  sigset_t pipe_{};
  sigset_t before_{};
  bool was_pending_ = false;
};

// Writes all of `bytes` to a blocking descriptor; false when the reader is gone.
bool write_all(int fd, const char* bytes, std::size_t size) noexcept;

// Waits for the worker behind `pidfd` to end and reaps it (it must be this process's child and
// reaped nowhere else): true with its status in `info`, false when the status is unavailable.
bool reap_worker(int pidfd, siginfo_t& info) noexcept;

// What a worker's death without an answer means to the one it worked for, named by `who`
// ("task 'parse' (task#2)"): sluice::worker_crashed::killed or ::exited from the status `info`
// that reap_worker gave, or a std::runtime_error when that is null (status unavailable).
std::exception_ptr worker_death(std::string_view who, const siginfo_t* info);

}  // namespace sluice::detail
