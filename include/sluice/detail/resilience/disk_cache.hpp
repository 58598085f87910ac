// Internal: the files of a persistent cache (cache_policy::directory), one per entry. Keys and
// values arrive already encoded by sluice::codec; this part only knows bytes. lib/disk_cache.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/clock.hpp>

namespace sluice::detail {

// A stable 64-bit hash of bytes (FNV-1a): the same in every process and on every run, unlike
// absl::Hash, so it can name files.
std::uint64_t stable_hash(std::string_view bytes) noexcept;

// One directory of cache entries. The entry of key bytes K lives in "<16 hex digits of
// stable_hash(K)>.entry" and holds, in this order: the magic "sluice-c", a uint32 format version,
// the int64 write time (clock.wall_now(), nanoseconds since the system clock's epoch), a uint64
// length and the key bytes, a uint64 length and the value bytes, and a uint64 FNV-1a checksum of
// everything before it, all little-endian.
//
// Thread safety: load() and store() may be called from many threads and processes at once.
// store() writes a temporary file in the same directory and renames it over the entry, so a
// reader sees the old entry or the new one, never half of one; a crash leaves at most a stray
// "*.tmp-*" file behind.
class disk_directory {
 public:
  // Creates `path` (and its parents) when missing. `ttl` 0: entries never expire. `who` names
  // the cache's user in errors: "sluice::cached", "task 'geo' (task#2)".
  // Exceptions: std::runtime_error when the directory cannot be created or is not a writable
  // directory (sluice: <who> has cache_policy.directory "<path>", which cannot be used: <the
  // reason, with the OS error>).
  disk_directory(std::string path, std::chrono::milliseconds ttl, const sluice::clock& clock,
                 std::string_view who);

  struct hit {
    std::string value;                  // the value bytes
    sluice::clock::duration time_left;  // until the entry expires; duration::max() without ttl
  };

  // The value stored under exactly `key`, unless there is none, it has expired, or the file is
  // truncated, corrupt, or holds another key (a hash collision): then nullopt. Anything at the
  // entry's path but a regular file of at most 1 GiB (a FIFO, a device, a directory, a symbolic
  // link, a huge sparse file) is damaged too, and is never opened or read into memory. Never
  // throws or blocks for what it finds on disk.
  std::optional<hit> load(std::string_view key) const;

  // Writes (or replaces) the entry of `key`, whatever is at its path unless that is a directory.
  // Returns false when it could not be written (disk full, permissions, an entry over 1 GiB);
  // the cache then keeps the value in memory only.
  bool store(std::string_view key, std::string_view value) const noexcept;

  // The file that holds (or would hold) the entry of `key`.
  std::string entry_path(std::string_view key) const;

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::chrono::milliseconds ttl_;
  const sluice::clock* clock_;
};

}  // namespace sluice::detail
