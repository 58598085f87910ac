// The chunked path of pmap, opmap and the thread pools' maps (detail/pools/parallel_map.hpp):
// the pipeline that hands a map's chunks to its workers. It holds no type of the map's function
// or input, so it is built here once for every map.
#include <algorithm>
#include <array>
#include <cstddef>
#include <stop_token>
#include <string>

#include <sluice/detail/pools/parallel_map.hpp>
#include <sluice/generator.hpp>
#include <sluice/pipeline.hpp>
#include <sluice/task.hpp>

namespace sluice::detail {
namespace {

// Guided scheduling: each chunk is 1/(8 x workers) of what is left, at least 1 position.
generator<index_span> guided_chunks(std::size_t n, std::size_t workers) {
  for (std::size_t at = 0; at < n;) {
    const std::size_t size = std::max<std::size_t>(1, (n - at) / (8 * workers));
    co_yield index_span{at, at + size};
    at += size;
  }
}

struct chunk_source {
  std::size_t n;
  std::size_t workers;
  generator<index_span> operator()() const { return guided_chunks(n, workers); }
};

// Passes nothing on (an empty range per chunk, as a branch task), so the caller sleeps until the
// run ends instead of waking for every chunk.
struct chunk_task {
  chunk_runner runner;
  std::array<no_value, 0> operator()(index_span chunk, std::stop_token stop) const {
    runner.run(runner.call, chunk, stop);
    return {};
  }
};

}  // namespace

void run_chunks(std::size_t n, const map_config& config, chunk_runner runner) {
  const std::string name = config.where;
  auto chunks = task(chunk_source{n, config.workers}, branch, {.name = name + " input"}) |
                task(chunk_task{runner}, branch, {.name = name, .concurrency = config.workers});
  auto nothing = chunks();
  nothing.link_drain(config.drain);
  while (nothing.next()) {
  }
}

}  // namespace sluice::detail
