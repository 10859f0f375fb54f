// Golden tests: every tests/golden/invalid/NAME.moa has NAME.expected holding the
// exact diagnostics (message, line, column, source line, caret, notes); every
// tests/golden/valid/NAME.moa has NAME.expected holding its IR text dump.
// A NAME.params file next to a case holds one `--param NAME=value` per line.
// MOA_UPDATE_GOLDEN=1 rewrites the expected files (review the diff before committing).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moa/dsl.hpp"
#include "source.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> cases(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(fs::path(MOA_GOLDEN_DIR) / dir))
        if (e.path().extension() == ".moa") names.push_back(e.path().stem().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Diagnostics rendered as `moa check` prints them, with paths relative to golden/.
std::string check_output(const std::string& rel, moa::LoadResult* result = nullptr) {
    fs::path old = fs::current_path();
    fs::current_path(MOA_GOLDEN_DIR);
    moa::LoadOptions opts;
    // Relative to golden/, so that notes inside the stdlib print the same path on every machine.
    opts.import_paths.push_back(fs::relative(fs::path(MOA_SOURCE_DIR) / "stdlib").string());
    std::ifstream params(fs::path(rel).replace_extension(".params"));
    for (std::string line; std::getline(params, line);)
        if (auto kv = moa::split_param_arg(line)) opts.params.push_back(*kv);
    moa::Diagnostics d;
    auto r = moa::load_graph(rel, opts, d);
    fs::current_path(old);
    std::ostringstream out;
    d.render(out, moa::DiagFormat::Text, false);
    if (result) *result = std::move(r);
    return out.str();
}

void compare_or_update(const fs::path& expected_path, const std::string& actual) {
    if (const char* u = std::getenv("MOA_UPDATE_GOLDEN"); u && *u == '1') {
        std::ofstream(expected_path, std::ios::binary) << actual;
        return;
    }
    REQUIRE(fs::exists(expected_path));
    CHECK(actual == slurp(expected_path));
}

}  // namespace

TEST_CASE("golden: invalid files give exactly the expected diagnostics", "[golden]") {
    auto names = cases("invalid");
    REQUIRE(names.size() >= 40);
    for (const auto& name : names) {
        SECTION(name) {
            moa::LoadResult r;
            std::string out = check_output("invalid/" + name + ".moa", &r);
            INFO(out);
            CHECK_FALSE(r.ok);  // every file here must have at least one error
            compare_or_update(fs::path(MOA_GOLDEN_DIR) / "invalid" / (name + ".expected"), out);
        }
    }
}

TEST_CASE("golden: valid files check clean and dump the expected IR", "[golden]") {
    auto names = cases("valid");
    REQUIRE(names.size() >= 8);
    for (const auto& name : names) {
        SECTION(name) {
            moa::LoadResult r;
            std::string diags = check_output("valid/" + name + ".moa", &r);
            INFO(diags);
            REQUIRE(r.ok);
            std::ostringstream dump;
            moa::dump_graph(dump, r.graph, moa::DumpFormat::Text);
            compare_or_update(fs::path(MOA_GOLDEN_DIR) / "valid" / (name + ".expected"), diags + dump.str());
        }
    }
}
