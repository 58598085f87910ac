// This header defines sluice_test::call_log, which counts a callable's calls per item under a
// lock (the callable may run on several workers at once).
//
//   sluice_test::call_log log;
//   auto f = [&](int x) { log.add(x); return x; };  ...  CHECK(log.of(3) == 1);
#pragma once

#include <map>
#include <mutex>

namespace sluice_test {

class call_log {
 public:
  // Counts one more call for `item`; returns how many there have been, this one included.
  int add(int item) {
    std::lock_guard lock(mu_);
    return ++calls_[item];
  }
  int of(int item) const {
    std::lock_guard lock(mu_);
    const auto found = calls_.find(item);
    return found == calls_.end() ? 0 : found->second;
  }
  int total() const {
    std::lock_guard lock(mu_);
    int sum = 0;
    for (const auto& [item, count] : calls_) sum += count;
    return sum;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, int> calls_;
};

}  // namespace sluice_test
