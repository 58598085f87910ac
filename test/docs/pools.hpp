// What the examples of docs/pools.md take as given: the items, the functions mapped over them
// and where results go. Declarations only: the blocks are compiled, never run
// (test/cmake/doc_snippets.cmake).
#pragma once

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

namespace sluice_docs::pools {

using namespace std::chrono_literals;

struct Photo {
  std::string file{};
};
struct Thumb {
  std::vector<unsigned char> pixels{};
};
Thumb make_thumb(const Photo& photo);
inline std::vector<Photo> photos;

struct Row {
  std::string text{};
};
struct database {
  void insert(const Row& row);
};
inline database db;
inline std::vector<Row> rows;

inline const std::string path = "input.txt";
sluice::generator<std::string> read_lines(std::string path);
int parse(const std::string& line);
inline std::vector<std::string> lines;

struct Page {
  std::string body{};
};
Page fetch(const std::string& url);
void store(const Page& page);
inline std::vector<std::string> urls;
// A formatting logger: each {} takes the next argument.
template <class... Args>
void log(const char* format, const Args&... args);

struct Record {
  int value = 0;
};
int score(const Record& record);
std::vector<Record> read_records(const std::string& path);
void emit(int score);
inline std::vector<Record> items;

struct Line {
  int cents = 0;
};
struct Order {
  std::vector<Line> lines{};
};
int price(const Line& line);
int sum(const std::vector<int>& prices);
inline std::vector<Order> orders;

extern sluice::thread_pool pool;

using Report = std::vector<std::string>;  // crosses processes: sluice::codec has it built in
Report parse_untrusted(const std::string& file);
inline std::vector<std::string> files;
std::string convert(const std::string& file);

}  // namespace sluice_docs::pools
