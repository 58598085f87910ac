#include "remote.hpp"

#include "text.hpp"

#include <charconv>
#include <thread>

#include <absl/hash/hash.h>

namespace etl {

customer_profile customer_service::lookup(const std::string& customer) const {
  const std::uint64_t call = calls_.fetch_add(1, std::memory_order_relaxed);
  std::this_thread::sleep_for(options_.latency);
  // Which calls fail is a hash of the call's number: spread, and different on a second try.
  if (absl::HashOf(customer, call) % 100 < options_.failure_percent) {
    throw remote_unavailable(cat("customer service: no answer for ", customer));
  }
  unsigned number = 0;
  if (customer.size() > 1) {
    std::from_chars(customer.data() + 1, customer.data() + customer.size(), number);
  }
  if (number % 997 == 0) {
    throw unknown_customer(cat("customer service: no customer ", customer));
  }
  static constexpr const char* segments[] = {"retail", "business", "wholesale"};
  return {customer, segments[number % 3], static_cast<int>(absl::HashOf(customer) % 100)};
}

}  // namespace etl
