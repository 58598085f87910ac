// Internal to lib/: tells ThreadSanitizer about a hand-off it cannot see, when the program is
// built with it. Defined in tsan_annotations.cpp, which is always compiled with the flags the
// rest of sluice gets: whether TSan is on is read there from the compiler (__SANITIZE_THREAD__,
// __has_feature(thread_sanitizer)), never from a build switch. Callers may be compiled without
// instrumentation (tbb_engine.cpp is, always) and still annotate. In other builds both do nothing.
// Thread-safe; never throw.
#pragma once

namespace sluice::detail {

// What the calling thread did before this call happens before what any thread does after a later
// tsan_seen(object).
void tsan_published(void* object) noexcept;
// See tsan_published.
void tsan_seen(void* object) noexcept;

}  // namespace sluice::detail
