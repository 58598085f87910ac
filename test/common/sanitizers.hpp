// This header tells tests whether they run under a sanitizer, so that they can use smaller
// workloads there (the sanitizer builds run the same suite several times slower).
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLUICE_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLUICE_TEST_UNDER_SANITIZER 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define SLUICE_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLUICE_TEST_UNDER_TSAN 1
#endif
#endif

#ifdef SLUICE_TEST_UNDER_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

namespace sluice_test {

// Whether this binary was built with AddressSanitizer or ThreadSanitizer.
constexpr bool under_sanitizer() {
#ifdef SLUICE_TEST_UNDER_SANITIZER
  return true;
#else
  return false;
#endif
}

// Whether this binary was built with ThreadSanitizer.
constexpr bool under_thread_sanitizer() {
#ifdef SLUICE_TEST_UNDER_TSAN
  return true;
#else
  return false;
#endif
}

// `normal` in a plain build, `sanitized` under a sanitizer.
template <class Int>
constexpr Int scaled(Int normal, Int sanitized) {
  return under_sanitizer() ? sanitized : normal;
}

// Starts the sanitizer's symbolizer now when it runs one as a child process: clang's runtimes
// start llvm-symbolizer, talking to it over two pipes, the first time they symbolize a stack
// (to match a suppression, say). A test that counts this process's descriptors or children
// calls this before it takes its baseline, so that they are not counted as leaks.
inline void start_symbolizer() {
#ifdef SLUICE_TEST_UNDER_SANITIZER
  char text[128];
  __sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", text, sizeof text);
#endif
}

}  // namespace sluice_test
