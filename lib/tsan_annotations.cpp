// The ThreadSanitizer annotations of tsan_annotations.hpp: calls into TSan's runtime when this
// file is instrumented, nothing otherwise.
#include "tsan_annotations.hpp"

#include "sanitizer_macros.hpp"

#if defined(SLUICE_TSAN)
// TSan's runtime interface (<sanitizer/tsan_interface.h>, declared here so no sanitizer header
// is needed).
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

void sluice::detail::tsan_published(void* object) noexcept { __tsan_release(object); }
void sluice::detail::tsan_seen(void* object) noexcept { __tsan_acquire(object); }
#else
void sluice::detail::tsan_published(void*) noexcept {}
void sluice::detail::tsan_seen(void*) noexcept {}
#endif
