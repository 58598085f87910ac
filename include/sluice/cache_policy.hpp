// This header defines sluice::cache_policy: how a cache keeps what it remembers, the options of
// sluice::cached (cache.hpp) and of a task's `cache` option (task.hpp).
//
// Example:
//   sluice::cache_policy{.ttl = 10min, .max_entries = 500, .directory = "/tmp/geo-cache"}
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <sluice/clock.hpp>

namespace sluice {

// How a cache keeps what it remembers: a memory cache with LRU eviction and an optional ttl, or
// a persistent cache on disk that survives restarts.
struct cache_policy {
  std::chrono::milliseconds ttl{0};  // age at which an entry expires; 0 (or too long for the
                                     // clock, as milliseconds::max()): never
  std::size_t max_entries = 10'000;  // entries kept in memory; least recently used goes first
  // "": a memory cache. Otherwise a persistent cache in that directory (created when missing):
  // keys and values must have a sluice::codec; ttl counts from when an entry was written, on the
  // wall clock, across restarts. Use one directory per cached function. max_entries bounds the
  // memory in front of it, not the directory: an entry file stays until it is replaced.
  std::string directory{};
  const sluice::clock* clock = nullptr;  // nullptr: sluice::clock::system()
};

namespace detail {

// Throws std::invalid_argument naming `who` ("sluice::cached", "task 'geo' (task#2)") when
// max_entries is 0 or ttl is negative.
void check_cache_policy(const cache_policy& policy, std::string_view who);

}  // namespace detail
}  // namespace sluice
