// The orders of the ETL example: the input file's format, a writer of realistic input (with
// malformed rows of several kinds), a lazy reader and the parser.
//
// The input is a CSV file with a header line and one order per line:
//   id,customer,country,amount,currency,placed_at
//   17,C00042,DE,129.90,EUR,2026-11-03T12:34:56Z
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>

#include <sluice/generator.hpp>

namespace etl {

// One line of the input and its 1-based line number in the file (the header is line 1).
// It has a constructor, which makes `co_yield input_line{n, text}` safe with g++ 12 (see
// sluice/generator.hpp: that compiler destroys the members of a braced aggregate twice).
struct input_line {
  input_line(std::uint64_t line_number, std::string line_text)
      : number(line_number), text(std::move(line_text)) {}
  std::uint64_t number;
  std::string text;
  friend std::ostream& operator<<(std::ostream& out, const input_line& line) {
    return out << "line " << line.number << ": " << line.text;
  }
};

struct order {
  std::uint64_t id = 0;
  std::string customer{};
  std::string country{};  // ISO 3166 alpha-2
  std::int64_t amount_cents = 0;
  std::string currency{};
  std::string placed_at{};  // ISO 8601, UTC
  friend std::ostream& operator<<(std::ostream& out, const order& o) {
    return out << "order " << o.id << " of " << o.customer;
  }
};

// A row that cannot be an order; what() says which line and why.
class bad_row : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct written_input {
  std::uint64_t rows = 0;       // order lines written (the header not counted)
  std::uint64_t malformed = 0;  // of them, lines parse_order refuses
};

// Writes `rows` orders to `path`, about 2% of them malformed (a missing field, an amount that is
// no number or negative, an unknown country, an empty customer, a bad timestamp), drawn from
// `seed`: the same arguments give the same file. Throws std::runtime_error when it cannot.
written_input write_orders(const std::filesystem::path& path, std::uint64_t rows,
                           std::uint64_t seed);

// The lines of `path` after its header, read as they are pulled. Throws std::runtime_error
// naming the file when it cannot be opened or its header is not the orders header.
sluice::generator<input_line> read_lines(std::filesystem::path path);

// The order on `line`; throws bad_row ("line 12: amount \"12,5\" is not a number") otherwise.
order parse_order(const input_line& line);

// The region an order's country belongs to: "eu", "na" (North America) or "other".
std::string region_of(const std::string& country);

}  // namespace etl
