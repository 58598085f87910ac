// expect-error: sluice: task #2's cache key \(the result of its cache_key projection\) must be hashable with absl::Hash
// A task's cache_key projection must give a key the cache can hash and compare: a type without
// absl::Hash is rejected when the pipeline is called, naming the task. The twin projects to a
// std::string, which is hashable.
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace {
struct customer {
  std::string name;
  bool operator==(const customer&) const = default;
};
struct order {
  int id = 0;
  customer who;
};
std::vector<order> orders() { return {{1, {"acme"}}, {2, {"acme"}}}; }
std::string lookup(const order& o) { return std::string("region of ") + o.who.name; }
}  // namespace

void instantiate() {
#ifdef SLUICE_TWIN
  auto key = [](const order& o) { return o.who.name; };
#else
  auto key = [](const order& o) { return o.who; };
#endif
  auto p = sluice::task(orders, sluice::branch) |
           sluice::task(lookup, {.cache = sluice::cache_policy{}}).cache_key(key);
  auto s = p();
  (void)s;
}
