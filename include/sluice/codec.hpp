// This header defines sluice::codec<T>, how a value becomes bytes and back: for worker processes
// (sluice::process) and for the persistent cache (cache_policy::directory). It also defines
// sluice::writer and sluice::reader, which codecs write to and read from, the concept
// sluice::has_codec, and the helpers sluice::encode and sluice::decode.
//
// Built in: arithmetic types, enums with a fixed underlying type, std::string, std::vector,
// std::optional, std::pair, std::tuple and std::map, nested freely. A user type opts in by
// specialising sluice::codec:
//
//   template <> struct sluice::codec<point> {
//     static void encode(const point& p, sluice::writer& w) { w.write(p.x); w.write(p.y); }
//     static point decode(sluice::reader& r) { return {r.read<double>(), r.read<double>()}; }
//   };
//
// The layout is fixed: numbers are little-endian and as wide as the type (long double is copied
// as the platform stores it); bool and the std::optional tag are one byte (0 or 1); lengths and
// element counts are uint64 prefixes. Containers assume that every element takes at least one
// byte, so an element type whose encoding can be empty (std::tuple<>) cannot be put in a
// container.
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/errors.hpp>

namespace sluice {

class writer;
class reader;

namespace detail {

// An enum with a fixed underlying type: every scoped enum (`enum class e`, int unless given), and
// an unscoped one declared with one (`enum e : int`). Every value of the underlying type is then
// a value of the enum. The test: direct-list-initialization from the underlying type is valid
// only for such an enum.
template <class T>
concept fixed_enum = std::is_enum_v<T> && requires(std::underlying_type_t<T> value) {
  T{value};
};

// An enum without a fixed underlying type (`enum e { a, b }`). Its values are only those of the
// smallest bit-field that holds all its enumerators; forming any other is undefined behaviour.
// C++20 cannot list the enumerators, so a decoder could not tell a valid value from an invalid
// one: such an enum has no codec.
template <class T>
concept unfixed_enum = std::is_enum_v<T> && !fixed_enum<T>;

}  // namespace detail

// Specialise to give T a codec: `static void encode(const T&, sluice::writer&)` and
// `static T decode(sluice::reader&)`. The primary template is empty: T has no codec.
template <class T>
struct codec {};

// T has a codec: the following expressions must be valid, for `const T& t`, `writer& w` and
// `reader& r`: `codec<T>::encode(t, w)` and `codec<T>::decode(r)`, which returns a T.
template <class T>
concept has_codec = requires(const T& t, writer& w, reader& r) {
  codec<T>::encode(t, w);
  { codec<T>::decode(r) } -> std::same_as<T>;
};

namespace detail {

// The compile error of writer::write<T> and reader::read<T> when T has no codec: one sentence,
// for an enum without a fixed underlying type or for any other type.
template <class T>
constexpr void check_codec() {
  static_assert(!unfixed_enum<T>,
                "sluice: an enum without a fixed underlying type has no sluice::codec: its "
                "valid values depend on its enumerators, which a codec cannot see, so a decoded "
                "value could not be checked; declare it with one (enum class E, or enum E : int)");
  static_assert(has_codec<T> || unfixed_enum<T>,
                "sluice: no sluice::codec<T> for this type; specialise "
                "sluice::codec<T> with encode(const T&, sluice::writer&) and "
                "decode(sluice::reader&) (an enum, also one inside a container, needs a fixed "
                "underlying type: enum class E, or enum E : int)");
}

}  // namespace detail

// Appends encoded values to a std::string.
//
// Example:
//   std::string bytes;
//   sluice::writer w{bytes};
//   w.write(42); w.write(std::string{"x"});
// Thread safety: one writer per thread.
// Lifetime: the string must outlive the writer.
class writer {
 public:
  explicit writer(std::string& out) noexcept : out_(&out) {}

  // Appends `value` through sluice::codec<T>. A type without a codec is a compile error.
  template <class T>
  void write(const T& value) {
    detail::check_codec<T>();
    if constexpr (has_codec<T>) codec<T>::encode(value, *this);
  }

  // Appends `bytes` as they are, with no length prefix.
  void write_bytes(std::string_view bytes) { out_->append(bytes); }

  // The bytes written so far, those that were in the string before included.
  std::size_t size() const noexcept { return out_->size(); }

 private:
  std::string* out_;
};

// Reads encoded values from bytes.
//
// Example:
//   sluice::reader r{bytes};
//   int n = r.read<int>();
// Exceptions: reading past the end, or bytes that no value encodes to (a bool of 7), throws
// sluice::codec_error naming what was being read; never undefined behaviour.
// Lifetime: the bytes must outlive the reader.
class reader {
 public:
  explicit reader(std::string_view bytes) noexcept : bytes_(bytes) {}

  // Reads a T through sluice::codec<T>. A type without a codec is a compile error.
  template <class T>
  T read() {
    detail::check_codec<T>();
    if constexpr (has_codec<T>) {
      return codec<T>::decode(*this);
    } else {
      std::abort();  // not reached: the static_assert above has already stopped the build
    }
  }

  // The next `n` bytes; `what` names them in the error when fewer are left.
  std::string_view read_bytes(std::size_t n, const char* what = "raw bytes") {
    if (n > remaining()) fail_truncated(n, what);
    std::string_view out = bytes_.substr(position_, n);
    position_ += n;
    return out;
  }

  // A uint64 length or count prefix, checked against the bytes left (each element takes at
  // least one byte), so that corrupt input cannot ask for a huge allocation.
  std::size_t read_length(const char* what) {
    const std::uint64_t n = read<std::uint64_t>();
    if (n > remaining()) fail_length(n, what);
    return static_cast<std::size_t>(n);
  }

  std::size_t remaining() const noexcept { return bytes_.size() - position_; }
  std::size_t position() const noexcept { return position_; }

  // Throws codec_error saying that the bytes at the current position are not a valid `what`.
  [[noreturn]] void fail_corrupt(const std::string& what) const;

 private:
  // The errors, thrown from the library (lib/codec.cpp).
  [[noreturn]] void fail_truncated(std::size_t n, const char* what) const;
  [[noreturn]] void fail_length(std::uint64_t n, const char* what) const;

  std::string_view bytes_;
  std::size_t position_ = 0;
};

namespace detail {

template <class T>
constexpr const char* number_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "a bool";
  else if constexpr (std::is_floating_point_v<T>)
    return "a floating-point number";
  else if constexpr (std::is_signed_v<T>)
    return "a signed integer";
  else
    return "an unsigned integer";
}

// Fixed-width little-endian bytes of an integer (an unsigned type of the same width).
template <class U>
void write_little_endian(U bits, writer& w) {
  char bytes[sizeof(U)];
  if constexpr (std::endian::native == std::endian::little || sizeof(U) == 1) {
    std::memcpy(bytes, &bits, sizeof(U));
  } else {
    for (std::size_t i = 0; i < sizeof(U); ++i) bytes[i] = static_cast<char>(bits >> (8 * i));
  }
  w.write_bytes(std::string_view{bytes, sizeof(U)});
}

template <class U>
U read_little_endian(reader& r, const char* what) {
  const std::string_view bytes = r.read_bytes(sizeof(U), what);
  U bits{};
  if constexpr (std::endian::native == std::endian::little || sizeof(U) == 1) {
    std::memcpy(&bits, bytes.data(), sizeof(U));
  } else {
    for (std::size_t i = 0; i < sizeof(U); ++i) {
      bits |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(bytes[i])) << (8 * i));
    }
  }
  return bits;
}

template <std::size_t Size>
using unsigned_of_size = std::conditional_t<
    Size == 1, std::uint8_t,
    std::conditional_t<Size == 2, std::uint16_t,
                       std::conditional_t<Size == 4, std::uint32_t, std::uint64_t>>>;

}  // namespace detail

// Arithmetic types: little-endian, as wide as the type; bool is one byte, 0 or 1; a type wider
// than 8 bytes (long double) is copied as the platform stores it.
template <class T>
requires std::is_arithmetic_v<T>
struct codec<T> {
  static void encode(const T& value, writer& w) {
    if constexpr (std::is_same_v<T, bool>) {
      detail::write_little_endian(static_cast<std::uint8_t>(value ? 1 : 0), w);
    } else if constexpr (sizeof(T) > 8) {  // long double: as the platform stores it
      w.write_bytes(std::string_view{reinterpret_cast<const char*>(&value), sizeof(T)});
    } else {
      detail::write_little_endian(std::bit_cast<detail::unsigned_of_size<sizeof(T)>>(value), w);
    }
  }
  static T decode(reader& r) {
    if constexpr (std::is_same_v<T, bool>) {
      const auto byte = detail::read_little_endian<std::uint8_t>(r, "a bool");
      if (byte > 1) r.fail_corrupt("a bool is " + std::to_string(byte) + ", not 0 or 1");
      return byte == 1;
    } else if constexpr (sizeof(T) > 8) {
      T value{};
      std::memcpy(&value, r.read_bytes(sizeof(T), detail::number_name<T>()).data(), sizeof(T));
      return value;
    } else {
      using bits = detail::unsigned_of_size<sizeof(T)>;
      return std::bit_cast<T>(detail::read_little_endian<bits>(r, detail::number_name<T>()));
    }
  }
};

// Enums with a fixed underlying type: as that type, so every value decodes to a valid one. An
// enum without a fixed underlying type (`enum e { a, b }`) has no codec, and encoding or decoding
// one is a compile error that says so: give it one (`enum class e`, or `enum e : int`).
template <class T>
requires detail::fixed_enum<T>
struct codec<T> {
  using underlying = std::underlying_type_t<T>;
  static void encode(const T& value, writer& w) { w.write(static_cast<underlying>(value)); }
  static T decode(reader& r) { return static_cast<T>(r.read<underlying>()); }
};

// std::string: a uint64 length, then the bytes.
template <>
struct codec<std::string> {
  static void encode(const std::string& s, writer& w) {
    w.write(static_cast<std::uint64_t>(s.size()));
    w.write_bytes(s);
  }
  static std::string decode(reader& r) {
    const std::size_t n = r.read_length("a std::string");
    return std::string{r.read_bytes(n, "the bytes of a std::string")};
  }
};

// std::vector<T>: a uint64 count, then the elements.
template <class T, class Allocator>
requires has_codec<T>
struct codec<std::vector<T, Allocator>> {
  static void encode(const std::vector<T, Allocator>& v, writer& w) {
    w.write(static_cast<std::uint64_t>(v.size()));
    for (const T& x : v) w.write(x);
  }
  static std::vector<T, Allocator> decode(reader& r) {
    const std::size_t n = r.read_length("a std::vector");
    std::vector<T, Allocator> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) v.push_back(r.read<T>());
    return v;
  }
};

// std::optional<T>: a one-byte tag (0 empty, 1 engaged), then the value when engaged.
template <class T>
requires has_codec<T>
struct codec<std::optional<T>> {
  static void encode(const std::optional<T>& o, writer& w) {
    w.write(o.has_value());
    if (o) w.write(*o);
  }
  static std::optional<T> decode(reader& r) {
    if (!r.read<bool>()) return std::nullopt;
    return std::optional<T>{r.read<T>()};
  }
};

// std::pair: first, then second.
template <class A, class B>
requires has_codec<A> && has_codec<B>
struct codec<std::pair<A, B>> {
  static void encode(const std::pair<A, B>& p, writer& w) {
    w.write(p.first);
    w.write(p.second);
  }
  static std::pair<A, B> decode(reader& r) {
    A first = r.read<A>();
    return std::pair<A, B>{std::move(first), r.read<B>()};
  }
};

// std::tuple: the elements in order.
template <class... Ts>
requires(has_codec<Ts>&&...) struct codec<std::tuple<Ts...>> {
  static void encode(const std::tuple<Ts...>& t, writer& w) {
    std::apply([&](const Ts&... xs) { (w.write(xs), ...); }, t);
  }
  static std::tuple<Ts...> decode(reader& r) {
    return std::tuple<Ts...>{r.read<Ts>()...};  // braced: read left to right
  }
};

// std::map: a uint64 count, then the (key, value) pairs in key order. Decoding input whose keys
// are not strictly increasing throws codec_error.
template <class K, class V, class Compare, class Allocator>
requires has_codec<K> && has_codec<V>
struct codec<std::map<K, V, Compare, Allocator>> {
  using map_type = std::map<K, V, Compare, Allocator>;
  static void encode(const map_type& m, writer& w) {
    w.write(static_cast<std::uint64_t>(m.size()));
    for (const auto& [k, v] : m) {
      w.write(k);
      w.write(v);
    }
  }
  static map_type decode(reader& r) {
    const std::size_t n = r.read_length("a std::map");
    map_type m;
    for (std::size_t i = 0; i < n; ++i) {
      K key = r.read<K>();
      if (!m.empty() && !m.key_comp()(std::prev(m.end())->first, key)) {
        r.fail_corrupt("the keys of a std::map are not in increasing order");
      }
      V value = r.read<V>();
      m.emplace_hint(m.end(), std::move(key), std::move(value));
    }
    return m;
  }
};

// The bytes of `value`.
//
// Example:
//   std::string bytes = sluice::encode(std::map<std::string, int>{{"a", 1}});
template <class T>
std::string encode(const T& value) {
  std::string out;
  writer w{out};
  w.write(value);
  return out;
}

// The T that `bytes` encode.
//
// Example:
//   auto m = sluice::decode<std::map<std::string, int>>(bytes);
// Exceptions: sluice::codec_error when the bytes are truncated or corrupt, or when bytes are
// left over after the value.
template <class T>
T decode(std::string_view bytes) {
  reader r{bytes};
  T value = r.read<T>();
  if (r.remaining() != 0) {
    throw codec_error("sluice: corrupt input: " + std::to_string(r.remaining()) +
                      " bytes are left over after the value (which ends at byte " +
                      std::to_string(r.position()) + ")");
  }
  return value;
}

}  // namespace sluice
