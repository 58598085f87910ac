// What the in_order example of docs/pipelines.md takes as given: rows read in order, routed to a
// cheap or a slow branch, and written in order. Declarations only: the blocks are compiled,
// never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <string>
#include <vector>

namespace sluice_docs::in_order {

struct Row {
  std::string text{};
  bool known = false;
};
std::vector<Row> read_rows(const std::string& path);
int by_kind(const Row& row);  // 0: cheap, 1: needs a lookup
Row cheap(Row row);
Row lookup(Row row);
void write_row(const Row& row);

}  // namespace sluice_docs::in_order
