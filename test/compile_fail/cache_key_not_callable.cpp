// expect-error: sluice: task #2's cache_key projection cannot be called with its input
// A task's cache_key projection must take the task's input: a pointer to a member of another
// type is rejected when the pipeline is called, naming the task. The twin points into the input.
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace {
struct order {
  int id = 0;
  std::string customer;
};
struct invoice {
  int id = 0;
  std::string customer;
};
std::vector<order> orders() { return {{1, "acme"}, {2, "acme"}}; }
std::string lookup(const order& o) { return std::string("region of ") + o.customer; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto p = sluice::task(orders, sluice::branch) |
           sluice::task(lookup, {.cache = sluice::cache_policy{}}).cache_key(&order::customer);
#else
  auto p = sluice::task(orders, sluice::branch) |
           sluice::task(lookup, {.cache = sluice::cache_policy{}}).cache_key(&invoice::customer);
#endif
  auto s = p();
  (void)s;
}
