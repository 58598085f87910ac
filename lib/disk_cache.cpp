// The file I/O of the persistent cache (sluice/detail/resilience/disk_cache.hpp) and the check of a
// cache_policy (sluice/cache.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <system_error>

#include <sluice/cache.hpp>
#include <sluice/codec.hpp>
#include <sluice/detail/resilience/disk_cache.hpp>
#include <sluice/detail/saturate.hpp>

namespace sluice::detail {
namespace {

constexpr std::string_view magic = "sluice-c";
constexpr std::uint32_t format_version = 1;

// The largest entry file the cache writes or reads, header and checksum included. A larger file
// at an entry's path is damaged: it is never read into memory (a sparse file of a terabyte would
// be a terabyte allocation), and a larger entry is kept in memory only.
constexpr std::uint64_t max_entry_bytes = std::uint64_t{1} << 30;

// Closes a file descriptor when it goes out of scope.
class file_closer {
 public:
  explicit file_closer(int fd) noexcept : fd_(fd) {}
  file_closer(const file_closer&) = delete;
  file_closer& operator=(const file_closer&) = delete;
  ~file_closer() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Closes now; returns whether close() succeeded (it may report a failed write).
  bool close() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string os_error(int error) {
  return std::error_code(error, std::generic_category()).message();
}

[[noreturn]] void unusable_directory(std::string_view who, const std::string& path,
                                     const std::string& why) {
  throw std::runtime_error("sluice: " + std::string{who} + " has cache_policy.directory \"" + path +
                           "\", which cannot be used: " + why);
}

// Reads the entry file at `path` into `out`. False, at once, for anything but a regular file of
// at most max_entry_bytes: nothing there, a FIFO (whose open() for reading waits for a writer),
// a device, a socket, a directory, a symbolic link, a file too large. What it reads is only
// bytes; load() checks them.
bool read_entry(const std::string& path, std::string& out) {
  struct stat info {};
  // Only a regular file is opened at all: opening a FIFO blocks, opening a device may act.
  if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  // The path may have become a FIFO or a link since: O_NONBLOCK and O_NOFOLLOW keep open() from
  // waiting or following, and fstat() looks again at what was opened.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) return false;
  file_closer closer{fd};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size < 0 ||
      static_cast<std::uint64_t>(info.st_size) > max_entry_bytes) {
    return false;
  }
  out.resize(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a file that shrank under us: parse what was read
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return true;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::uint64_t stable_hash(std::string_view bytes) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a, 64-bit
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

disk_directory::disk_directory(std::string path, std::chrono::milliseconds ttl,
                               const sluice::clock& clock, std::string_view who)
    : path_(std::move(path)), ttl_(ttl), clock_(&clock) {
  std::error_code error;
  std::filesystem::create_directories(path_, error);
  if (error) unusable_directory(who, path_, "cannot create it: " + error.message());
  if (!std::filesystem::is_directory(path_, error)) {
    unusable_directory(who, path_, error ? error.message() : os_error(ENOTDIR));
  }
  if (::access(path_.c_str(), W_OK | X_OK) != 0) {
    unusable_directory(who, path_, "cannot write to it: " + os_error(errno));
  }
}

std::string disk_directory::entry_path(std::string_view key) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.entry",
                static_cast<unsigned long long>(stable_hash(key)));
  return (std::filesystem::path{path_} / name).string();
}

std::optional<disk_directory::hit> disk_directory::load(std::string_view key) const {
  try {
    std::string bytes;
    if (!read_entry(entry_path(key), bytes)) return std::nullopt;
    if (bytes.size() < magic.size() + sizeof(std::uint64_t)) return std::nullopt;
    const std::string_view body{bytes.data(), bytes.size() - sizeof(std::uint64_t)};
    reader tail{std::string_view{bytes}.substr(body.size())};
    if (tail.read<std::uint64_t>() != stable_hash(body)) return std::nullopt;  // corrupt

    reader r{body};
    if (r.read_bytes(magic.size(), "the magic") != magic) return std::nullopt;
    if (r.read<std::uint32_t>() != format_version) return std::nullopt;
    const std::int64_t written_ns = r.read<std::int64_t>();
    if (written_ns < 0) return std::nullopt;  // before the epoch: damaged (and age would overflow)
    const auto written = std::chrono::system_clock::time_point{
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds{written_ns})};
    const std::string_view stored_key = r.read_bytes(r.read_length("the key"), "the key");
    if (stored_key != key) return std::nullopt;  // another key with the same hash
    const std::string_view value = r.read_bytes(r.read_length("the value"), "the value");
    if (r.remaining() != 0) return std::nullopt;

    hit found{std::string{value}, sluice::clock::duration::max()};
    if (ttl_ > std::chrono::milliseconds::zero()) {
      using wall = std::chrono::system_clock::duration;
      const wall ttl = saturating_cast<wall>(ttl_);  // milliseconds::max() must not wrap
      auto age = clock_->wall_now() - written;
      if (age < decltype(age)::zero()) age = decltype(age)::zero();  // written "in the future"
      if (age >= ttl) return std::nullopt;                           // expired
      found.time_left = saturating_cast<sluice::clock::duration>(ttl - age);
    }
    return found;
  } catch (const codec_error&) {
    return std::nullopt;
  } catch (const std::bad_alloc&) {  // no memory for an entry of plausible size: a miss
    return std::nullopt;
  }
}

bool disk_directory::store(std::string_view key, std::string_view value) const noexcept {
  static std::atomic<std::uint64_t> counter{0};
  // An entry over max_entry_bytes is kept in memory only: load() would refuse it.
  constexpr std::uint64_t framing =
      magic.size() + sizeof(std::uint32_t) + sizeof(std::int64_t) + 3 * sizeof(std::uint64_t);
  if (key.size() + value.size() > max_entry_bytes - framing) return false;
  try {
    std::string bytes;
    writer w{bytes};
    w.write_bytes(magic);
    w.write(format_version);
    w.write(static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->wall_now().time_since_epoch())
            .count()));
    w.write(static_cast<std::uint64_t>(key.size()));
    w.write_bytes(key);
    w.write(static_cast<std::uint64_t>(value.size()));
    w.write_bytes(value);
    w.write(stable_hash(bytes));

    const std::string final_path = entry_path(key);
    const std::string temporary = final_path + ".tmp-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    file_closer closer{fd};
    const bool written = write_all(fd, bytes);
    if (!closer.close() || !written || std::rename(temporary.c_str(), final_path.c_str()) != 0) {
      ::unlink(temporary.c_str());
      return false;
    }
    return true;
  } catch (...) {  // std::bad_alloc: the entry stays in memory only
    return false;
  }
}

void check_cache_policy(const cache_policy& policy, std::string_view who) {
  if (policy.max_entries == 0) {
    throw std::invalid_argument("sluice: cache_policy.max_entries is 0 in " + std::string{who} +
                                "; a cache must hold at least 1 entry");
  }
  if (policy.ttl < std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("sluice: cache_policy.ttl is " +
                                std::to_string(policy.ttl.count()) + "ms in " + std::string{who} +
                                "; it must be positive, or 0 for entries that never expire");
  }
}

void throw_missing_codec(std::string_view which, std::string_view who) {
  throw std::invalid_argument("sluice: cache_policy.directory is set, but the " +
                              std::string{which} + " of " + std::string{who} +
                              " has no sluice::codec; specialise sluice::codec<T> for it, or "
                              "leave the directory empty for a memory cache");
}

}  // namespace sluice::detail
