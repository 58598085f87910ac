// Where the ETL example's rows end: a SQLite database (one writer, one transaction per batch)
// and a dead-letter file for the rows that could not be loaded, each with its reason.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "orders.hpp"
#include "remote.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace etl {

// An order ready to load: the order, its customer's profile, its region and its tax.
struct loaded_order {
  order placed{};
  customer_profile customer{};
  std::string region{};
  std::int64_t tax_cents = 0;
};

// The `orders` table of a SQLite database file, created when missing (a file that exists is
// reused: rows with an id already there are left as they are, so a second load of the same input
// changes nothing).
// Thread safety: one writer; insert() is called from one thread at a time.
class order_store {
 public:
  explicit order_store(const std::filesystem::path& path);
  ~order_store();
  order_store(const order_store&) = delete;
  order_store& operator=(const order_store&) = delete;

  // Inserts every order of `batch` in one transaction. Throws std::runtime_error with SQLite's
  // message (the transaction rolled back) when it cannot.
  void insert(const std::vector<loaded_order>& batch);

  std::uint64_t inserted() const noexcept { return inserted_; }

 private:
  void exec(const char* sql);
  [[noreturn]] void fail(std::string_view what);

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  std::uint64_t inserted_ = 0;
};

// A CSV file of the rows that were not loaded: line, stage, reason, the row or item.
// Thread safety: add() may be called from many threads at once (on_error handlers run on the
// workers of their task).
class dead_letters {
 public:
  explicit dead_letters(const std::filesystem::path& path);
  void add(std::string_view stage, std::string_view reason, std::string_view item);
  std::uint64_t count() const;

 private:
  mutable std::mutex mu_;
  std::ofstream out_;
  std::uint64_t count_ = 0;
};

}  // namespace etl
