// Tests of sluice::codec: every built-in codec round-trips, the layout is the documented one, a
// user type opts in by specialising sluice::codec, and truncated or corrupt bytes throw
// sluice::codec_error instead of reading past the end or allocating what a corrupt length asks.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/codec.hpp>

using namespace std::string_literals;

namespace {

enum class colour : std::int16_t { red = -3, green = 7 };
enum class scoped_default { off, on };  // fixed: int
enum plain_enum : std::int32_t { first_value, second_value = 40'000 };
enum small_fixed : std::uint8_t { small_low = 1, small_high = 2 };
enum unfixed_enum { unfixed_a, unfixed_b };  // values: 0 and 1 only ([dcl.enum]/8)

struct point {
  double x = 0;
  double y = 0;
  bool operator==(const point&) const = default;
};

struct no_codec {};

using nested = std::map<std::string, std::vector<std::optional<std::pair<int, double>>>>;

nested sample_nested() {
  return {{"", {}},
          {"a", {std::nullopt, std::pair{1, 2.5}}},
          {"b\0c"s,
           {std::pair{-7, -0.0}, std::nullopt, std::pair{std::numeric_limits<int>::min(), 1e300}}}};
}

template <class T>
T round_trip(const T& value) {
  return sluice::decode<T>(sluice::encode(value));
}

// A uint64 length prefix as the codec writes it, for building corrupt input by hand.
std::string length_prefix(std::uint64_t n) { return sluice::encode(n); }

}  // namespace

template <>
struct sluice::codec<point> {
  static void encode(const point& p, sluice::writer& w) {
    w.write(p.x);
    w.write(p.y);
  }
  static point decode(sluice::reader& r) { return {r.read<double>(), r.read<double>()}; }
};

static_assert(sluice::has_codec<int>);
static_assert(sluice::has_codec<point>);
static_assert(sluice::has_codec<std::vector<point>>);
static_assert(sluice::has_codec<nested>);
static_assert(!sluice::has_codec<no_codec>);
static_assert(!sluice::has_codec<std::vector<no_codec>>);
static_assert(!sluice::has_codec<std::tuple<int, no_codec>>);
static_assert(!sluice::has_codec<std::map<std::string, no_codec>>);
static_assert(sluice::has_codec<colour>);
static_assert(sluice::has_codec<scoped_default>);
static_assert(sluice::has_codec<plain_enum>);

TEST_SUITE("codec") {
  TEST_CASE_TEMPLATE("every arithmetic type round-trips its extremes", T, bool, char, signed char,
                     unsigned char, char8_t, char16_t, char32_t, wchar_t, short, unsigned short,
                     int, unsigned, long, unsigned long, long long, unsigned long long, float,
                     double, long double) {
    for (T value : {std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max(), T{},
                    static_cast<T>(1)}) {
      CHECK(round_trip(value) == value);
      CHECK(sluice::encode(value).size() == sizeof(T));
    }
  }

  TEST_CASE("floating-point values keep their bits: negative zero, infinity and NaN") {
    CHECK(std::signbit(round_trip(-0.0)));
    CHECK(round_trip(std::numeric_limits<double>::infinity()) ==
          std::numeric_limits<double>::infinity());
    CHECK(std::isnan(round_trip(std::numeric_limits<float>::quiet_NaN())));
  }

  TEST_CASE("numbers are little-endian and lengths are uint64 prefixes") {
    CHECK(sluice::encode(std::uint32_t{0x01020304}) == "\x04\x03\x02\x01"s);
    CHECK(sluice::encode(std::int16_t{-2}) == "\xfe\xff"s);
    CHECK(sluice::encode("ab"s) == "\x02\0\0\0\0\0\0\0ab"s);
    CHECK(sluice::encode(std::optional<std::uint8_t>{9}) == "\x01\x09"s);
    CHECK(sluice::encode(std::optional<std::uint8_t>{}) == "\x00"s);
    CHECK(sluice::encode(colour::green) == sluice::encode(std::int16_t{7}));
  }

  TEST_CASE("enums, strings and the standard containers round-trip") {
    CHECK(round_trip(colour::red) == colour::red);
    CHECK(round_trip(second_value) == second_value);
    CHECK(round_trip(""s).empty());
    CHECK(round_trip("with\0nul and \xff bytes"s) == "with\0nul and \xff bytes"s);
    CHECK(round_trip(std::vector<int>{}).empty());
    CHECK(round_trip(std::vector<int>{1, -2, 3}) == std::vector<int>{1, -2, 3});
    CHECK(round_trip(std::vector<bool>{true, false, true}) == std::vector<bool>{true, false, true});
    CHECK(round_trip(std::vector<std::string>{"a", "", "ccc"}) ==
          std::vector<std::string>{"a", "", "ccc"});
    CHECK(round_trip(std::optional<std::string>{}) == std::nullopt);
    CHECK(round_trip(std::optional<std::string>{"x"}) == std::optional<std::string>{"x"});
    CHECK(round_trip(std::pair{"k"s, 2.5}) == std::pair{"k"s, 2.5});
    const std::tuple<int, std::string, double, colour> t{-1, "two", 3.0, colour::green};
    CHECK(round_trip(t) == t);
    CHECK(round_trip(std::tuple<>{}) == std::tuple<>{});
    const std::map<int, std::string> m{{3, "c"}, {1, "a"}, {2, ""}};
    CHECK(round_trip(m) == m);
  }

  TEST_CASE(
      "an enum has a codec only with a fixed underlying type, whose every value round-trips") {
    // Without one, the valid values depend on the enumerators, which a decoder cannot see:
    // decoding 2 into unfixed_enum (values 0 and 1) would be undefined behaviour.
    CHECK_FALSE(sluice::has_codec<unfixed_enum>);
    CHECK_FALSE(sluice::has_codec<std::vector<unfixed_enum>>);
    CHECK_FALSE(sluice::has_codec<std::tuple<int, unfixed_enum>>);
    CHECK(round_trip(scoped_default::on) == scoped_default::on);
    CHECK(sluice::encode(scoped_default::on) == sluice::encode(1));
    // With a fixed underlying type, every value of that type is a value of the enum.
    CHECK(round_trip(static_cast<small_fixed>(200)) == static_cast<small_fixed>(200));
    CHECK(round_trip(static_cast<colour>(-30'000)) == static_cast<colour>(-30'000));
    CHECK(sluice::decode<small_fixed>(sluice::encode(std::uint8_t{255})) ==
          static_cast<small_fixed>(255));
  }

  TEST_CASE("nested containers round-trip") {
    CHECK(round_trip(sample_nested()) == sample_nested());
    using row = std::tuple<std::map<int, int>, std::optional<std::vector<std::string>>>;
    const std::vector<row> v{row{{{1, 2}}, std::nullopt},
                             row{std::map<int, int>{}, std::vector<std::string>{"x", "y"}}};
    CHECK(round_trip(v) == v);
  }

  TEST_CASE("a user type opts in by specialising sluice::codec") {
    CHECK(round_trip(point{1.5, -2.0}) == point{1.5, -2.0});
    CHECK(sluice::encode(point{1.5, -2.0}) == sluice::encode(1.5) + sluice::encode(-2.0));
    const std::map<std::string, std::vector<point>> shapes{{"line", {{0, 0}, {1, 1}}}};
    CHECK(round_trip(shapes) == shapes);
  }

  TEST_CASE("a writer and a reader carry several values and raw bytes") {
    std::string bytes = "prefix";
    sluice::writer w{bytes};
    w.write(42);
    w.write_bytes("raw");
    w.write("text"s);
    CHECK(w.size() == bytes.size());

    sluice::reader r{bytes};
    CHECK(r.read_bytes(6) == "prefix");
    CHECK(r.read<int>() == 42);
    CHECK(r.read_bytes(3) == "raw");
    CHECK(r.read<std::string>() == "text");
    CHECK(r.remaining() == 0);
    CHECK_THROWS_AS(r.read<char>(), sluice::codec_error);
  }

  TEST_CASE("input cut at any point throws codec_error") {
    const std::string whole = sluice::encode(sample_nested());
    REQUIRE(whole.size() > 40);
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
      CAPTURE(cut);
      CHECK_THROWS_AS(sluice::decode<nested>(std::string_view{whole}.substr(0, cut)),
                      sluice::codec_error);
    }
    const std::string user = sluice::encode(std::vector<point>{{1, 2}, {3, 4}});
    for (std::size_t cut = 0; cut < user.size(); ++cut) {
      CAPTURE(cut);
      CHECK_THROWS_AS(sluice::decode<std::vector<point>>(std::string_view{user}.substr(0, cut)),
                      sluice::codec_error);
    }
  }

  TEST_CASE("a truncation error names what was being read") {
    const std::string bytes = sluice::encode("hello"s);
    CHECK_THROWS_WITH_AS(sluice::decode<std::string>(bytes.substr(0, 3)),
                         doctest::Contains("truncated"), sluice::codec_error);
    CHECK_THROWS_WITH_AS(sluice::decode<double>("abc"), doctest::Contains("floating-point"),
                         sluice::codec_error);
  }

  TEST_CASE("a corrupt length prefix throws codec_error instead of allocating") {
    const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() / 2;
    CHECK_THROWS_WITH_AS(sluice::decode<std::string>(length_prefix(huge) + "abc"),
                         doctest::Contains("std::string"), sluice::codec_error);
    CHECK_THROWS_WITH_AS(sluice::decode<std::vector<std::uint64_t>>(length_prefix(huge)),
                         doctest::Contains("std::vector"), sluice::codec_error);
    CHECK_THROWS_WITH_AS((sluice::decode<std::map<int, int>>(length_prefix(huge) + "12345678")),
                         doctest::Contains("std::map"), sluice::codec_error);
    // A length that fits the bytes left but not the elements it promises.
    CHECK_THROWS_AS(sluice::decode<std::vector<std::uint32_t>>(length_prefix(3) + "12345678"),
                    sluice::codec_error);
  }

  TEST_CASE("bytes that no value encodes to throw codec_error") {
    CHECK_THROWS_WITH_AS(sluice::decode<bool>("\x02"), doctest::Contains("bool"),
                         sluice::codec_error);
    CHECK_THROWS_AS(sluice::decode<std::optional<int>>("\x07"
                                                       "1234"),
                    sluice::codec_error);
    std::string unsorted;
    sluice::writer w{unsorted};
    w.write(std::uint64_t{2});
    for (int key : {5, 1}) {
      w.write(key);
      w.write(key);
    }
    CHECK_THROWS_WITH_AS((sluice::decode<std::map<int, int>>(unsorted)),
                         doctest::Contains("increasing"), sluice::codec_error);
  }

  TEST_CASE("decode throws codec_error when bytes are left over") {
    CHECK(sluice::decode<int>(sluice::encode(5)) == 5);
    CHECK_THROWS_WITH_AS(sluice::decode<int>(sluice::encode(5) + "x"),
                         doctest::Contains("left over"), sluice::codec_error);
    CHECK_THROWS_AS(sluice::decode<std::string>(sluice::encode("ab"s) + sluice::encode("cd"s)),
                    sluice::codec_error);
  }
}
