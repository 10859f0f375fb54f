// Graph params and judges, beyond the golden files: the --param/--vary helpers, where
// params are visible, and that a variant loads per value.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "moa/dsl.hpp"
#include "source.hpp"

namespace {

struct Loaded {
    moa::LoadResult r;
    std::string errors;
};

Loaded load(const std::string& text, std::vector<std::pair<std::string, std::string>> params = {},
            const std::string& path = "g.moa") {
    moa::Diagnostics d;
    moa::LoadOptions o;
    o.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    o.params = std::move(params);
    Loaded l;
    l.r = moa::load_graph_text(path, text, o, d);
    for (const auto& x : d.all())
        if (x.severity == moa::Severity::Error) l.errors += x.message + "\n";
    return l;
}

const char* kSelfMoa = R"(
import "moa.moa"
param samples = 6
param temp = 0.7
backend sim { kind = sim }
agent q { backend = sim  model = "q"  temperature = temp }
use self_moa(model = q, samples = samples)
)";

}  // namespace

TEST_CASE("vary values split at top-level commas only, trimmed") {
    using V = std::vector<std::string>;
    CHECK(moa::split_vary_values("1,2,3") == V{"1", "2", "3"});
    CHECK(moa::split_vary_values(" 1 , 2 ") == V{"1", "2"});
    CHECK(moa::split_vary_values("[a, b],[c]") == V{"[a, b]", "[c]"});
    CHECK(moa::split_vary_values("\"x, y\",\"z\\\",w\"") == V{"\"x, y\"", "\"z\\\",w\""});
    CHECK(moa::split_vary_values("at_least(1, 2),3") == V{"at_least(1, 2)", "3"});
    CHECK(moa::split_vary_values("1,,2") == V{"1", "", "2"});  // kept: load_graph rejects the empty value
    CHECK(moa::split_vary_values("") == V{""});
}

TEST_CASE("a param argument splits at the first equals sign and needs one and a name") {
    CHECK(moa::split_param_arg("layers=3") == std::pair<std::string, std::string>{"layers", "3"});
    CHECK(moa::split_param_arg("s=a=b") == std::pair<std::string, std::string>{"s", "a=b"});
    CHECK(moa::split_param_arg("s=") == std::pair<std::string, std::string>{"s", ""});
    CHECK_FALSE(moa::split_param_arg("layers"));
    CHECK_FALSE(moa::split_param_arg("=3"));
}

TEST_CASE("one variant per --vary value: each loads with its value, the rest of the graph unchanged") {
    for (const auto& v : moa::split_vary_values("1,2,6")) {
        auto l = load(kSelfMoa, {{"samples", v}});
        INFO(l.errors);
        REQUIRE(l.r.ok);
        CHECK(l.r.graph.nodes.size() == static_cast<size_t>(std::stoi(v)) + 1);
        REQUIRE(l.r.graph.params.size() == 2);
        CHECK(l.r.graph.params[0].name == "samples");
        CHECK(l.r.graph.params[0].default_text == "6");
        CHECK(l.r.graph.params[0].value_text == v);
        CHECK(l.r.graph.params[0].overridden);
        CHECK_FALSE(l.r.graph.params[1].overridden);
        CHECK(l.r.graph.params[1].value_text == "0.7");
    }
}

TEST_CASE("an empty --param value is an error, not the default") {
    auto l = load(kSelfMoa, {{"samples", ""}});
    CHECK_FALSE(l.r.ok);
    CHECK_FALSE(l.errors.empty());
}

TEST_CASE("a string param takes a bare --param value as the string, and a quoted one as written") {
    const char* g = "param m = \"small\"\nbackend sim { kind = sim }\nagent a { backend = sim  model = m }\n"
                    "layer l = a\noutput o = l\n";
    CHECK(load(g, {{"m", "org/model-7b"}}).r.graph.agents[0].model == "org/model-7b");
    CHECK(load(g, {{"m", "\"with \\\"quotes\\\"\""}}).r.graph.agents[0].model == "with \"quotes\"");
}

TEST_CASE("a topology body does not see graph params: they reach it as arguments") {
    // `samples` inside self_moa is its own parameter (default 6), not the graph's param.
    auto l = load("import \"moa.moa\"\nparam samples = 2\nbackend sim { kind = sim }\n"
                  "agent q { backend = sim  model = \"q\" }\nuse self_moa(model = q)\n");
    INFO(l.errors);
    REQUIRE(l.r.ok);
    CHECK(l.r.graph.nodes.size() == 7);
}

TEST_CASE("params declared in an imported file are visible in the main file") {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / "moa_params_import";
    fs::create_directories(dir);
    std::ofstream(dir / "knobs.moa") << "param temp = 0.3\n";
    auto l = load("import \"knobs.moa\"\nbackend sim { kind = sim }\n"
                  "agent a { backend = sim  model = \"m\"  temperature = temp }\nlayer l = a\noutput o = l\n",
                  {{"temp", "0.9"}}, (dir / "g.moa").string());
    INFO(l.errors);
    REQUIRE(l.r.ok);
    CHECK(*l.r.graph.agents[0].temperature == 0.9);
    fs::remove_all(dir);
}

TEST_CASE("a --set value may name a param") {
    moa::Diagnostics d;
    moa::LoadOptions o;
    o.overrides.push_back("a.temperature=temp");
    o.params.push_back({"temp", "0.25"});
    auto r = moa::load_graph_text("g.moa",
                                  "param temp = 0.5\nbackend sim { kind = sim }\n"
                                  "agent a { backend = sim  model = \"m\"  max_tokens = 9 }\n"
                                  "agent b { backend = sim  model = \"m\"  temperature = temp }\n"
                                  "layer l = [a, b]\nlayer m = a { inputs = l  prompt = p }\n"
                                  "template p = \"{{responses}}\"\noutput o = m\n",
                                  o, d);
    REQUIRE(r.ok);
    CHECK(*r.graph.agent("a")->temperature == 0.25);
}
