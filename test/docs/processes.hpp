// What the example of docs/processes.md takes as given. Declarations only: the block is compiled,
// never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <sluice/errors.hpp>

namespace sluice_docs::processes {

using namespace std::chrono_literals;

std::vector<std::string> read_lines(const std::string& path);
std::vector<std::string> risky_native_parse(const std::string& line);  // may crash
void log_and_skip(const sluice::failure& failed);
std::size_t store(std::vector<std::string> fields);

}  // namespace sluice_docs::processes
