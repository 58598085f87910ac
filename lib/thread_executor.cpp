// The executor of a forked child: every activation on a spare thread (spare_threads.hpp).
#include <sluice/detail/engine/run.hpp>

#include "executor.hpp"
#include "process.hpp"
#include "spare_threads.hpp"
#include "tbb_engine.hpp"

namespace sluice::detail {
namespace {

class thread_executor final : public executor {
 public:
  explicit thread_executor(const std::vector<activation_target*>& targets) : targets_(targets) {}

  void submit(std::size_t index, bool /*near*/) override {
    run_on_spare_thread([](void* target) { static_cast<activation_target*>(target)->run_enqueued(); },
                        targets_[index]);
  }
  // A spare thread touches nothing of the run once run_enqueued() has returned.
  void wait() noexcept override {}

 private:
  const std::vector<activation_target*>& targets_;
};

}  // namespace

std::unique_ptr<executor> make_executor(std::size_t near_threads, std::size_t far_threads,
                                        const std::vector<activation_target*>& targets) {
  watch_forks();
  if (forked_child()) return std::make_unique<thread_executor>(targets);
  return make_tbb_executor(near_threads, far_threads, targets);
}

}  // namespace sluice::detail
