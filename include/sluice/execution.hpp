// This header defines sluice::execution, where a parallel map's or a job's calls run: in
// threads of this process, or in worker processes forked from it (docs/processes.md).
//
// Example:
//   auto pages = sluice::pmap(parse, files, {.workers = 4, .mode = sluice::execution::process});
#pragma once

namespace sluice {

// The enumerator `process` is scoped (sluice::execution::process), yet g++'s -Wshadow says it
// shadows the task flag sluice::process; both names are the API's.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
enum class execution {
  thread,   // in threads of this process
  process,  // in worker processes: a crash or a timeout fails one item; items and results
            // cross by sluice::codec
};
#pragma GCC diagnostic pop

}  // namespace sluice
