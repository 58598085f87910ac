// What the example of docs/resilience.md takes as given: calls that may fail. Declarations only:
// the block is compiled, never run (test/cmake/doc_snippets.cmake).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace sluice_docs::resilience {

using namespace std::chrono_literals;

std::string get(const std::string& url);
int expensive(int n);
std::string call_api(const std::string& query);
std::string call_with_key(const std::string& query, const std::string& key);
std::string primary(const std::string& query);
std::string secondary(const std::string& query);
std::string tertiary(const std::string& query);
std::vector<std::string> read_urls(const std::string& list);
std::string download(const std::string& url);

struct Customer {
  std::string name{};
  std::string segment{};
};
std::string lowercase(std::string text);

}  // namespace sluice_docs::resilience
