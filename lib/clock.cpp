// The system clock and the manual clock of sluice/clock.hpp.
#include <thread>

#include <sluice/clock.hpp>
#include <sluice/detail/saturate.hpp>

namespace sluice {
namespace {

class system_clock_source final : public clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::now();
  }
  bool sleep_until(time_point deadline, std::stop_token stop) const override {
    if (!stop.stop_possible()) {
      std::this_thread::sleep_until(deadline);
      return true;
    }
    std::mutex mu;
    std::condition_variable_any woken;
    std::unique_lock lock(mu);
    return !woken.wait_until(lock, stop, deadline, [] { return false; }) && !stop.stop_requested();
  }
};

// The manual clock's epoch: arbitrary, far from zero so that subtracting a ttl never wraps.
const clock::time_point manual_epoch = clock::time_point{} + std::chrono::hours(24 * 365);
const std::chrono::system_clock::time_point manual_wall_epoch =
    std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50);

}  // namespace

const clock& clock::system() noexcept {
  static const system_clock_source instance;
  return instance;
}

clock::time_point manual_clock::now() const {
  std::lock_guard lock(mu_);
  return manual_epoch + elapsed_;
}

std::chrono::system_clock::time_point manual_clock::wall_now() const {
  std::lock_guard lock(mu_);
  return detail::saturating_add(manual_wall_epoch, elapsed_);
}

bool manual_clock::sleep_until(time_point deadline, std::stop_token stop) const {
  std::unique_lock lock(mu_);
  sleeps_.push_back(deadline - (manual_epoch + elapsed_));
  if (stop.stop_requested()) return false;
  if (mode_ == sleeping::advances) {
    if (deadline - manual_epoch > elapsed_) elapsed_ = deadline - manual_epoch;
    moved_.notify_all();
    return true;
  }
  return moved_.wait(lock, stop, [&] { return manual_epoch + elapsed_ >= deadline; });
}

void manual_clock::advance(duration by) {
  {
    std::lock_guard lock(mu_);
    // Time saturates at time_point::max() (a sleep "forever" may have taken it there).
    if (by > duration::zero()) {
      elapsed_ = detail::saturating_add(manual_epoch + elapsed_, by) - manual_epoch;
    }
  }
  moved_.notify_all();
}

std::vector<clock::duration> manual_clock::sleeps() const {
  std::lock_guard lock(mu_);
  return sleeps_;
}

}  // namespace sluice
