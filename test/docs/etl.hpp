// What the ETL examples of README.md and docs/pipelines.md ("Shapes") take as given: rows read
// from a file, each converted, checked and stored in bulk. Declarations only: the documents'
// blocks are compiled, never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace sluice_docs::etl {

using namespace std::chrono_literals;

struct Row {
  int id = 0;
  bool ok = true;
  std::string format{};  // set by to_json / to_csv
};

std::vector<Row> read_rows(const std::string& path);
Row to_json(Row row);
Row to_csv(Row row);
Row load(Row row);
Row quarantine(Row row);
void bulk_insert(std::vector<Row> rows);

int parse(const std::string& text);
double score(int value);
std::string tag(int value);

}  // namespace sluice_docs::etl
