#include "orders.hpp"

#include "text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <random>
#include <string_view>
#include <vector>


namespace etl {
namespace {

constexpr std::string_view kHeader = "id,customer,country,amount,currency,placed_at";
constexpr std::array<std::string_view, 12> kCountries = {"DE", "FR", "ES", "IT", "NL", "PL",
                                                          "US", "CA", "GB", "JP", "BR", "AU"};
constexpr std::uint64_t kCustomers = 5'000;

std::string currency_of(std::string_view country) {
  if (region_of(std::string(country)) == "eu") return "EUR";
  if (country == "GB") return "GBP";
  if (country == "JP") return "JPY";
  return "USD";
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma - start));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

[[noreturn]] void refuse(const input_line& line, std::string_view why) {
  throw bad_row(cat("line ", line.number, ": ", why));
}

std::string quoted(std::string_view text) { return cat("\"", text, "\""); }

// Digits, an optional point and at most two decimals: "129.90" -> 12990.
bool parse_cents(std::string_view text, std::int64_t& cents) {
  const std::size_t point = text.find('.');
  const std::string_view whole = text.substr(0, point);
  const std::string_view fraction =
      point == std::string_view::npos ? std::string_view{} : text.substr(point + 1);
  if (whole.empty() || fraction.size() > 2) return false;
  std::int64_t units = 0;
  auto [end, error] = std::from_chars(whole.data(), whole.data() + whole.size(), units);
  if (error != std::errc{} || end != whole.data() + whole.size()) return false;
  std::int64_t hundredths = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    const char digit = i < fraction.size() ? fraction[i] : '0';
    if (digit < '0' || digit > '9') return false;
    hundredths = hundredths * 10 + (digit - '0');
  }
  cents = units * 100 + (units < 0 || whole.starts_with('-') ? -hundredths : hundredths);
  return true;
}

// 2026-11-03T12:34:56Z
bool is_timestamp(std::string_view text) {
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd' ? (text[i] < '0' || text[i] > '9') : text[i] != shape[i]) return false;
  }
  return true;
}

}  // namespace

std::string region_of(const std::string& country) {
  static constexpr std::array<std::string_view, 6> eu = {"DE", "FR", "ES", "IT", "NL", "PL"};
  for (std::string_view member : eu) {
    if (country == member) return "eu";
  }
  return country == "US" || country == "CA" ? "na" : "other";
}

written_input write_orders(const std::filesystem::path& path, std::uint64_t rows,
                           std::uint64_t seed) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(cat("cannot write the input file ", path.string()));
  out << kHeader << '\n';
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<std::uint64_t> customer(1, kCustomers);
  std::uniform_int_distribution<std::size_t> country(0, kCountries.size() - 1);
  std::uniform_int_distribution<int> cents(100, 500'000);
  std::uniform_int_distribution<int> day(1, 28), hour(0, 23), minute(0, 59);
  std::uniform_int_distribution<int> percent(0, 99), defect(0, 5);
  written_input written;
  char line[160];
  for (std::uint64_t id = 1; id <= rows; ++id) {
    const std::string_view where = kCountries[country(random)];
    const int amount = cents(random);
    std::snprintf(line, sizeof line, "%llu,C%05llu,%.*s,%d.%02d,%s,2026-11-%02dT%02d:%02d:00Z",
                  static_cast<unsigned long long>(id),
                  static_cast<unsigned long long>(customer(random)),
                  static_cast<int>(where.size()), where.data(), amount / 100, amount % 100,
                  currency_of(where).c_str(), day(random), hour(random), minute(random));
    std::string text = line;
    if (percent(random) < 2) {
      ++written.malformed;
      std::vector<std::string_view> fields = split(text);
      std::string broken;
      switch (defect(random)) {
        case 0: broken = text.substr(0, text.rfind(',')); break;  // a field missing
        case 1: fields[3] = "12,5"; break;                         // a decimal comma
        case 2: fields[3] = "-3.00"; break;                        // negative
        case 3: fields[2] = "XX"; break;                           // no such country
        case 4: fields[1] = ""; break;                             // no customer
        default: fields[5] = "03/11/2026"; break;                  // not ISO 8601
      }
      if (broken.empty()) {
        for (std::size_t i = 0; i < fields.size(); ++i) {
          if (i != 0) broken += ',';
          broken += fields[i];
        }
      }
      text = std::move(broken);
    }
    out << text << '\n';
    ++written.rows;
  }
  out.flush();
  if (!out) throw std::runtime_error(cat("cannot write the input file ", path.string()));
  return written;
}

sluice::generator<input_line> read_lines(std::filesystem::path path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(cat("cannot open the input file ", path.string()));
  std::string text;
  if (!std::getline(in, text) || text != kHeader) {
    throw std::runtime_error(
        cat(path.string(), " is not an orders file: its first line is not ", quoted(kHeader)));
  }
  for (std::uint64_t number = 2; std::getline(in, text); ++number) {
    co_yield input_line{number, std::move(text)};
  }
}

order parse_order(const input_line& line) {
  const std::vector<std::string_view> fields = split(line.text);
  if (fields.size() != 6) {
    refuse(line, cat("has ", fields.size(), " fields, not 6"));
  }
  order o;
  auto [end, error] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), o.id);
  if (error != std::errc{} || end != fields[0].data() + fields[0].size()) {
    refuse(line, cat("id ", quoted(fields[0]), " is not a number"));
  }
  if (fields[1].empty()) refuse(line, "has no customer");
  o.customer = fields[1];
  o.country = fields[2];
  if (std::find(kCountries.begin(), kCountries.end(), fields[2]) == kCountries.end()) {
    refuse(line, cat("country ", quoted(fields[2]), " is unknown"));
  }
  if (!parse_cents(fields[3], o.amount_cents)) {
    refuse(line, cat("amount ", quoted(fields[3]), " is not a number"));
  }
  if (o.amount_cents < 0) refuse(line, cat("amount ", quoted(fields[3]), " is negative"));
  o.currency = fields[4];
  if (!is_timestamp(fields[5])) {
    refuse(line, cat("placed_at ", quoted(fields[5]), " is not an ISO 8601 UTC time"));
  }
  o.placed_at = fields[5];
  return o;
}

}  // namespace etl
