// This header defines `heap_in_use`, the bytes the C library's allocator has handed out and not
// taken back. Tests use it to show that a run allocates nothing big up front: it reads the
// allocator's own books (glibc's mallinfo2), not the process's resident memory, so it counts a
// reservation whether or not its pages were ever touched.
#pragma once

#include <cstddef>
#include <optional>

#if __has_include(<malloc.h>)
#include <malloc.h>
#endif

#include "sanitizers.hpp"

namespace sluice_test {

// std::nullopt where the allocator keeps no such books: other C libraries, and sanitized builds
// (ASan and TSan allocate through an allocator of their own).
inline std::optional<std::size_t> heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  if (under_sanitizer()) return std::nullopt;
  const struct mallinfo2 books = ::mallinfo2();
  return books.uordblks + books.hblkhd;  // small chunks in use + chunks mapped on their own
#else
  return std::nullopt;
#endif
}

}  // namespace sluice_test
