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

}  // namespace sluice_test
