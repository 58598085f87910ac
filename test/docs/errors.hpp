// What the on_error example of docs/pipelines.md takes as given. Declarations only: the block
// is compiled, never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace sluice_docs::errors {

std::vector<std::string> read_lines(const std::string& path);
int parse(const std::string& line);

}  // namespace sluice_docs::errors
