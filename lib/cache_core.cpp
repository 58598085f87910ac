// The type-independent part of every cache (detail/resilience/cache_core.hpp).
#include <sluice/detail/resilience/cache_core.hpp>

#include <condition_variable>
#include <exception>
#include <list>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <absl/container/flat_hash_map.h>

#include <sluice/clock.hpp>
#include <sluice/codec.hpp>
#include <sluice/detail/resilience/cache_slot.hpp>
#include <sluice/detail/resilience/disk_cache.hpp>
#include <sluice/detail/saturate.hpp>

namespace sluice::detail {

namespace {

// A Key the cache owns: an entry's, or a running computation's.
class owned_key {
 public:
  owned_key(const cache_type_ops& ops, const void* key) : ops_(&ops), key_(ops.copy_key(key)) {}
  owned_key(const owned_key&) = delete;
  owned_key& operator=(const owned_key&) = delete;
  ~owned_key() { ops_->free_key(key_); }
  const void* get() const noexcept { return key_; }

 private:
  const cache_type_ops* ops_;
  void* key_;
};

// The maps hold probes; a stored probe points at an owned_key of the entry or computation that
// its map entry leads to, so it lives exactly as long as the map entry.
struct probe_hash {
  std::size_t operator()(const cache_probe& probe) const noexcept { return probe.hash; }
};
struct probe_equal {
  const cache_type_ops* ops;
  bool operator()(const cache_probe& a, const cache_probe& b) const {
    return a.key == b.key || (a.hash == b.hash && ops->key_equal(a.key, b.key));
  }
};
template <class V>
using probe_map = absl::flat_hash_map<cache_probe, V, probe_hash, probe_equal>;

}  // namespace

struct cache_core::state {
  struct entry {
    entry(const cache_type_ops& ops, cache_probe probe, cached_value v,
          sluice::clock::time_point until)
        : key(ops, probe.key), hash(probe.hash), value(std::move(v)), expires(until) {}
    owned_key key;
    std::size_t hash;
    cached_value value;
    sluice::clock::time_point expires;
    cache_probe probe() const noexcept { return {hash, key.get()}; }
  };
  using lru_list = std::list<entry>;  // most recently used first

  struct computation {
    computation(const cache_type_ops& ops, cache_probe probe) : key(ops, probe.key) {}
    owned_key key;
    std::condition_variable_any done;
    bool finished = false;  // guarded by mu, as the members below
    cached_value value;
    std::exception_ptr error;
  };

  state(const cache_policy& policy, std::string_view who, const cache_type_ops& type_ops)
      : ops(type_ops),
        clock(&clock_or_system(policy.clock)),
        ttl(policy.ttl),
        max_entries(policy.max_entries),
        index(0, probe_hash{}, probe_equal{&type_ops}),
        pending(0, probe_hash{}, probe_equal{&type_ops}) {
    if (!policy.directory.empty()) disk.emplace(policy.directory, ttl, *clock, who);
  }

  cached_value compute_and_publish(cache_probe key, absl::FunctionRef<cached_value()> compute,
                                   computation& mine);
  cached_value load_or_compute(cache_probe key, absl::FunctionRef<cached_value()> compute,
                               sluice::clock::duration& time_left);
  void remember(cache_probe key, const cached_value& value, sluice::clock::duration time_left);

  const cache_type_ops& ops;
  const sluice::clock* clock;
  const std::chrono::milliseconds ttl;
  const std::size_t max_entries;
  std::optional<disk_directory> disk;
  std::mutex mu;  // guards the members below
  lru_list lru;
  probe_map<lru_list::iterator> index;  // each probe points at its entry's key
  probe_map<std::shared_ptr<computation>> pending;  // each probe points at its computation's key
};

cache_core::cache_core(const cache_policy& policy, std::string_view who,
                       const cache_type_ops& ops)
    : state_(std::make_unique<state>(policy, who, ops)) {}

cache_core::~cache_core() = default;

void cache_core::get_or_compute(cache_probe key, absl::FunctionRef<cached_value()> compute,
                                void* out, std::stop_token stop) {
  state& s = *state_;
  const auto copy_out = [&](const cached_value& value) { s.ops.copy_value(value.get(), out); };
  std::unique_lock lock(s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) {
    const auto position = found->second;
    if (s.ttl.count() == 0 || s.clock->now() < position->expires) {
      s.lru.splice(s.lru.begin(), s.lru, position);
      copy_out(position->value);
      return;
    }
    s.index.erase(found);  // expired
    s.lru.erase(position);
  }
  if (auto running = s.pending.find(key); running != s.pending.end()) {
    const std::shared_ptr<state::computation> other = running->second;
    if (!other->done.wait(lock, stop, [&] { return other->finished; })) {
      lock.unlock();
      copy_out(compute());
      return;
    }
    if (other->error) std::rethrow_exception(other->error);
    lock.unlock();
    copy_out(other->value);
    return;
  }
  auto mine = std::make_shared<state::computation>(s.ops, key);
  const cache_probe stored{key.hash, mine->key.get()};
  s.pending.emplace(stored, mine);
  lock.unlock();
  copy_out(s.compute_and_publish(key, compute, *mine));
}

cached_value cache_core::state::compute_and_publish(cache_probe key,
                                                    absl::FunctionRef<cached_value()> compute,
                                                    computation& mine) {
  cached_value value;
  sluice::clock::duration time_left = saturating_cast<sluice::clock::duration>(ttl);
  std::exception_ptr error;
  try {
    value = disk ? load_or_compute(key, compute, time_left) : compute();
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard lock(mu);
    pending.erase(key);  // after which mine.key is only read by mine's owners
    mine.finished = true;
    mine.error = error;
    if (!error) {
      mine.value = value;
      try {
        remember(key, value, time_left);
      } catch (...) {
        // no room to remember it: the value is still this call's and its waiters'
      }
    }
  }
  mine.done.notify_all();
  if (error) std::rethrow_exception(error);
  return value;
}

// The value on disk, or else compute()'s, which is then written to disk.
cached_value cache_core::state::load_or_compute(cache_probe key,
                                                absl::FunctionRef<cached_value()> compute,
                                                sluice::clock::duration& time_left) {
  const std::string key_bytes = ops.encode_key(key.key);
  if (auto hit = disk->load(key_bytes)) {
    try {
      cached_value value = ops.decode_value(hit->value);
      time_left = hit->time_left;
      return value;
    } catch (const codec_error&) {
      // unreadable: a miss, replaced below
    } catch (const std::bad_alloc&) {
      // lengths that ask for more memory than there is: a miss too
    }
  }
  cached_value value = compute();
  disk->store(key_bytes, ops.encode_value(value.get()));
  return value;
}

void cache_core::state::remember(cache_probe key, const cached_value& value,
                                 sluice::clock::duration time_left) {
  // A ttl too long for the clock (milliseconds::max()) saturates: the entry never expires.
  const auto expires = ttl.count() == 0 ? sluice::clock::time_point::max()
                                        : saturating_add(clock->now(), time_left);
  if (auto found = index.find(key); found != index.end()) {
    found->second->value = value;
    found->second->expires = expires;
    lru.splice(lru.begin(), lru, found->second);
    return;
  }
  if (index.size() >= max_entries) {
    index.erase(lru.back().probe());
    lru.pop_back();
  }
  lru.emplace_front(ops, key, value, expires);
  try {
    index.emplace(lru.front().probe(), lru.begin());
  } catch (...) {
    lru.pop_front();
    throw;
  }
}

void cache_slot::mismatch(std::string_view who) {
  throw std::invalid_argument("sluice: " + std::string(who) +
                              " has a cache and was called with other argument types than "
                              "before; one cache holds one key type");
}

}  // namespace sluice::detail
