// Shows sluice's DAG shapes in one ETL flow: fan_out, route, batch and zip.
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

struct Row {
  int id = 0;
  bool ok = true;
  std::string format;
};

std::vector<Row> read_rows(int n) {
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) rows.push_back({i, i % 5 != 0, ""});
  return rows;
}
Row to_json(Row r) { r.format = "json"; return r; }
Row to_csv(Row r) { r.format = "csv"; return r; }
Row load(Row r) { return r; }
Row quarantine(Row r) { r.format += "+quarantined"; return r; }

std::mutex inserted_mutex;
std::vector<Row> inserted;
std::size_t batches = 0;
void bulk_insert(std::vector<Row> rows) {
  std::lock_guard lock(inserted_mutex);
  ++batches;
  inserted.insert(inserted.end(), rows.begin(), rows.end());
}

int parse(const std::string& s) { return std::stoi(s); }
double score(int x) { return x * 0.5; }
std::string tag(int x) { return x % 2 == 0 ? "even" : "odd"; }

int main() {
  auto p = sluice::task(read_rows, sluice::branch)
         | sluice::fan_out(sluice::task(to_json), sluice::task(to_csv))   // every item to every branch
         | sluice::route([](const Row& r) { return r.ok ? 0 : 1; },        // each item to one branch
                         sluice::task(load), sluice::task(quarantine))
         | sluice::batch(500, 200ms)                                       // vectors of <= 500 rows, or
         | sluice::for_each(bulk_insert);                                  // fewer 200 ms after the first
  auto pair = sluice::task(parse) | sluice::zip(sluice::task(score), sluice::task(tag));
                                              // int -> std::tuple<double, std::string> per item
  p(2000);
  std::size_t quarantined = 0;
  for (const Row& r : inserted) quarantined += r.format.ends_with("+quarantined") ? 1 : 0;
  std::printf("inserted %zu rows (%zu quarantined) in %zu batches\n", inserted.size(), quarantined,
              batches);

  auto tuples = (pair | sluice::to_vector())(std::string{"42"});
  const auto& [s, t] = tuples.at(0);
  std::printf("zip of \"42\": score %.1f, tag %s\n", s, t.c_str());

  // 2000 rows, each to both branches of fan_out; every fifth row is not ok.
  const bool right = inserted.size() == 4000 && quarantined == 800 && batches >= 8 &&
                     tuples.size() == 1 && s == 21.0 && t == "even";
  return right ? 0 : 1;
}
