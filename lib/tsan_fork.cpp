// Under ThreadSanitizer only: stocks the forking thread's allocator cache before a fork().
//
// The TSan runtimes sluice is built with (clang 14, and 16 likewise) do not hold their
// allocator's size-class locks across fork(): a thread of the parent that is refilling or
// draining its cache at the fork (every thread that allocates much, or exits, does) leaves that
// size's lock held in the child, whose first allocation of that size from outside its cache
// then blocks forever. The child's only thread is a copy of the forking one, cache included. So
// the forking thread takes two blocks of every size a worker is likely to ask for and gives
// them back: they stay in its cache, and the child's first allocations of each size come from
// there without the lock. It narrows the window to a worker that needs more than that of one
// size before it frees any; the runtime's own fix is the only cure.
#include "sanitizer_macros.hpp"

#include "process.hpp"

#if defined(SLUICE_TSAN)
#include <array>
#include <cstddef>
#include <cstdlib>

void sluice::detail::prime_allocator_before_fork() noexcept {
  constexpr std::size_t kLargest = std::size_t{1} << 18;  // past a worker's 64 KiB read chunk
  constexpr std::size_t kEach = 2;
  std::array<void*, 64 * kEach> blocks{};
  std::size_t count = 0;
  // Every power of two and the sizes halfway between: TSan's size classes are that fine.
  for (std::size_t size = 16; size <= kLargest && count + 2 * kEach <= blocks.size(); size *= 2) {
    for (const std::size_t each : {size, size + size / 2}) {
      for (std::size_t k = 0; k < kEach; ++k) blocks[count++] = std::malloc(each);
    }
  }
  for (std::size_t i = 0; i < count; ++i) std::free(blocks[i]);
}
#else
void sluice::detail::prime_allocator_before_fork() noexcept {}
#endif
