// Internal: the part of every cache that does not depend on its key and value types, compiled
// once in lib/cache_core.cpp: the LRU index, expiry, the computations callers share, and the
// directory of a persistent cache. cache_store<Key, Value> (cache.hpp) is a thin typed front
// that hands it keys and values as erased pointers with the few operations below, so a task or a
// sluice::cached call instantiates a handful of small functions per type, not a hash table.
#pragma once

#include <cstddef>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include <absl/functional/function_ref.h>

#include <sluice/cache_policy.hpp>

namespace sluice::detail {

// A cached value: a `const Value`, shared by the cache and the callers copying it out.
using cached_value = std::shared_ptr<const void>;

// What cache_core does with one Key and Value type. The codec functions are null for a memory
// cache whose types have no sluice::codec.
struct cache_type_ops {
  bool (*key_equal)(const void* a, const void* b);
  void* (*copy_key)(const void* key);  // a new Key, released with free_key
  void (*free_key)(void* key) noexcept;
  std::string (*encode_key)(const void* key);
  std::string (*encode_value)(const void* value);
  cached_value (*decode_value)(std::string_view bytes);  // throws sluice::codec_error
  // Copies the Value at `value` into `out`, a std::optional<Value> the caller gave.
  void (*copy_value)(const void* value, void* out);
};

// A key as the caller holds it: its absl::Hash and the Key itself, borrowed for the call.
struct cache_probe {
  std::size_t hash;
  const void* key;
};

// Invariants: at most policy.max_entries entries are kept, least recently used evicted first;
// an entry older than its time left (ttl, or what was left on disk) is never returned; at most
// one computation per key runs at a time on behalf of the callers that wait for it.
// Thread safety: get_or_compute may be called from many threads at once.
class cache_core {
 public:
  // `ops` must outlive the core (a static table of cache_store). With a directory, `ops` has its
  // codec functions. Throws std::runtime_error when the directory cannot be used (disk_cache.hpp).
  cache_core(const cache_policy& policy, std::string_view who, const cache_type_ops& ops);
  ~cache_core();
  cache_core(const cache_core&) = delete;
  cache_core& operator=(const cache_core&) = delete;

  // Copies the value cached for `key` into `out` (ops.copy_value; a hit copies under the lock);
  // on a miss, compute()'s (called outside any lock), which is then remembered, in memory and on
  // disk. An exception from compute reaches this caller and every caller waiting for the same
  // key, and nothing is cached. A caller waiting for another's computation whose `stop` is
  // requested calls compute() itself and caches nothing.
  void get_or_compute(cache_probe key, absl::FunctionRef<cached_value()> compute, void* out,
                      std::stop_token stop);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace sluice::detail
