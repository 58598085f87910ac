// graceful_shutdown: a self-pipe. The handler writes the signal's number to a pipe and does
// nothing else; the instance's thread reads the pipe, counts, drains, cancels, and puts the
// previous dispositions back after the second signal.
//
// The pipe is made once and kept for the life of the process: a handler running on another
// thread while an instance is destroyed may still write to it, so it is never closed under it.
// Bytes left in it by such a late signal are discarded when the next instance starts.
#include <sluice/shutdown.hpp>

#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unistd.h>

namespace sluice {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM};
constexpr unsigned char kQuit = 0;  // from the destructor: the thread returns

std::atomic<bool> instance_alive{false};
// Read by the handler: lock-free atomics only.
std::atomic<int> pipe_write{-1};
std::atomic<pid_t> owner{0};
int pipe_read = -1;
struct sigaction previous[2];  // written before the handler is installed, read by it only in a
                               // forked child

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free,
              "sluice: graceful_shutdown's signal handler needs lock-free atomics");

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(),
                          std::string("sluice: graceful_shutdown: ") + what);
}

int slot_of(int sig) noexcept { return sig == SIGINT ? 0 : 1; }

extern "C" void on_signal(int sig) {
  const int saved = errno;
  if (getpid() != owner.load(std::memory_order_relaxed)) {
    // A child forked without exec, before it reset its signals: behave as without the instance.
    sigaction(sig, &previous[slot_of(sig)], nullptr);
    raise(sig);  // delivered once this handler returns, under the previous disposition
  } else if (const int fd = pipe_write.load(std::memory_order_relaxed); fd >= 0) {
    const auto byte = static_cast<unsigned char>(sig);
    [[maybe_unused]] const ssize_t written = write(fd, &byte, 1);  // full pipe: dropped
  }
  errno = saved;
}

void make_pipe_once() {
  if (pipe_read >= 0) return;  // guarded by instance_alive: one constructor at a time
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) fail("cannot make its pipe");
  pipe_read = fds[0];
  pipe_write.store(fds[1], std::memory_order_release);
}

void discard_pending() noexcept {
  unsigned char bytes[64];
  while (read(pipe_read, bytes, sizeof bytes) > 0) {
  }
}

void restore_dispositions() noexcept {
  for (int sig : kSignals) sigaction(sig, &previous[slot_of(sig)], nullptr);
}

void install() {
  owner.store(getpid(), std::memory_order_relaxed);
  struct sigaction ours {};
  ours.sa_handler = &on_signal;
  sigemptyset(&ours.sa_mask);
  for (int sig : kSignals) sigaddset(&ours.sa_mask, sig);  // one handler at a time
  ours.sa_flags = SA_RESTART;
  for (int sig : kSignals) {
    if (sigaction(sig, nullptr, &previous[slot_of(sig)]) != 0) fail("cannot read a disposition");
  }
  for (int sig : kSignals) {
    if (sigaction(sig, &ours, nullptr) != 0) {
      const int error = errno;
      restore_dispositions();
      errno = error;
      fail("cannot install its signal handler");
    }
  }
}

void write_quit() noexcept {
  const unsigned char byte = kQuit;
  const int fd = pipe_write.load(std::memory_order_acquire);
  while (write(fd, &byte, 1) < 0) {
    if (errno == EAGAIN) {  // full of signals the thread has not read yet: let it read
      pollfd room{fd, POLLOUT, 0};
      poll(&room, 1, -1);
    } else if (errno != EINTR) {
      return;  // cannot happen for an open pipe whose read end is open
    }
  }
}

}  // namespace

graceful_shutdown::graceful_shutdown() {
  if (instance_alive.exchange(true, std::memory_order_acq_rel)) {
    throw std::logic_error(
        "sluice: graceful_shutdown: another instance is alive; signal dispositions belong to the "
        "process, so only one may live at a time");
  }
  try {
    make_pipe_once();
    discard_pending();
    install();
    try {
      thread_ = std::thread([this] { listen(); });
    } catch (...) {
      restore_dispositions();
      throw;
    }
  } catch (...) {
    instance_alive.store(false, std::memory_order_release);
    throw;
  }
}

graceful_shutdown::~graceful_shutdown() {
  write_quit();
  thread_.join();
  if (!restored_) restore_dispositions();
  instance_alive.store(false, std::memory_order_release);
}

void graceful_shutdown::listen() noexcept {
  for (;;) {
    pollfd ready{pipe_read, POLLIN, 0};
    if (poll(&ready, 1, -1) < 0) continue;  // EINTR
    unsigned char bytes[16];
    const ssize_t got = read(pipe_read, bytes, sizeof bytes);
    for (ssize_t i = 0; i < got; ++i) {
      if (bytes[i] == kQuit) return;
      const int count = received_.fetch_add(1, std::memory_order_acq_rel) + 1;
      if (count == 1) {
        drain_.request_stop();
      } else if (count == 2) {
        // Put back first: once cancel_token() shows the cancel, a third signal finds them.
        restore_dispositions();
        restored_ = true;
        cancel_.request_stop();
      }
    }
  }
}

}  // namespace sluice
