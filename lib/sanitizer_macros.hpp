// Internal to lib/: which sanitizer instruments the file being compiled, read from the compiler
// (g++: __SANITIZE_THREAD__, __SANITIZE_ADDRESS__; clang: __has_feature), never from a build
// switch, so a project that adds sluice with its own -fsanitize flags gets the same code.
//   SLUICE_TSAN  defined when ThreadSanitizer is on
//   SLUICE_ASAN  defined when AddressSanitizer is on
#pragma once

#if defined(__SANITIZE_THREAD__)
#define SLUICE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLUICE_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_ASAN 1
#endif
#endif
