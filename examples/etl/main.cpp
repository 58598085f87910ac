// sluice's flagship: an ETL run that loads a real SQLite database.
//
//   example_etl [--rows N] [--input FILE] [--db FILE] [--dead-letters FILE] [--seed S]
//               [--latency-us US] [--reuse-input]
//
// It writes N orders (default 1,000,000) to FILE (default build/etl/orders.csv), about 2% of
// them malformed, then reads them lazily, parses them (a bad row goes to the dead-letter file
// with its reason, and the run goes on), looks up each order's customer through a slow, flaky
// remote service (per-task retry, rate limit, and a cache keyed by customer), routes the orders
// by region to compute their tax, batches them and loads them into the database (default
// build/etl/orders.db, one transaction per batch, one writer). The first Ctrl-C drains the run:
// no new row is read, every row already read is loaded or dead-lettered; a second one cancels.
// It ends with: rows loaded + dead letters = rows read. --latency-us sets how long one call to
// the customer service takes (default 2000); --reuse-input reads FILE as it is when it exists.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <sluice/sluice.hpp>

#include "orders.hpp"
#include "remote.hpp"
#include "store.hpp"
#include "text.hpp"

using namespace std::chrono_literals;

namespace {

struct settings {
  std::uint64_t rows = 1'000'000;
  std::filesystem::path input = "build/etl/orders.csv";
  std::filesystem::path db = "build/etl/orders.db";
  std::filesystem::path dead = "build/etl/dead_letters.csv";
  std::uint64_t seed = 2026;
  std::uint64_t latency_us = 2'000;  // of one call to the customer service
  bool reuse_input = false;
};

settings parse_arguments(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--reuse-input") {
      s.reuse_input = true;
      continue;
    }
    if (i + 1 == argc) throw std::invalid_argument(etl::cat(flag, " needs a value"));
    const std::string_view value = argv[++i];
    const auto number = [&] {
      std::uint64_t n = 0;
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (error != std::errc{} || end != value.data() + value.size()) {
        throw std::invalid_argument(etl::cat(flag, " wants a number, not ", value));
      }
      return n;
    };
    if (flag == "--rows") s.rows = number();
    else if (flag == "--seed") s.seed = number();
    else if (flag == "--latency-us") s.latency_us = number();
    else if (flag == "--input") s.input = value;
    else if (flag == "--db") s.db = value;
    else if (flag == "--dead-letters") s.dead = value;
    else throw std::invalid_argument(etl::cat("unknown option ", flag));
  }
  return s;
}

// Taxes per region: each route branch is a task of its own.
etl::loaded_order eu_vat(etl::loaded_order o) {
  o.tax_cents = o.placed.amount_cents * (o.placed.country == "DE" ? 19 : 21) / 100;
  return o;
}
etl::loaded_order na_sales_tax(etl::loaded_order o) {
  o.tax_cents = o.placed.amount_cents * 7 / 100;
  return o;
}
etl::loaded_order untaxed(etl::loaded_order o) { return o; }

int run(const settings& s) {
  std::optional<std::uint64_t> rows_in_input;  // known when this run writes the input
  if (!s.reuse_input || !std::filesystem::exists(s.input)) {
    const etl::written_input written = etl::write_orders(s.input, s.rows, s.seed);
    rows_in_input = written.rows;
    std::fprintf(stderr, "wrote %llu orders (%llu malformed) to %s\n",
                 static_cast<unsigned long long>(written.rows),
                 static_cast<unsigned long long>(written.malformed), s.input.c_str());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(s.db.string() + suffix);
  }
  etl::order_store store(s.db);
  etl::dead_letters dead(s.dead);
  etl::customer_service service({.latency = std::chrono::microseconds(s.latency_us)});

  // An on_error handler: the item goes to the dead-letter file, the run goes on.
  const auto dead_letter = [&dead](std::string_view stage) {
    return [&dead, stage](const sluice::failure& f) {
      dead.add(stage, sluice::message(f.error), f.input_text);
    };
  };
  const auto lookup = [&service](const etl::order& o) { return service.lookup(o.customer); };
  const auto with_profile = [](std::tuple<etl::order, etl::customer_profile> both) {
    auto& [placed, customer] = both;
    etl::loaded_order o{std::move(placed), std::move(customer), {}, 0};
    o.region = etl::region_of(o.placed.country);
    return o;
  };
  const auto by_region = [](const etl::loaded_order& o) {
    return o.region == "eu" ? 0 : o.region == "na" ? 1 : 2;
  };

  auto etl_run =
      sluice::task(etl::read_lines, sluice::branch, {.name = "read"})
    | sluice::task(etl::parse_order, {.name = "parse", .concurrency = 2,
                                      .on_error = dead_letter("parse")})
    | sluice::zip(sluice::task([](etl::order o) { return o; }, {.name = "order"}),
                  sluice::task(lookup, {.name = "customer", .concurrency = 16,
                                        .retry = sluice::retry_policy{
                                            .max_attempts = 4, .min_delay = 2ms,
                                            .max_delay = 50ms,
                                            .retry_if = sluice::retry_on<etl::remote_unavailable>()},
                                        .rate = sluice::rate_limit{.per_second = 4'000, .burst = 64},
                                        .cache = sluice::cache_policy{.ttl = 10min},
                                        .on_error = dead_letter("customer")})
                      .cache_key(&etl::order::customer))
    | sluice::task(with_profile, {.name = "enrich"})
    | sluice::route(by_region, sluice::task(eu_vat, {.name = "eu-vat"}),
                    sluice::task(na_sales_tax, {.name = "na-tax"}),
                    sluice::task(untaxed, {.name = "no-tax"}))
    | sluice::batch(2'000, 50ms);

  sluice::graceful_shutdown on_signal;  // Ctrl-C: the first drains, the second cancels
  auto batches = etl_run(s.input);
  on_signal.watch(batches);
  batches.show_progress({.total = rows_in_input, .label = "rows", .count_task = "read"});
  sluice::stats_board board{batches, {.final_off_terminal = true}};  // live on a terminal
  for (const std::vector<etl::loaded_order>& batch : batches) store.insert(batch);
  board.stop();
  const std::uint64_t read = batches.stats().front().items_out;
  std::printf("%s: %llu rows read, %llu loaded into %s, %llu dead letters in %s\n",
              batches.drained() ? "drained" : "done", static_cast<unsigned long long>(read),
              static_cast<unsigned long long>(store.inserted()), s.db.c_str(),
              static_cast<unsigned long long>(dead.count()), s.dead.c_str());
  for (const sluice::task_stats& task : batches.stats()) {
    if (task.name != "customer") continue;
    std::printf("customer lookups: %llu, %llu calls to the service (the rest were cache hits), "
                "%llu retried\n",
                static_cast<unsigned long long>(task.items_in),
                static_cast<unsigned long long>(service.calls()),
                static_cast<unsigned long long>(task.retried));
  }
  const bool balanced = store.inserted() + dead.count() == read;
  std::printf("rows loaded + dead letters %s rows read\n", balanced ? "=" : "!=");
  return balanced ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_arguments(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_etl: %s\n", e.what());
    return 2;
  }
}
