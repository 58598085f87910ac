// A small build as a job graph: fetch the sources for two platforms, build each (one build at a
// time may hold the shared toolchain), test each, package each, and deploy (in a later wave) only
// if nothing failed.
// The mac tests fail, so its package never runs and the deploy is aborted; the docs job has
// nothing to do and skips itself. On a terminal the graph draws a live board; elsewhere (a pipe,
// a CI log) it writes the plain log, one line per event, and a summary.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <sluice/jobs.hpp>

using namespace std::chrono_literals;

namespace {

void work(std::chrono::milliseconds how_long) { std::this_thread::sleep_for(how_long); }

}  // namespace

int main() {
  sluice::job_graph g{{.parallel = 4}};
  const sluice::job_options::choices_type platforms{{"platform", {"linux", "mac"}}};

  g.add("fetch::[platform]", {.choices = platforms}, [](sluice::job_context& ctx) {
    work(40ms);
    return "src-" + ctx.arg("platform");
  });
  g.add("build::[platform]",
        {.deps = {"fetch::[platform]"}, .locks = {"toolchain"}, .choices = platforms},
        [](sluice::job_context& ctx) {
          const auto src = ctx.result<std::string>("fetch::" + ctx.arg("platform"));
          ctx.log() << "compiling " << src << '\n';
          work(60ms);
          return src + ".o";
        });
  g.add("test::[platform]", {.deps = {"build::[platform]"}, .choices = platforms},
        [](sluice::job_context& ctx) {
          work(50ms);
          ctx.log() << "ran 12 tests\n";
          if (ctx.arg("platform") == "mac") {
            ctx.log() << "FAIL test_resize: expected 640, got 320\n";
            throw std::runtime_error("1 of 12 tests failed");
          }
        });
  g.add("package::[platform]", {.deps = {"test::[platform]", "build::[platform]"},
                                .choices = platforms},
        [](sluice::job_context& ctx) {
          work(30ms);
          return ctx.result<std::string>("build::" + ctx.arg("platform")) + ".tar.gz";
        });
  // Wave 1: starts once every wanted job of wave 0 has finished, so no_failures sees them all.
  g.add("deploy", {.deps = {"package::linux", sluice::no_failures}, .wave = 1},
        [](sluice::job_context&) {
    work(20ms);
  });
  g.add("docs", [] { throw sluice::skipped{}; });

  g.start(g.create("package::*"));
  g.run("deploy");
  g.run("docs");
  try {
    g.wait_all();
  } catch (const sluice::job_failed& e) {
    std::printf("%s\n", e.what());
  }
  std::printf("linux package: %s\n", g.result<std::string>("package::linux").c_str());
  std::printf("deploy: %s\n", std::string{sluice::to_string(g.state("deploy"))}.c_str());
  return g.state("package::linux") == sluice::job_state::succeeded ? 0 : 1;
}
