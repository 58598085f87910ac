// Internal: the trailing std::stop_token a wrapper's caller may pass (retry, rate_limited,
// cached, resilient pass it on to the wrapped callable and end their waits when it is stopped).
#pragma once

#include <cstddef>
#include <stop_token>
#include <tuple>
#include <type_traits>

namespace sluice::detail {

// Whether the last of Args is a std::stop_token (any cv-ref form).
template <class... Args>
inline constexpr bool ends_with_stop_token = false;
template <class First, class... Rest>
inline constexpr bool ends_with_stop_token<First, Rest...> = std::is_same_v<
    std::remove_cvref_t<std::tuple_element_t<sizeof...(Rest), std::tuple<First, Rest...>>>,
    std::stop_token>;

// The last argument when it is a std::stop_token, else a token that is never stopped.
template <class... Args>
std::stop_token stop_token_of(const Args&... args) {
  if constexpr (ends_with_stop_token<Args...>) {
    return std::get<sizeof...(Args) - 1>(std::tie(args...));
  } else {
    return {};
  }
}

}  // namespace sluice::detail
