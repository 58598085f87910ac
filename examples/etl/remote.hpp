// A stand-in for a remote customer service: each call takes `latency` (a sleep, as a network
// round trip would: the core is free meanwhile) and fails now and then, as remote calls do.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>

namespace etl {

struct customer_profile {
  std::string customer{};
  std::string segment{};  // "retail", "business" or "wholesale"
  int risk = 0;           // 0..99
  friend std::ostream& operator<<(std::ostream& out, const customer_profile& p) {
    return out << p.customer << " (" << p.segment << ")";
  }
};

// A call that failed but may succeed if tried again (a timeout, a 503).
class remote_unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The service answered that it does not know the customer: trying again will not help.
class unknown_customer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct service_options {
  std::chrono::microseconds latency{2'000};
  unsigned failure_percent = 5;  // calls that fail with remote_unavailable
};

// Thread safety: lookup() may be called from many threads at once.
class customer_service {
 public:
  explicit customer_service(service_options options = {}) : options_(options) {}

  // The customer's profile. Throws remote_unavailable for about failure_percent of the calls,
  // and unknown_customer for every customer whose number is a multiple of 997.
  customer_profile lookup(const std::string& customer) const;

  std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }

 private:
  service_options options_;
  mutable std::atomic<std::uint64_t> calls_{0};
};

}  // namespace etl
