// `--param` on the command line and the repository's judge graphs, end to end.
#include <catch2/catch.hpp>

#include "shell.hpp"

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

moa::test::Run run(const std::string& args) {
    return moa::test::shell("cd " MOA_SOURCE_DIR " && NO_COLOR=1 " MOA_BIN " " + args + " 2>&1");
}

fs::path graph_file(const std::string& text) {
    fs::path dir = fs::temp_directory_path() / "moa-param-cli-test";
    fs::create_directories(dir);
    fs::path p = dir / "g.moa";
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

const char* kGraph = R"(import "moa.moa"

param samples = 2

param model = "m/alpha"

backend sim {
  kind = sim
}

agent a {
  backend = sim
  model = model
}

use self_moa(model = a, samples = samples)
)";

}  // namespace

TEST_CASE("a param given on the command line changes the graph of moa graph and moa run, and its errors exit 1 pointing into the argument") {
    fs::path g = graph_file(kGraph);
    auto dump = run("graph " + g.string() + " --param samples=3 --param model=org/beta-7b");
    CHECK(dump.code == 0);
    CHECK(dump.out.find("param samples = 3 (--param; default 2)") != std::string::npos);
    CHECK(dump.out.find("node propose.a#3") != std::string::npos);
    CHECK(dump.out.find("model=\"org/beta-7b\"") != std::string::npos);
    auto answer = run("run --cache off --no-progress -q " + g.string() + " --param samples=4 \"What is MoA?\"");
    CHECK(answer.code == 0);
    CHECK(answer.out.find("synthesis of 4 responses") != std::string::npos);
    auto unknown = run("check " + g.string() + " --param sample=3");
    CHECK(unknown.code == 1);
    CHECK(unknown.out.find("--param:1:1: error: unknown param 'sample'; did you mean 'samples'?") != std::string::npos);
    auto kind = run("run " + g.string() + " --param samples=\"x\" question");
    CHECK(kind.code == 1);
    CHECK(kind.out.find("error: --param samples=x: param 'samples' is a number") != std::string::npos);
    auto form = run("check " + g.string() + " --param samples");
    CHECK(form.code == 2);
    CHECK(form.out.find("--param takes NAME=value") != std::string::npos);
}

TEST_CASE("moa run and check list --param in their help") {
    for (const char* sub : {"run", "check", "graph"}) {
        INFO(sub);
        CHECK(run(std::string(sub) + " --help").out.find("--param") != std::string::npos);
    }
}

TEST_CASE("the judge graphs and the stdlib judges check clean, and a judge graph runs to a verdict on the simulator") {
    for (const char* f : {"graphs/judge-pairwise-sim.moa", "graphs/judge-score-sim.moa", "stdlib/judges.moa"}) {
        INFO(f);
        CHECK(run(std::string("check --werror ") + f).code == 0);
        CHECK(run(std::string("fmt --check ") + f).code == 0);
    }
    auto r = run("run --cache off --no-progress -q graphs/judge-pairwise-sim.moa \"Which is better?\"");
    CHECK(r.code == 0);
    CHECK(r.out.rfind("Verdict: [[", 0) == 0);
    auto s = run("run --cache off --no-progress -q graphs/judge-score-sim.moa \"How good?\"");
    CHECK(s.code == 0);
    CHECK(s.out.rfind("Rating: [[", 0) == 0);
}
