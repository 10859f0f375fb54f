// Field-trial defects of the language front end: --set values, copies of repeated
// layers, the bound on the expanded graph, and the import roots.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "moa/dsl.hpp"
#include "source.hpp"

namespace fs = std::filesystem;

namespace {

const char* kPrelude =
    "backend sim { kind = sim }\n"
    "backend api { kind = openai  base_url = \"http://127.0.0.1:1/v1\" }\n"
    "template agg = \"{{responses}}\"\n"
    "agent a { backend = sim  model = \"ma\" }\n"
    "agent b { backend = sim  model = \"mb\" }\n";

struct Checked {
    moa::LoadResult result;
    moa::Diagnostics diags;
    std::string errors() const {
        std::string r;
        for (const auto& d : diags.all())
            if (d.severity == moa::Severity::Error) r += d.message + "\n";
        return r;
    }
};

std::unique_ptr<Checked> check(const std::string& body, std::vector<std::string> overrides = {}) {
    auto c = std::make_unique<Checked>();
    moa::LoadOptions opts;
    opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    opts.overrides = std::move(overrides);
    c->result = moa::load_graph_text("t.moa", std::string(kPrelude) + body, opts, c->diags);
    return c;
}

const char* kUsesApi = "agent c { backend = api  model = \"m\" }\nlayer l = [a, c]\noutput o = l.a\n";

}  // namespace

TEST_CASE("an override (--set) of a string field takes a bare string: a URL needs no DSL quotes") {
    auto c = check(kUsesApi, {"api.base_url=http://127.0.0.1:8080/v1", "c.model=gpt-4o-mini",
                              "api.api_key_env=MY_KEY"});
    REQUIRE(c->errors() == "");
    CHECK(c->result.graph.backend("api")->base_url == "http://127.0.0.1:8080/v1");
    CHECK(c->result.graph.agent("c")->model == "gpt-4o-mini");
    CHECK(c->result.graph.backend("api")->api_key_env == "MY_KEY");
}

TEST_CASE("an override (--set) still takes a quoted DSL string, and quotes inside a bare one are kept") {
    auto c = check(kUsesApi, {"api.base_url=\"http://h:1/v1\"", "c.model=say \"hi\"\\"});
    REQUIRE(c->errors() == "");
    CHECK(c->result.graph.backend("api")->base_url == "http://h:1/v1");
    CHECK(c->result.graph.agent("c")->model == "say \"hi\"\\");
}

TEST_CASE("an override (--set) of a misspelt backend says so with a suggestion, even with a bare URL as its value") {
    auto c = check(kUsesApi, {"apii.base_url=http://127.0.0.1:8080/v1"});
    CHECK(c->errors() == "unknown backend or agent 'apii'; did you mean 'api'?\n");
}

TEST_CASE("an override (--set) of a base_url with a space or a CR LF is refused: it would write a request header") {
    auto c = check(kUsesApi, {"api.base_url=http://127.0.0.1:8080/v1 x", "api.api_key_env=K"});
    CHECK(c->errors() ==
          "'base_url' holds a space (byte 25): a URL cannot; percent-encode it (a space is %20)\n");
    auto d = check(kUsesApi, {"api.base_url=http://u:pw@127.0.0.1:8080/v1\r\nX-Injected: 1"});
    REQUIRE(d->diags.all().size() == 1);
    CHECK(d->diags.all()[0].hide_source);
}

TEST_CASE("r[k] names one copy of a repeated layer, so skip edges out of a repeat work") {
    auto c = check(
        "layer p = [a, b]\n"
        "layer r = [a, b] { inputs = p  prompt = agg  repeat = 3 }\n"
        "layer f = a { inputs = [r[1], r[2].b, r]  prompt = agg }\n"
        "output o = f\n");
    REQUIRE(c->errors() == "");
    const auto* f = c->result.graph.node("f.a");
    REQUIRE(f);
    CHECK(f->inputs == std::vector<std::string>{"r[1].a", "r[1].b", "r[2].b", "r[3].a", "r[3].b"});
}

TEST_CASE("r[k] inside a topology instance is the instance's own layer") {
    auto c = check(
        "topology t(x) {\n"
        "  layer r = x { inputs = query  prompt = agg  repeat = 2 }\n"
        "  layer g = x { inputs = [r[1], r]  prompt = agg }\n"
        "  output answer = g\n"
        "}\n"
        "use t(x = a) as i\n");
    REQUIRE(c->errors() == "");
    const auto* g = c->result.graph.node("i.g.a");
    REQUIRE(g);
    CHECK(g->inputs == std::vector<std::string>{"i.r[1].a", "i.r[2].a"});
}

TEST_CASE("a graph that expands past the node limit fails before allocating its nodes") {
    // 100 copies of 1,000 replicas, fed by all before: 100,000 nodes and ~10^8 edges.
    auto c = check(
        "layer l1 = [a * 1000] { repeat = 100 }\n"
        "layer l2 = [a * 1000] { inputs = l1  prompt = agg  repeat = 100 }\n"
        "layer l3 = a { inputs = [l1, l2]  prompt = agg }\n"
        "output o = l3\n");
    CHECK(c->errors() ==
          "the graph is too large: layer 'l1' adds 100000 nodes (100 copies of 1000 nodes), making 100000, "
          "over the limit of 10000 nodes\n");
    CHECK_FALSE(c->result.ok);
    CHECK(c->result.graph.nodes.empty());
}

TEST_CASE("a graph of exactly the node limit still checks, and one more node does not") {
    std::string layers;
    for (int i = 1; i <= 4; ++i) layers += "layer l" + std::to_string(i) + " = [a * 1000, b * 1000]\n";
    auto ok = check(layers + "layer l5 = [a * 1000, b * 999]\nlayer g = a { inputs = l5  prompt = agg }\noutput o = g\n");
    CHECK(ok->errors() == "");
    auto over = check(layers + "layer l5 = [a * 1000, b * 1000]\nlayer g = a { inputs = l5  prompt = agg }\noutput o = g\n");
    CHECK(over->errors() ==
          "the graph is too large: layer 'g' adds 1 node (1 copy of 1 node), making 10001, over the limit of 10000 nodes\n");
}

TEST_CASE("moa refuses to read a file that is not a .moa source") {
    fs::path dir = fs::temp_directory_path() / "moa-dsl-limits";
    fs::create_directories(dir);
    fs::path env = dir / "secrets.env";
    std::ofstream(env) << "TOKEN=ghp_secret_value_123\n";
    moa::Diagnostics d;
    auto r = moa::load_graph(env.string(), {}, d);
    CHECK_FALSE(r.ok);
    std::ostringstream out;
    d.render(out, moa::DiagFormat::Text, false);
    CHECK(out.str().find("not a .moa file") != std::string::npos);
    CHECK(out.str().find("ghp_secret") == std::string::npos);
    std::string formatted;
    moa::Diagnostics f;
    CHECK_FALSE(moa::format_source(env.string(), "TOKEN=ghp_secret_value_123\n", formatted, f));
}

TEST_CASE("moa(layers = 1) from the stdlib is reported at the argument, with a note in the stdlib") {
    moa::LoadOptions opts;
    opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    moa::Diagnostics d;
    moa::load_graph_text("t.moa",
                         std::string(kPrelude) + "import \"moa.moa\"\nuse moa(proposers = [a, b], aggregator = a, layers = 1)\n",
                         opts, d);
    REQUIRE(d.error_count() == 1);
    const moa::Diagnostic& e = d.all().front();
    CHECK(e.message == "'repeat' must be an integer in [0, 100], found -1, computed from argument 'layers'");
    CHECK(e.file->path() == "t.moa");
    REQUIRE(e.notes.size() == 1);
    CHECK(e.notes[0].file->path().find("moa.moa") != std::string::npos);
    CHECK(e.notes[0].message == "'repeat' is computed here");
}

TEST_CASE("a chain of repeat = 0 layers that each read the one before twice is resolved once per layer") {
    // Each pass-through used to be expanded again for every reader, doubling the
    // work at every step: 2^40 here (it ran out of memory at 25).
    std::string src = "layer z0 = [a, b]\n";
    for (int i = 1; i <= 40; ++i)
        src += "layer z" + std::to_string(i) + " = a { inputs = [z" + std::to_string(i - 1) + ", z" +
               std::to_string(i - 1) + ".a]  prompt = agg  repeat = 0 }\n";
    src += "layer g = a { inputs = z40  prompt = agg }\noutput o = g\n";
    auto c = check(src);
    std::string errs = c->errors();
    CHECK(std::count(errs.begin(), errs.end(), '\n') == 40);  // z_i lists z0.a twice, once per layer
    CHECK(errs.find("input 'z0.a' is listed more than once in layer 'z40'") != std::string::npos);
}

TEST_CASE("an override (--set) whose value does not parse says that strings go in quotes") {
    auto c = check(kUsesApi, {"a.stop=x:y"});
    REQUIRE(c->diags.error_count() == 1);
    const auto& e = c->diags.all().front();
    CHECK(e.message == "expected `NAME.field=value`, found ':'");
    REQUIRE(e.notes.size() == 1);
    CHECK(e.notes[0].message.find("a string goes in double quotes") != std::string::npos);
}
