// The state machine of sluice/circuit_breaker.hpp: closed -> open -> half_open -> closed / open.
#include <algorithm>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/circuit_breaker.hpp>
#include <sluice/detail/saturate.hpp>

#include "messages.hpp"

namespace sluice {
namespace detail {

// The state shared by the copies of a circuit_breaker. Every member is guarded by mu_; the
// policy and the clock are set once.
class breaker_core {
 public:
  explicit breaker_core(breaker_policy policy)
      : policy_(std::move(policy)),
        clock_(clock_or_system(policy_.clock)),
        outcomes_(policy_.failure_rate > 0 ? policy_.window : 0) {}

  circuit_state state() {
    std::lock_guard lock(mu_);
    refresh(clock_.now());
    return state_;
  }

  breaker_stats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void acquire(std::string_view who) {
    std::unique_lock lock(mu_);
    const clock::time_point now = clock_.now();
    refresh(now);
    if (state_ == circuit_state::closed ||
        (state_ == circuit_state::half_open && probes_let_ < policy_.half_open_probes)) {
      if (state_ == circuit_state::half_open) ++probes_let_;
      ++stats_.calls;
      return;
    }
    ++stats_.rejected;
    std::string message = message_prefix(who);
    if (state_ == circuit_state::open) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(half_open_at_ - now);
      message += "circuit breaker is open (" + why_open_ + "); it lets a trial call through in " +
                 std::to_string(left.count()) + " ms";
    } else {
      message += "circuit breaker is half-open and has let through its " +
                 std::to_string(policy_.half_open_probes) +
                 (policy_.half_open_probes == 1 ? " trial call" : " trial calls") +
                 "; other calls fail fast until the trials close or reopen it";
    }
    lock.unlock();
    throw circuit_open(message);
  }

  void on_success() {
    std::lock_guard lock(mu_);
    ++stats_.successes;
    switch (state_) {
      case circuit_state::closed:
        consecutive_ = 0;
        record(false);
        open_if_rate_reached(clock_.now());
        break;
      case circuit_state::half_open:
        if (probes_passed_ < probes_let_ && ++probes_passed_ == policy_.half_open_probes) close();
        break;
      case circuit_state::open:  // a call let through before the breaker opened
        break;
    }
  }

  void on_failure(std::exception_ptr error) {
    bool counts = true;
    if (policy_.counts_if) {
      try {
        counts = policy_.counts_if(error);
      } catch (...) {
        counts = true;
      }
    }
    std::lock_guard lock(mu_);
    if (!counts) {
      ++stats_.ignored;
      // A trial call whose outcome is ignored hands its place to another call.
      if (state_ == circuit_state::half_open && probes_let_ > probes_passed_) --probes_let_;
      return;
    }
    ++stats_.failures;
    const clock::time_point now = clock_.now();
    switch (state_) {
      case circuit_state::closed:
        ++consecutive_;
        record(true);
        if (policy_.consecutive_failures > 0 && consecutive_ >= policy_.consecutive_failures) {
          open(now, std::to_string(consecutive_) + " failures in a row");
        } else {
          open_if_rate_reached(now);
        }
        break;
      case circuit_state::half_open:
        open(now, "a trial call failed");
        break;
      case circuit_state::open:  // a call let through before the breaker opened
        break;
    }
  }

 private:
  // Open -> half_open once open_for has passed.
  void refresh(clock::time_point now) {
    if (state_ == circuit_state::open && now >= half_open_at_) {
      state_ = circuit_state::half_open;
      probes_let_ = 0;
      probes_passed_ = 0;
    }
  }

  void open(clock::time_point now, std::string why) {
    state_ = circuit_state::open;
    half_open_at_ = saturating_add(now, policy_.open_for);  // beyond the clock's range: never
    why_open_ = std::move(why);
    ++stats_.opened;
  }

  // Closed -> open when the failures over a full window reach failure_rate.
  void open_if_rate_reached(clock::time_point now) {
    if (policy_.failure_rate > 0 && seen_ == outcomes_.size() &&
        static_cast<double>(failed_) / static_cast<double>(seen_) >= policy_.failure_rate) {
      open(now,
           std::to_string(failed_) + " of the last " + std::to_string(seen_) + " calls failed");
    }
  }

  void close() {
    state_ = circuit_state::closed;
    consecutive_ = 0;
    seen_ = 0;
    failed_ = 0;
    next_ = 0;
  }

  // Adds one outcome to the window of the last `window` calls (only with a failure_rate).
  void record(bool failed) {
    if (outcomes_.empty()) return;
    if (seen_ == outcomes_.size()) {
      if (outcomes_[next_]) --failed_;
    } else {
      ++seen_;
    }
    outcomes_[next_] = failed;
    if (failed) ++failed_;
    next_ = (next_ + 1) % outcomes_.size();
  }

  const breaker_policy policy_;
  const clock& clock_;
  std::mutex mu_;
  circuit_state state_ = circuit_state::closed;
  std::size_t consecutive_ = 0;     // counted failures in a row while closed
  std::vector<bool> outcomes_;      // ring of the last calls' outcomes (true: failed)
  std::size_t seen_ = 0;            // outcomes in the ring, up to its size
  std::size_t failed_ = 0;          // failures among them
  std::size_t next_ = 0;            // where the next outcome goes
  clock::time_point half_open_at_;  // while open
  std::string why_open_;            // while open, for circuit_open's message
  std::size_t probes_let_ = 0;      // trial calls let through while half-open
  std::size_t probes_passed_ = 0;   // of those, the ones that succeeded
  breaker_stats stats_;
};

void check_breaker_policy(const breaker_policy& policy, std::string_view who) {
  if (!(policy.failure_rate >= 0 && policy.failure_rate <= 1)) {
    throw std::invalid_argument(message_prefix(who) + "breaker_policy.failure_rate is " +
                                number_text(policy.failure_rate) +
                                "; it is a fraction of calls and must be between 0 (off) and 1");
  }
  if (policy.consecutive_failures == 0 && policy.failure_rate == 0) {
    throw std::invalid_argument(
        message_prefix(who) +
        "breaker_policy.consecutive_failures and breaker_policy.failure_rate are both 0 (off), "
        "so the breaker could never open; set at least one of them");
  }
  if (policy.failure_rate > 0 && policy.window == 0) {
    throw std::invalid_argument(message_prefix(who) +
                                "breaker_policy.window is 0; it counts the calls failure_rate is "
                                "taken over and must be at least 1");
  }
  if (policy.open_for.count() < 0) {
    throw std::invalid_argument(message_prefix(who) + "breaker_policy.open_for is " +
                                std::to_string(policy.open_for.count()) +
                                " ms; it must not be negative");
  }
  if (policy.half_open_probes == 0) {
    throw std::invalid_argument(message_prefix(who) +
                                "breaker_policy.half_open_probes is 0; it counts the trial calls "
                                "let through while half-open and must be at least 1");
  }
}

}  // namespace detail

circuit_breaker::circuit_breaker(breaker_policy policy) {
  detail::check_breaker_policy(policy, "");
  core_ = std::make_shared<detail::breaker_core>(std::move(policy));
}

circuit_state circuit_breaker::state() const { return core_->state(); }
breaker_stats circuit_breaker::stats() const { return core_->stats(); }
void circuit_breaker::acquire(std::string_view who) const { core_->acquire(who); }
void circuit_breaker::on_success() const { core_->on_success(); }
void circuit_breaker::on_failure(std::exception_ptr error) const {
  core_->on_failure(std::move(error));
}

}  // namespace sluice
