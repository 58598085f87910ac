// What the Progress example of docs/pipelines.md takes as given: a pipeline that reads the rows
// of a file, and one that parses a row. Compiled, never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace sluice_docs::progress {

std::vector<std::string> lines_of(const std::string& path);
int parse_row(const std::string& line);

inline const std::string path = "rows.csv";
inline const std::size_t row_count = 1000;
inline const auto read_rows = sluice::task(lines_of, sluice::branch);
inline const auto parse = sluice::task(parse_row);
void use(std::string& row);

}  // namespace sluice_docs::progress
