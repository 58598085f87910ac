// This header defines what the process-mode tests share: memory that a test and its worker
// processes both see, and counts of this process's children and open descriptors.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <fstream>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "gate.hpp"
#include "sanitizers.hpp"

namespace sluice_test {

// `size` counters in memory shared with every process forked after it was made (a worker
// process writes, the test reads). Each starts at 0.
class shared_counters {
 public:
  explicit shared_counters(std::size_t size = 8) : size_(size) {
    void* memory = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                        0);
    if (memory == MAP_FAILED) throw std::runtime_error("mmap of shared counters failed");
    counters_ = new (memory) std::atomic<std::int64_t>[size] {};
  }
  shared_counters(const shared_counters&) = delete;
  shared_counters& operator=(const shared_counters&) = delete;
  ~shared_counters() { munmap(counters_, bytes()); }

  std::atomic<std::int64_t>& operator[](std::size_t i) const { return counters_[i]; }

  // Adds one to counter `i` and waits until it reaches `count` (or `patience` passes): true
  // when it did, so `count` callers were there at once.
  bool arrive_and_wait(std::size_t i, std::int64_t count) const {
    counters_[i].fetch_add(1);
    return eventually([&] { return counters_[i].load() >= count; });
  }

 private:
  std::size_t bytes() const { return size_ * sizeof(std::atomic<std::int64_t>); }
  std::size_t size_;
  std::atomic<std::int64_t>* counters_;
};

// This process's living children (zombies included), from /proc; a sanitizer's symbolizer is
// started first, so that it counts in every reading.
inline std::size_t children_of_this_process() {
  start_symbolizer();
  std::size_t count = 0;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  while (const dirent* task = readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    std::ifstream file(std::string("/proc/self/task/") + task->d_name + "/children");
    std::string pid;
    while (file >> pid) ++count;
  }
  closedir(tasks);
  return count;
}

// This process's open descriptors, from /proc/self/fd (the directory's own one excluded); a
// sanitizer's symbolizer is started first, so that its pipes count in every reading.
inline std::size_t open_descriptors() {
  start_symbolizer();
  std::size_t count = 0;
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return 0;
  while (const dirent* fd = readdir(fds)) {
    if (fd->d_name[0] != '.') ++count;
  }
  closedir(fds);
  return count - 1;
}

// Whether the process `pid` has ended (gone, or a zombie waiting for its parent).
inline bool process_ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const std::size_t after_name = line.rfind(')');
  return after_name == std::string::npos || line.substr(after_name + 2, 1) == "Z";
}

// The exception `error` holds when it is an Exception; `what` gets its what() in any case.
template <class Exception>
std::optional<Exception> caught(const std::exception_ptr& error, std::string& what) {
  try {
    std::rethrow_exception(error);
  } catch (const Exception& e) {
    what = e.what();
    return e;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "not a std::exception";
  }
  return std::nullopt;
}

}  // namespace sluice_test
