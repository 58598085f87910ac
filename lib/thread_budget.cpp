#include "thread_budget.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <thread>

#include <oneapi/tbb/global_control.h>

namespace sluice::detail {
namespace {

class budget {
 public:
  void change(std::size_t add, std::size_t remove) {
    std::lock_guard lock(mu_);
    reserved_ = reserved_ + add - remove;
    const std::size_t hardware = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t wanted = reserved_ == 0 ? 0 : hardware + reserved_ + 1;
    if (wanted == limit_) return;
    // The effective limit is the smallest of all live global_control objects, so the old one
    // must go before a larger one can take effect.
    control_.reset();
    if (wanted != 0) {
      control_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                       wanted);
    }
    limit_ = wanted;
  }

 private:
  std::mutex mu_;  // guards the members below
  std::size_t reserved_ = 0;
  std::size_t limit_ = 0;
  std::unique_ptr<tbb::global_control> control_;
};

budget& the_budget() {
  static budget* instance = new budget();  // never destroyed: runs may end during exit
  return *instance;
}

}  // namespace

void reserve_threads(std::size_t count) { the_budget().change(count, 0); }
void release_threads(std::size_t count) noexcept { the_budget().change(0, count); }

}  // namespace sluice::detail
