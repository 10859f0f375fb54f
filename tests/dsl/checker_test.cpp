// Checker unit tests: semantics of the IR (replicas, repeat, aliases, skip edges,
// routes) and a table of {source, first error} for the checks.
#include <catch2/catch.hpp>

#include <sstream>

#include "moa/dsl.hpp"
#include "moa/duration.hpp"
#include "source.hpp"

namespace {

const char* kPrelude =
    "backend sim { kind = sim }\n"
    "template agg = \"{{responses}}\"\n"
    "agent a { backend = sim  model = \"ma\" }\n"
    "agent b { backend = sim  model = \"mb\" }\n"
    "agent c { backend = sim  model = \"mc\" }\n";

struct Checked {
    moa::LoadResult result;
    moa::Diagnostics diags;
    std::string errors() const {
        std::string r;
        for (const auto& d : diags.all()) {
            if (d.severity != moa::Severity::Error) continue;
            auto lc = d.file ? d.file->locate(d.offset) : moa::LineCol{};
            r += std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + d.message + "\n";
        }
        return r;
    }
    std::string warnings() const {
        std::string r;
        for (const auto& d : diags.all())
            if (d.severity == moa::Severity::Warning) r += d.message + "\n";
        return r;
    }
    std::string dump() const {
        std::ostringstream out;
        moa::dump_graph(out, result.graph, moa::DumpFormat::Text);
        return out.str();
    }
};

std::unique_ptr<Checked> check(const std::string& body, bool prelude = true) {
    auto c = std::make_unique<Checked>();
    moa::LoadOptions opts;
    opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    c->result = moa::load_graph_text("t.moa", (prelude ? std::string(kPrelude) : "") + body, opts, c->diags);
    return c;
}

std::vector<std::string> inputs_of(const moa::GraphSpec& g, const std::string& id) {
    const auto* n = g.node(id);
    REQUIRE(n);
    return n->inputs;
}

}  // namespace

TEST_CASE("replicas are distinct nodes with distinct sample indices") {
    auto c = check("layer p = [a * 3, b]\nlayer f = c { inputs = p  prompt = agg }\noutput o = f\n");
    REQUIRE(c->errors() == "");
    const auto& g = c->result.graph;
    REQUIRE(g.layers.size() == 2);
    CHECK(g.layers[0].nodes == std::vector<std::string>{"p.a#1", "p.a#2", "p.a#3", "p.b"});
    CHECK(g.node("p.a#3")->replica == 2);
    CHECK(inputs_of(g, "f.c") == std::vector<std::string>{"p.a#1", "p.a#2", "p.a#3", "p.b"});
}

TEST_CASE("repeat chains copies, and repeat = 0 passes inputs through") {
    auto c = check(
        "layer p = [a, b]\n"
        "layer r = [a, b] { inputs = p  prompt = agg  repeat = 2 }\n"
        "layer z = [a] { inputs = r  prompt = agg  repeat = 0 }\n"
        "layer f = c { inputs = z  prompt = agg }\n"
        "output o = f\n");
    REQUIRE(c->errors() == "");
    const auto& g = c->result.graph;
    CHECK(inputs_of(g, "r[1].a") == std::vector<std::string>{"p.a", "p.b"});
    CHECK(inputs_of(g, "r[2].b") == std::vector<std::string>{"r[1].a", "r[1].b"});
    CHECK(inputs_of(g, "f.c") == std::vector<std::string>{"r[2].a", "r[2].b"});
    CHECK(g.node("z.a") == nullptr);
}

TEST_CASE("skip edges keep declared order, and layer.agent picks one node") {
    auto c = check(
        "layer p = [a, b]\n"
        "layer m = [a, b] { inputs = p  prompt = agg }\n"
        "layer f = c { inputs = [m, p.b]  prompt = agg }\n"
        "output o = f\n");
    REQUIRE(c->errors() == "");
    CHECK(inputs_of(c->result.graph, "f.c") == std::vector<std::string>{"m.a", "m.b", "p.b"});
}

TEST_CASE("layers and nodes are in dependency order whatever the declaration order") {
    auto c = check(
        "output o = f\n"
        "layer f = c { inputs = m  prompt = agg }\n"
        "layer m = [a] { inputs = p  prompt = agg }\n"
        "layer p = [a, b]\n");
    REQUIRE(c->errors() == "");
    const auto& g = c->result.graph;
    REQUIRE(g.layers.size() == 3);
    CHECK(g.layers[0].name == "p");
    CHECK(g.layers[1].name == "m");
    CHECK(g.layers[2].name == "f");
}

TEST_CASE("use ... as prefixes the instance's layers and outputs") {
    auto c = check(
        "import \"moa.moa\"\n"
        "use moa(proposers = [a, b], aggregator = c, layers = 2) as x\n"
        "use moa_lite(proposers = [a], aggregator = b) as y\n");
    REQUIRE(c->errors() == "");
    const auto& g = c->result.graph;
    REQUIRE(g.outputs.size() == 2);
    CHECK(g.outputs[0].name == "x.answer");
    CHECK(g.outputs[0].node == "x.aggregate.c");
    CHECK(inputs_of(g, "x.aggregate.c") == std::vector<std::string>{"x.propose.a", "x.propose.b"});
    CHECK(g.outputs[1].node == "y.aggregate.b");
}

TEST_CASE("routes gate their branches") {
    auto c = check(
        "layer cls = a\n"
        "layer code = b\n"
        "layer gen = c\n"
        "route r { on = cls.a  when \"code\" -> code  otherwise -> gen }\n"
        "layer f = a { inputs = [code, gen]  prompt = agg  fan_in = at_least(1) }\n"
        "output o = f\n");
    REQUIRE(c->errors() == "");
    const auto& g = c->result.graph;
    REQUIRE(g.routes.size() == 1);
    CHECK(g.routes[0].on == "cls.a");
    CHECK(g.routes[0].arms[0].patterns == std::vector<std::string>{"code"});
    for (const auto& l : g.layers) {
        if (l.name == "code" || l.name == "gen") CHECK(l.gate_route == "r");
        else CHECK(l.gate_route == "");
    }
    // the classifier must run before the gated layers
    CHECK(g.layers[0].name == "cls");
}

TEST_CASE("the IR keeps only what the nodes use") {
    auto c = check("import \"moa.moa\"\nlayer p = a\noutput o = p\n");
    REQUIRE(c->errors() == "");
    CHECK(c->result.graph.agents.size() == 1);
    CHECK(c->result.graph.templates.empty());
    CHECK(c->warnings() == "template 'agg' is never used\nagent 'b' is never used\nagent 'c' is never used\n");
}

TEST_CASE("checks: first error of each bad source") {
    struct Case {
        const char* source;
        const char* error;
    };
    const Case cases[] = {
        {"layer p = [a, d]\noutput o = p\n", "6:15: unknown agent 'd'\n"},
        {"layer p = [a]\nlayer f = b { inputs = q }\noutput o = f\n",
         "7:24: unknown layer 'q' in 'inputs'\n"},
        {"layer p = [a]\nlayer f = b { inputs = pp  prompt = agg }\noutput o = f\n",
         "7:24: unknown layer 'pp' in 'inputs'; did you mean 'p'?\n"},
        {"layer p = [a, b]\noutput o = p\n",
         "7:12: output 'o' needs one answer, but 'p' has 2 agents; add an aggregator layer or name one agent\n"},
        {"layer p = [a, a]\noutput o = p.a\n",
         "6:15: agent 'a' is listed twice in layer 'p'; write `a * n` for n samples\n"},
        {"layer p = [a]\nlayer f = b { inputs = p }\noutput o = f\n",
         "7:7: layer 'f' has inputs but no 'prompt' to show them with; add `prompt = aggregate` (import \"moa.moa\" for the standard one)\n"},
        {"layer p = [a] { prompt = agg }\noutput o = p\n",
         "6:26: template 'agg' uses {{responses}}, but layer 'p' receives no responses (it has no inputs)\n"},
        {"layer p = [a]\nlayer f = b { inputs = p  prompt = agg  fan_in = at_least(2) }\noutput o = f\n",
         "7:50: at_least(2) but layer 'f' has only 1 input\n"},
        {"layer p = [a]\nlayer f = b { inputs = p  prompt = agg  fan_in = atleast(1) }\noutput o = f\n",
         "7:50: unknown fan-in rule 'atleast'; did you mean 'at_least'?\n"},
        {"layer p = [a]\n", "6:7: the graph has layers but no output; add `output answer = LAYER`\n"},
        {"layer p = [a]\nroute r { on = query  when \"x\" -> p }\noutput o = p\n",
         "7:7: route 'r' has no 'otherwise' arm; a query matching no pattern would have nowhere to go\n"},
        {"agent d { backend = sim  model = \"m\"  fallback = d }\nlayer p = d\noutput o = p\n",
         "6:50: an agent cannot be its own fallback\n"},
        {"layer p = [a] { repeat = 101 }\noutput o = p\n", "6:26: 'repeat' must be an integer in [0, 100], found 101\n"},
        {"layer p = [a * 0]\noutput o = p\n", "6:16: replica count must be an integer in [1, 1000]\n"},
        {"use moa(proposers = [a])\n", "6:5: unknown topology 'moa'; it is in the standard library: add `import \"moa.moa\"`\n"},
    };
    for (const auto& tc : cases) {
        INFO(tc.source);
        auto c = check(tc.source);
        std::string errs = c->errors();
        CHECK(errs.substr(0, errs.find('\n') + 1) == tc.error);
    }
}

TEST_CASE("one duration parser: the language and command-line ages accept the same spellings") {
    using moa::parse_duration_ms;
    CHECK(parse_duration_ms("250ms") == 250);
    CHECK(parse_duration_ms("1.5s") == 1500);
    CHECK(parse_duration_ms("2m") == 120000);
    CHECK(parse_duration_ms("5min") == 300000);
    CHECK(parse_duration_ms("12h") == 43200000);
    CHECK(parse_duration_ms("7d") == 604800000);
    CHECK(parse_duration_ms("2w") == 1209600000);
    CHECK(parse_duration_ms("-1h") == -3600000);
    // What `moa cache prune --older-than` used to read as age 0.
    for (const char* bad : {"h", "5days", "2weeks", "", "30", "30 s", " 30s", "30sec", "1.h", "s30"}) {
        std::string why;
        INFO(bad);
        CHECK_FALSE(parse_duration_ms(bad, &why));
        CHECK(why.find("ms, s, min, m, h, d or w") != std::string::npos);
    }
    // The language reads d and w too, through the same function.
    auto c = check("backend slow { kind = sim  timeouts { total = 1d }  retry { max_delay = 1w } }\n"
                   "agent x { backend = slow  model = \"x\" }\nlayer p = x\noutput o = p\n");
    CHECK(c->errors() == "6:73: 'max_delay' must be between 1ms and 24h\n");  // 1w parsed, out of range
    auto ok = check("backend slow { kind = sim  timeouts { total = 1d } }\nagent x { backend = slow  model = \"x\" }\n"
                    "layer p = x\noutput o = p\n");
    REQUIRE(ok->errors().empty());
    CHECK(ok->result.graph.backends.back().timeouts.total_ms == 86400000);
    CHECK(check("backend s2 { kind = sim  timeouts { total = 5days } }\n")->errors().find(
              "unknown unit 'days' in '5days' (durations take ms, s, min, m, h, d or w;") != std::string::npos);
}

TEST_CASE("the stdlib price table is read with the graph and a graph's own price overrides it") {
    moa::LoadOptions opts;
    opts.price_table = std::string(MOA_SOURCE_DIR) + "/stdlib/prices.moa";
    moa::Diagnostics d;
    auto r = moa::load_graph_text("t.moa",
                                  "backend sim { kind = sim }\n"
                                  "agent a { backend = sim  model = \"gpt-4o\" }\n"
                                  "agent b { backend = sim  model = \"gpt-4.1\" }\n"
                                  "price mine { model = \"gpt-4.1\"  input = 1  output = 2 }\n"
                                  "layer l = [a, b]\noutput o = l.a\noutput p = l.b\n",
                                  opts, d);
    REQUIRE(r.ok);
    CHECK(d.warning_count() == 0);  // the table's many unused prices are data, not warnings
    const moa::PriceSpec* a = r.graph.price("sim", "gpt-4o");
    REQUIRE(a);
    CHECK(a->stdlib);
    CHECK(a->as_of.size() == 10);
    const moa::PriceSpec* b = r.graph.price("sim", "gpt-4.1");
    REQUIRE(b);
    CHECK_FALSE(b->stdlib);
    CHECK(b->input == 1);
    CHECK(r.graph.prices.size() == 2);  // only the prices the agents resolve to
}

TEST_CASE("a price cannot be declared inside a topology") {
    auto c = check("topology t() { price p { model = \"m\"  input = 1  output = 1 } layer l = a output o = l }\n"
                   "use t()\n");
    CHECK(c->errors().find("a price cannot be declared inside a topology; declare it at the top level") !=
          std::string::npos);
}
