// What the examples of docs/pipelines.md ("Stopping: cancel and drain") take as given: rows read
// from a file, transformed and loaded, and an operator who asks for a stop. Declarations only:
// the blocks are compiled, never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <cstddef>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <sluice/sluice.hpp>

namespace sluice_docs::stopping {

struct Row {
  std::string text{};
};
std::vector<Row> read_rows(const std::string& path);
Row transform(Row row);
std::size_t load(const std::vector<Row>& rows);
void load(const Row& row);
void wait_for_operator();
inline const std::string path = "orders.csv";
inline const auto etl = sluice::task(read_rows, sluice::branch) | sluice::task(transform);

std::size_t measure(const std::string& file);
inline std::vector<std::string> files;

}  // namespace sluice_docs::stopping
