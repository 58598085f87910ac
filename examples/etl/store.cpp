#include "store.hpp"

#include "text.hpp"

#include <stdexcept>

#include <sqlite3.h>

namespace etl {

order_store::order_store(const std::filesystem::path& path) : path_(path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) fail("cannot open it");
  exec("PRAGMA journal_mode = WAL");
  exec("PRAGMA synchronous = NORMAL");
  exec(R"(CREATE TABLE IF NOT EXISTS orders (
            id INTEGER PRIMARY KEY, customer TEXT NOT NULL, segment TEXT NOT NULL,
            risk INTEGER NOT NULL, country TEXT NOT NULL, region TEXT NOT NULL,
            amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, tax_cents INTEGER NOT NULL,
            placed_at TEXT NOT NULL))");
  const char* sql =
      "INSERT INTO orders (id, customer, segment, risk, country, region, amount_cents, currency, "
      "tax_cents, placed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
      "ON CONFLICT (id) DO NOTHING";
  if (sqlite3_prepare_v2(db_, sql, -1, &insert_, nullptr) != SQLITE_OK) fail("cannot prepare");
}

order_store::~order_store() {
  sqlite3_finalize(insert_);
  sqlite3_close(db_);
}

void order_store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string what = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    fail(what);
  }
}

void order_store::fail(std::string_view what) {
  throw std::runtime_error(cat("SQLite database ", path_.string(), ": ", what,
                               db_ != nullptr ? cat(" (", sqlite3_errmsg(db_), ")") : ""));
}

void order_store::insert(const std::vector<loaded_order>& batch) {
  exec("BEGIN");
  std::uint64_t added = 0;
  for (const loaded_order& row : batch) {
    const auto text = [&](int column, const std::string& value) {
      sqlite3_bind_text(insert_, column, value.data(), static_cast<int>(value.size()),
                        SQLITE_STATIC);
    };
    sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(row.placed.id));
    text(2, row.placed.customer);
    text(3, row.customer.segment);
    sqlite3_bind_int(insert_, 4, row.customer.risk);
    text(5, row.placed.country);
    text(6, row.region);
    sqlite3_bind_int64(insert_, 7, row.placed.amount_cents);
    text(8, row.placed.currency);
    sqlite3_bind_int64(insert_, 9, row.tax_cents);
    text(10, row.placed.placed_at);
    const int step = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    if (step != SQLITE_DONE) {
      const std::string what = sqlite3_errmsg(db_);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      fail(cat("cannot insert order ", row.placed.id, ": ", what));
    }
    added += static_cast<std::uint64_t>(sqlite3_changes(db_));
  }
  exec("COMMIT");
  inserted_ += added;
}

dead_letters::dead_letters(const std::filesystem::path& path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  out_.open(path, std::ios::trunc);
  if (!out_) throw std::runtime_error(cat("cannot write ", path.string()));
  out_ << "stage,reason,item\n";
}

void dead_letters::add(std::string_view stage, std::string_view reason, std::string_view item) {
  const auto csv = [](std::string_view field) {
    std::string quoted = "\"";
    for (char c : field) quoted += c == '"' ? std::string_view("\"\"") : std::string_view(&c, 1);
    return quoted += '"';
  };
  std::lock_guard lock(mu_);
  out_ << stage << ',' << csv(reason) << ',' << csv(item) << '\n';
  out_.flush();
  ++count_;
}

std::uint64_t dead_letters::count() const {
  std::lock_guard lock(mu_);
  return count_;
}

}  // namespace etl
