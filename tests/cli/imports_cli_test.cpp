// `moa` and imports: an import reads only .moa files inside the import roots (the
// main file's directory, -I/--import-path directories, the stdlib), and no
// diagnostic quotes a file that is not a .moa source.
#include <catch2/catch.hpp>

#include "shell.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

using moa::test::Run;

Run run_in(const fs::path& dir, const std::string& args) {
    std::string cmd = "cd '" + dir.string() + "' && NO_COLOR=1 " MOA_BIN " " + args + " 2>&1";
    moa::test::Run r = moa::test::shell(cmd);
    return r;
}

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

const char* kSecret = "sk-live-SECRET1234567890";
const char* kGraph = "backend s { kind = sim }\nagent a { backend = s  model = \"m\" }\nlayer l = a\noutput answer = l\n";

// A fresh tree: proj/ holds the graphs, outside/ a library and secrets.
// One tree per test case: ctest runs them in parallel.
fs::path tree(const std::string& name) {
    fs::path root = fs::temp_directory_path() / ("moa-imports-test-" + name);
    fs::remove_all(root);
    write(root / ".env", std::string("OPENAI_API_KEY=") + kSecret + "\n");
    write(root / "outside" / "lib.moa", std::string("agent leak { model = \"") + kSecret + "\" }\n" + kSecret + "\n");
    write(root / "outside" / "good.moa", "agent b { backend = s  model = \"m\" }\n");
    return root;
}

}  // namespace

TEST_CASE("an import of ../.env or an absolute path never prints the file, in any format") {
    fs::path root = tree("t1");
    write(root / "proj" / "env.moa", std::string("import \"../.env\"\n") + kGraph);
    write(root / "proj" / "abs.moa", "import \"" + (root / "outside" / "lib.moa").string() + "\"\n" + kGraph);
    write(root / "proj" / "up.moa", std::string("import \"../outside/lib.moa\"\n") + kGraph);
    for (const char* file : {"env.moa", "abs.moa", "up.moa"}) {
        for (const char* format : {"text", "github", "json"}) {
            auto r = run_in(root / "proj", std::string("check --format ") + format + " " + file);
            INFO(file << " " << format << "\n" << r.out);
            CHECK(r.code == 1);
            CHECK(r.out.find("SECRET") == std::string::npos);
            CHECK(r.out.find("cannot import") != std::string::npos);
        }
    }
    auto r = run_in(root / "proj", "check up.moa");
    CHECK(r.out.find("outside the directories imports may read") != std::string::npos);
    CHECK(r.out.find("--import-path DIR") != std::string::npos);
    CHECK(run_in(root / "proj", "check env.moa").out.find("only .moa files can be imported") != std::string::npos);
}

TEST_CASE("a symbolic link inside the project cannot lead an import out of it") {
    fs::path root = tree("t2");
    write(root / "proj" / "main.moa", std::string("import \"lib.moa\"\n") + kGraph);
    fs::create_symlink(root / "outside" / "lib.moa", root / "proj" / "lib.moa");
    auto r = run_in(root / "proj", "check main.moa");
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK(r.out.find("is a symbolic link to a file outside the directories imports may read") != std::string::npos);
    CHECK(r.out.find("SECRET") == std::string::npos);
    fs::create_symlink(root / ".env", root / "proj" / "env.moa");
    write(root / "proj" / "main2.moa", std::string("import \"env.moa\"\n") + kGraph);
    auto e = run_in(root / "proj", "check main2.moa --import-path ..");
    INFO(e.out);
    CHECK(e.out.find("only .moa files can be imported") != std::string::npos);
    CHECK(e.out.find("SECRET") == std::string::npos);
}

TEST_CASE("the --import-path DIR flag (or -I) lets imports read another directory, in check, graph and run") {
    fs::path root = tree("t3");
    write(root / "proj" / "sub" / "main.moa",
          "import \"../../outside/good.moa\"\nbackend s { kind = sim }\nlayer l = b\noutput answer = l\n");
    CHECK(run_in(root / "proj" / "sub", "check main.moa").code == 1);
    CHECK(run_in(root / "proj" / "sub", "check --import-path ../../outside main.moa").code == 0);
    CHECK(run_in(root / "proj" / "sub", "-I ../../outside check main.moa").code == 0);
    CHECK(run_in(root / "proj" / "sub", "graph main.moa --import-path ../../outside").code == 0);
    auto r = run_in(root / "proj" / "sub", "run --cache off main.moa --import-path ../../outside --no-progress \"q\"");
    INFO(r.out);
    CHECK(r.code == 0);
    // Files below the main file's directory, and the stdlib, need no flag.
    write(root / "proj" / "lib" / "agents.moa", "agent b { backend = s  model = \"m\" }\n");
    write(root / "proj" / "main.moa", "import \"lib/agents.moa\"\nimport \"moa.moa\"\nbackend s { kind = sim }\n"
                                      "use moa_lite(proposers = [b], aggregator = b)\n");
    auto ok = run_in(root / "proj", "check main.moa");
    INFO(ok.out);
    CHECK(ok.code == 0);
}

TEST_CASE("moa check and fmt refuse a file that is not named .moa, without quoting it") {
    fs::path root = tree("t4");
    auto c = run_in(root, "check .env");
    CHECK(c.code != 0);
    CHECK(c.out.find("not a .moa file") != std::string::npos);
    CHECK(c.out.find("SECRET") == std::string::npos);
    auto f = run_in(root, "fmt --stdout .env");
    CHECK(f.code != 0);
    CHECK(f.out.find("SECRET") == std::string::npos);
}
