// Tests of sluice/jobs.hpp: names — prototypes and their placeholders, dependency patterns and
// callable dependencies, choices and globs, plain rdeps and when_scheduled.
#include <sluice/jobs.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "common/gate.hpp"
#include "common/job_graphs.hpp"
#include "common/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

using sluice_test::logged_graph;
using sluice_test::mentions;
using sluice_test::names;
using sluice_test::quiet;
using sluice_test::refusal;
using sluice_test::sorted;

}  // namespace

TEST_CASE("a prototype makes jobs whose names fill its placeholders") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("build::[env]::[arch]", [](sluice::job_context& ctx) {
    return ctx.name() + "=" + ctx.arg("env") + "/" + ctx.arg("arch") + " (" +
           std::to_string(ctx.params().size()) + " params)";
  });
  CHECK(t.g.create("build::dev::arm") == names{"build::dev::arm"});
  CHECK(t.g.state("build::dev::arm") == sluice::job_state::idle);  // made, not started
  t.g.run("build::prod::x86-64");
  t.g.wait_all();
  CHECK(t.g.result<std::string>("build::prod::x86-64") == "build::prod::x86-64=prod/x86-64 (2 params)");
  CHECK(t.started() == names{"build::prod::x86-64"});
  CHECK(t.g.jobs() == names{"build::dev::arm", "build::prod::x86-64"});
}

TEST_CASE("a graph's own separator divides a prototype's parameters") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{{.live = sluice::live_output::off, .separator = "/"}};
  g.add("build/[env]/[arch]", [](sluice::job_context& ctx) {
    return ctx.arg("env") + "+" + ctx.arg("arch");
  });
  g.run("build/dev-1::x/arm-64");
  g.wait_all();
  CHECK(g.result<std::string>("build/dev-1::x/arm-64") == "dev-1::x+arm-64");
}

TEST_CASE("a name that matches two prototypes is refused, naming both") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("a::[x]", [] {});
  g.add("[y]::b", [] {});
  {
    const std::string why = refusal([&] { g.create("a::b"); });
    CHECK_MESSAGE(mentions(why, {"'a::[x]'", "'[y]::b'"}), why);
  }
  CHECK(g.create("a::c") == names{"a::c"});
}

TEST_CASE("a job asks for its own parameters; asking for another one is refused") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("p::[x]", [](sluice::job_context& ctx) {
    CHECK_THROWS_WITH_AS(ctx.arg("y"), doctest::Contains("'p::1'"), std::invalid_argument);
    return ctx.arg("x");
  });
  g.run("p::1");
  g.wait_all();
  CHECK(g.result<std::string>("p::1") == "1");
}

// --- dependency patterns ------------------------------------------------------------------------

TEST_CASE("a dependency pattern is filled from the job's args and its job made on the way") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("build::[env]", [](sluice::job_context& ctx) { return "built_" + ctx.arg("env"); });
  t.g.add("deploy::[env]", {.deps = {"build::[env]"}}, [](sluice::job_context& ctx) {
    return ctx.result<std::string>("build::" + ctx.arg("env")) + "_deployed";
  });
  t.g.run("deploy::dev");
  t.g.wait_all();
  CHECK(t.g.result<std::string>("deploy::dev") == "built_dev_deployed");
  CHECK(t.g.jobs() == names{"deploy::dev", "build::dev"});
  CHECK(t.log.ran_before("build::dev", "deploy::dev"));
  CHECK(t.g.info("deploy::dev").deps == names{"build::dev"});
}

TEST_CASE("callable dependencies return a name, a list or filled-out names, mixed with strings") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("setup", [] { return 1; });
  t.g.add("fetch::[env]", [](sluice::job_context& ctx) { return "src_" + ctx.arg("env"); });
  t.g.add("tool::[name]", [](sluice::job_context& ctx) { return ctx.arg("name"); });
  t.g.add("one::[env]", {.deps = {[](const sluice::job_args& a) { return "fetch::" + a.at("env"); }}},
          [](sluice::job_context& ctx) { return ctx.result<std::string>("fetch::" + ctx.arg("env")); });
  t.g.add("many",
          {.deps = {[](const sluice::job_args&) { return names{"tool::cc", "tool::ld"}; }}},
          [](sluice::job_context& ctx) {
            return ctx.result<std::string>("tool::cc") + ctx.result<std::string>("tool::ld");
          });
  t.g.add("filled", {.deps = {[](const sluice::job_args&) { return std::string{"fetch::prod"}; }}},
          [](sluice::job_context& ctx) { return ctx.result<std::string>("fetch::prod"); });
  t.g.add("mixed::[env]",
          {.deps = {"setup", [](const sluice::job_args& a) {
                      return names{"fetch::" + a.at("env"), "tool::as"};
                    }, "tool::[env]"}},
          [](sluice::job_context& ctx) {
            return std::to_string(ctx.result<int>("setup")) +
                   ctx.result<std::string>("fetch::" + ctx.arg("env")) +
                   ctx.result<std::string>("tool::as") +
                   ctx.result<std::string>("tool::" + ctx.arg("env"));
          });
  t.g.start(names{"one::dev", "many", "filled", "mixed::qa"});
  t.g.wait_all();
  CHECK(t.g.result<std::string>("one::dev") == "src_dev");
  CHECK(t.g.result<std::string>("many") == "ccld");
  CHECK(t.g.result<std::string>("filled") == "src_prod");
  CHECK(t.g.result<std::string>("mixed::qa") == "1src_qaasqa");
  CHECK(t.g.info("mixed::qa").deps == names{"setup", "fetch::qa", "tool::as", "tool::qa"});
  CHECK(t.started_sorted() == sorted({"setup", "fetch::dev", "fetch::prod", "fetch::qa",
                                      "tool::cc", "tool::ld", "tool::as", "tool::qa", "one::dev",
                                      "many", "filled", "mixed::qa"}));
}

TEST_CASE("filled-out and partly filled dependency names make jobs from prototypes") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("build::[env]::[arch]",
          [](sluice::job_context& ctx) { return ctx.arg("env") + "-" + ctx.arg("arch"); });
  t.g.add("report", {.deps = {"build::dev::x86"}},
          [](sluice::job_context& ctx) { return ctx.result<std::string>("build::dev::x86"); });
  t.g.add("pkg::[arch]", {.deps = {"build::prod::[arch]"}}, [](sluice::job_context& ctx) {
    return ctx.result<std::string>("build::prod::" + ctx.arg("arch"));
  });
  t.g.start(names{"report", "pkg::arm"});
  t.g.wait_all();
  CHECK(t.g.result<std::string>("report") == "dev-x86");
  CHECK(t.g.result<std::string>("pkg::arm") == "prod-arm");
  CHECK(t.started_sorted() == sorted({"build::dev::x86", "build::prod::arm", "report", "pkg::arm"}));
}

TEST_CASE("a dependency pattern that needs an argument the job lacks is refused, naming the jobs") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("build::[env]::[arch]", [] {});
  g.add("pkg::[arch]", {.deps = {"build::[env]::[arch]"}}, [] {});
  {
    const std::string why = refusal([&] { g.run("pkg::arm"); });
    CHECK_MESSAGE(mentions(why, {"'pkg::arm'", "'env'"}), why);
  }
  CHECK(g.state("pkg::arm") == sluice::job_state::idle);
}

// --- choices and globs --------------------------------------------------------------------------

TEST_CASE("a literal value of a parameter with choices must be one of them") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("build::[env]", {.choices = {{"env", {"dev", "prod"}}}}, [] {});
  CHECK(g.create("build::dev") == names{"build::dev"});
  {
    const std::string why = refusal([&] { g.create("build::qa"); });
    CHECK_MESSAGE(mentions(why, {"'qa'", "dev, prod"}), why);
  }
  CHECK_THROWS_AS(g.run("build::qa"), std::invalid_argument);
}

TEST_CASE("globs expand over choices: star, question mark and partial globs") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("build::[env]", {.choices = {{"env", {"dev", "dex", "prod"}}}}, [] {});
  CHECK(g.create("build::*") == names{"build::dev", "build::dex", "build::prod"});
  CHECK(g.create("build::de?") == names{"build::dev", "build::dex"});
  CHECK(g.create("build::p*") == names{"build::prod"});
  CHECK(g.create("build::*v") == names{"build::dev"});
  CHECK(g.jobs() == names{"build::dev", "build::dex", "build::prod"});  // each made once
}

TEST_CASE("globs on several parameters give the cartesian product of their choices") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("test::[os]::[arch]", {.choices = {{"os", {"linux", "mac"}}, {"arch", {"x86", "arm"}}}},
        [] {});
  CHECK(g.create("test::*::*") ==
        names{"test::linux::x86", "test::linux::arm", "test::mac::x86", "test::mac::arm"});
  CHECK(g.create("test::mac::*").size() == 2);
  CHECK(g.create("test::*::arm").size() == 2);
  CHECK(g.jobs().size() == 4);
}

TEST_CASE("a glob on a parameter without choices, or one matching nothing, is refused") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("plain::[x]", [] {});
  g.add("build::[env]", {.choices = {{"env", {"dev", "prod"}}}}, [] {});
  {
    const std::string why = refusal([&] { g.create("plain::*"); });
    CHECK_MESSAGE(mentions(why, {"'plain::[x]'", "choices"}), why);
  }
  CHECK_THROWS_WITH_AS(g.create("build::z*"), doctest::Contains("matches no job"),
                       std::invalid_argument);
  CHECK_THROWS_AS(g.run("build::z?"), std::invalid_argument);
  CHECK(g.jobs().empty());
}

TEST_CASE("run with a glob starts every job it expands to") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("build::[env]", {.choices = {{"env", {"dev", "prod"}}}},
          [](sluice::job_context& ctx) { return ctx.arg("env"); });
  CHECK(t.g.run("build::*") == names{"build::dev", "build::prod"});
  t.g.wait_all();
  CHECK(t.started_sorted() == names{"build::dev", "build::prod"});
  CHECK(t.g.result<std::string>("build::prod") == "prod");
}

TEST_CASE("a choice key that is not a parameter is refused") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  CHECK_THROWS_WITH_AS(g.add("x::[a]", {.choices = {{"b", {"1"}}}}, [] {}),
                       doctest::Contains("'b'"), std::invalid_argument);
  CHECK_THROWS_AS(g.add("y::[a]", {.choices = {{"a", {}}}}, [] {}), std::invalid_argument);
}

// --- plain rdeps --------------------------------------------------------------------------------

TEST_CASE("an rdep makes its declarer a dependency of the job it names, which it runs before") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("lint", {.rdeps = {"deploy"}}, [] { return std::string{"clean"}; });
  t.g.add("deploy", [](sluice::job_context& ctx) { return ctx.result<std::string>("lint"); });
  t.g.run("deploy");
  t.g.wait_all();
  CHECK(t.g.result<std::string>("deploy") == "clean");
  CHECK(t.log.ran_before("lint", "deploy"));
  CHECK(t.g.info("deploy").deps == names{"lint"});
}

TEST_CASE("starting an rdep's declarer alone does not start the job it names") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("lint", {.rdeps = {"deploy"}}, [] {});
  t.g.add("deploy", [] {});
  t.g.run("lint");
  t.g.wait_all();
  CHECK(t.started() == names{"lint"});
  CHECK(t.g.state("deploy") == sluice::job_state::idle);
}

TEST_CASE("an rdep pattern matches names exactly") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("check", {.rdeps = {"deploy::prod"}}, [] {});
  t.g.add("deploy::[env]", [] {});
  t.g.run("deploy::dev");
  t.g.wait_all();
  CHECK(t.started() == names{"deploy::dev"});
  t.g.run("deploy::production");
  t.g.wait_all();
  CHECK(t.g.state("check") == sluice::job_state::idle);
  t.g.run("deploy::prod");
  t.g.wait_all();
  CHECK(t.log.ran_before("check", "deploy::prod"));
}

TEST_CASE("an rdep pattern of a prototype makes the declarer's job for each match") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("check::[env]", {.rdeps = {"deploy::[env]"}},
          [](sluice::job_context& ctx) { return "checked_" + ctx.arg("env"); });
  t.g.add("deploy::[env]", [](sluice::job_context& ctx) {
    return ctx.result<std::string>("check::" + ctx.arg("env"));
  });
  t.g.start(names{"deploy::dev", "deploy::prod"});
  t.g.wait_all();
  CHECK(t.g.result<std::string>("deploy::dev") == "checked_dev");
  CHECK(t.g.result<std::string>("deploy::prod") == "checked_prod");
  CHECK(t.log.ran_before("check::dev", "deploy::dev"));
  CHECK(t.log.ran_before("check::prod", "deploy::prod"));
  CHECK(t.started().size() == 4);
}

TEST_CASE("an rdep applies to a job reached only as a dependency") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("lint", {.rdeps = {"deploy"}}, [] {});
  t.g.add("deploy", [] {});
  t.g.add("release", {.deps = {"deploy"}}, [] {});
  t.g.run("release");
  t.g.wait_all();
  CHECK(t.started() == names{"lint", "deploy", "release"});
  CHECK(t.log.ran_before("lint", "deploy"));
  CHECK(t.log.ran_before("deploy", "release"));
}

// --- when_scheduled -----------------------------------------------------------------------------

TEST_CASE("when_scheduled: wanting the declarer wants its target, which runs after it") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("migrate", {.rdeps = {sluice::when_scheduled("deploy")}}, [] {});
  t.g.add("deploy", [] {});
  t.g.run("migrate");
  t.g.wait_all();
  CHECK(t.started() == names{"migrate", "deploy"});
  CHECK(t.log.ran_before("migrate", "deploy"));
}

TEST_CASE("when_scheduled: wanting only the target leaves the declarer out") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("migrate", {.rdeps = {sluice::when_scheduled("deploy")}}, [] {});
  t.g.add("deploy", [] {});
  t.g.run("deploy");
  t.g.wait_all();
  CHECK(t.started() == names{"deploy"});
  CHECK(t.g.state("migrate") == sluice::job_state::idle);
}

TEST_CASE("when_scheduled: the declarer runs first whichever is started first") {
  sluice_test::watchdog guard{60s};
  SUBCASE("together, target first") {
    logged_graph t;
    t.g.add("migrate", {.rdeps = {sluice::when_scheduled("deploy")}}, [] {});
    t.g.add("deploy", [] {});
    t.g.start(names{"deploy", "migrate"});
    t.g.wait_all();
    CHECK(t.log.ran_before("migrate", "deploy"));
  }
  SUBCASE("together, declarer first") {
    logged_graph t;
    t.g.add("migrate", {.rdeps = {sluice::when_scheduled("deploy")}}, [] {});
    t.g.add("deploy", [] {});
    t.g.start(names{"migrate", "deploy"});
    t.g.wait_all();
    CHECK(t.log.ran_before("migrate", "deploy"));
  }
  SUBCASE("the target started earlier, still waiting for its own dependency") {
    sluice_test::gate release;
    logged_graph t;
    t.g.add("migrate", {.rdeps = {sluice::when_scheduled("deploy")}}, [] {});
    t.g.add("hold", [&] { release.wait(); });
    t.g.add("deploy", {.deps = {"hold"}}, [] {});
    t.g.run("deploy");
    t.g.run("migrate");
    release.open();
    t.g.wait_all();
    CHECK(t.log.ran_before("migrate", "deploy"));
    CHECK(t.g.info("deploy").deps == names{"hold", "migrate"});
  }
}

TEST_CASE("when_scheduled: a parameterised declarer wants the target its args fill") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("migrate::[env]", {.rdeps = {sluice::when_scheduled("deploy::[env]")}}, [] {});
  t.g.add("deploy::[env]", [] {});
  t.g.run("migrate::dev");
  t.g.wait_all();
  CHECK(t.started() == names{"migrate::dev", "deploy::dev"});
  CHECK(t.g.jobs() == names{"migrate::dev", "deploy::dev"});
}

TEST_CASE("when_scheduled: several targets and several declarers") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("a", {.rdeps = {sluice::when_scheduled("x"), sluice::when_scheduled("y")}}, [] {});
  t.g.add("b", {.rdeps = {sluice::when_scheduled("x")}}, [] {});
  t.g.add("x", [] {});
  t.g.add("y", [] {});
  t.g.start(names{"a", "b"});
  t.g.wait_all();
  CHECK(t.started_sorted() == names{"a", "b", "x", "y"});
  CHECK(t.log.ran_before("a", "x"));
  CHECK(t.log.ran_before("b", "x"));
  CHECK(t.log.ran_before("a", "y"));
}

TEST_CASE("when_scheduled mixed with a plain rdep on the same declarer") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("m", {.rdeps = {"deploy", sluice::when_scheduled("notify")}}, [] {});
  t.g.add("deploy", [] {});
  t.g.add("notify", [] {});
  t.g.run("deploy");  // m is wanted as deploy's rdep, so notify is wanted too
  t.g.wait_all();
  CHECK(t.started_sorted() == names{"deploy", "m", "notify"});
  CHECK(t.log.ran_before("m", "deploy"));
  CHECK(t.log.ran_before("m", "notify"));
}

TEST_CASE("when_scheduled: a declarer started after its target ran is refused") {
  sluice_test::watchdog guard{60s};
  logged_graph t;
  t.g.add("migrate", {.rdeps = {sluice::when_scheduled("deploy")}}, [] {});
  t.g.add("deploy", [] {});
  t.g.run("deploy");
  t.g.wait_all();
  {
    const std::string why = refusal([&] { t.g.run("migrate"); });
    CHECK_MESSAGE(mentions(why, {"'migrate'", "too late", "'deploy'"}), why);
  }
  CHECK(t.g.state("migrate") == sluice::job_state::idle);
}

TEST_CASE("an rdep whose declarer needs an argument the match does not give is refused") {
  sluice_test::watchdog guard{60s};
  sluice::job_graph g{quiet()};
  g.add("check::[env]::[arch]", {.rdeps = {"deploy::[env]"}}, [] {});
  g.add("deploy::[env]", [] {});
  const std::string why = refusal([&] { g.run("deploy::dev"); });
  CHECK_MESSAGE(mentions(why, {"'deploy::dev'", "'arch'"}), why);
  CHECK(g.state("deploy::dev") == sluice::job_state::idle);
}
