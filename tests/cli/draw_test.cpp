// `moa graph --format dot|mermaid`: the drawings go through the real `dot` (graphviz,
// installed by .ci/deps) and are compared with the graph's own text dump.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace fs = std::filesystem;

namespace {

struct Out {
    int code = -1;
    std::string text;  // stdout only: drawings are parsed
};

Out sh(const std::string& cmd) {
    Out r;
    FILE* p = popen(("cd " MOA_SOURCE_DIR " && " + cmd).c_str(), "r");
    REQUIRE(p);
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.text.append(buf.data(), n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string moa(const std::string& args) { return std::string(MOA_BIN) + " " + args; }

fs::path write_graph(const std::string& name, const std::string& text) {
    fs::path dir = fs::temp_directory_path() / "moa-draw-test";
    fs::create_directories(dir);
    fs::path p = dir / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

const char* kPrelude =
    "import \"moa.moa\"\n"
    "backend sim {\n  kind = sim\n}\n";

std::string agent(const std::string& name) {
    return "agent " + name + " {\n  backend = sim\n  model = \"m-" + name + "\"\n}\n";
}

// What a drawing must contain, from the text dump: the query, every node, every
// route and every output, each one distinct.
std::set<std::string> expected_ids(const std::string& graph) {
    Out t = sh(moa("graph " + graph));
    REQUIRE(t.code == 0);
    std::set<std::string> ids = {"query"};
    std::regex node(R"(^  node (\S+) )"), route(R"(^route (\S+) )"), output(R"(^output (\S+) = )");
    std::smatch m;
    std::istringstream in(t.text);
    for (std::string line; std::getline(in, line);) {
        if (std::regex_search(line, m, node)) ids.insert(m[1]);
        else if (std::regex_search(line, m, route)) ids.insert("route " + m[1].str());
        else if (std::regex_search(line, m, output)) ids.insert("output " + m[1].str());
    }
    return ids;
}

// The node titles graphviz drew, from its SVG (each node is one <g class="node">).
std::multiset<std::string> svg_nodes(const std::string& svg) {
    std::multiset<std::string> titles;
    std::regex node(R"(<g id="node\d+" class="node">\s*<title>([^<]*)</title>)");
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), node); it != std::sregex_iterator(); ++it) {
        std::string t = (*it)[1];
        for (auto [from, to] : {std::pair<std::string, std::string>{"&#45;", "-"}, {"&amp;", "&"}, {"&quot;", "\""}})
            for (size_t k; (k = t.find(from)) != std::string::npos;) t.replace(k, from.size(), to);
        titles.insert(t);
    }
    return titles;
}

// Mermaid node definitions (`ID[...]`, `ID{...}`, `ID([...])`), labels removed.
std::multiset<std::string> mermaid_nodes(std::string text) {
    text = std::regex_replace(text, std::regex(R"("[^"]*")"), "\"\"");
    std::multiset<std::string> ids;
    std::regex def(R"(\b(\w+)(\(\[|\[|\{))");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), def); it != std::sregex_iterator(); ++it)
        ids.insert((*it)[1]);
    return ids;
}

void require_graphviz() { REQUIRE(sh("command -v dot >/dev/null 2>&1").code == 0); }

}  // namespace

TEST_CASE("names that differ only in where the underscore falls draw as distinct nodes in DOT and Mermaid") {
    require_graphviz();
    // Under the old scheme (non-alphanumerics folded to '_') each pair became one id:
    // a_b.c / a.b_c, route r / layer route agent r, output answer / out.answer.
    auto g = write_graph("collide.moa", std::string(kPrelude) + agent("c") + agent("b_c") + agent("r") + agent("answer") +
                                            "layer a_b = c\n"
                                            "layer a = b_c\n"
                                            "layer route = r\n"
                                            "layer out = answer {\n  inputs = [a_b, a, route]\n  prompt = aggregate\n}\n"
                                            "output answer = out\n");
    auto want = expected_ids(g.string());
    REQUIRE(want.size() == 6);  // the query, 4 nodes, 1 output
    Out svg = sh(moa("graph --format dot " + g.string()) + " | dot -Tsvg");
    REQUIRE(svg.code == 0);
    auto drawn = svg_nodes(svg.text);
    CHECK(drawn.size() == want.size());
    CHECK(std::set<std::string>(drawn.begin(), drawn.end()) == want);

    auto routed = write_graph("collide-route.moa", std::string(kPrelude) + agent("c") + agent("r") +
                                                       "route r {\n  on = query\n  when \"x\" -> route\n  otherwise -> a\n}\n"
                                                       "layer route = r\nlayer a = c\n"
                                                       "layer fin = c {\n  inputs = [route, a]\n  prompt = aggregate\n}\n"
                                                       "output answer = fin\n");
    want = expected_ids(routed.string());
    REQUIRE(want.count("route r"));
    REQUIRE(want.count("route.r"));
    svg = sh(moa("graph --format dot " + routed.string()) + " | dot -Tsvg");
    REQUIRE(svg.code == 0);
    drawn = svg_nodes(svg.text);
    CHECK(drawn.size() == want.size());
    CHECK(std::set<std::string>(drawn.begin(), drawn.end()) == want);

    for (const auto& file : {g, routed}) {
        Out m = sh(moa("graph --format mermaid " + file.string()));
        REQUIRE(m.code == 0);
        auto ids = mermaid_nodes(m.text);
        INFO(m.text);
        CHECK(ids.size() == expected_ids(file.string()).size());
        CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());  // each defined once
    }
}

TEST_CASE("fan-in rules and every route pattern appear in DOT and Mermaid drawings") {
    auto g = write_graph("rules.moa", std::string(kPrelude) + agent("a") + agent("b") + agent("c") +
                                          "route topic {\n  on = query\n  when \"code\", \"bug\", \"compile\" -> coders\n"
                                          "  otherwise -> general\n}\n"
                                          "layer coders = [a, b, c]\nlayer general = [a, b]\n"
                                          "layer merge = [a, b] {\n  inputs = [coders, general]\n  prompt = aggregate\n"
                                          "  fan_in = at_least(3)\n}\n"
                                          "layer final = c {\n  inputs = merge\n  prompt = aggregate\n  fan_in = deadline(500ms)\n}\n"
                                          "output answer = final\n");
    Out dot = sh(moa("graph --format dot " + g.string()));
    REQUIRE(dot.code == 0);
    CHECK(dot.text.find("fan_in = at_least(3)") != std::string::npos);
    CHECK(dot.text.find("fan_in = deadline(500ms)") != std::string::npos);
    CHECK(dot.text.find(R"(\"code\" | \"bug\" | \"compile\")") != std::string::npos);
    Out mm = sh(moa("graph --format mermaid " + g.string()));
    REQUIRE(mm.code == 0);
    CHECK(mm.text.find("fan_in = at_least(3)") != std::string::npos);
    CHECK(mm.text.find("fan_in = deadline(500ms)") != std::string::npos);
    CHECK(mm.text.find("#quot;code#quot; | #quot;bug#quot; | #quot;compile#quot;") != std::string::npos);
}

TEST_CASE("graphviz keeps every layer's nodes in declaration order, left to right") {
    require_graphviz();
    // Graphviz's crossing reduction used to put p.a#7 .. p.a#12 left of p.a#1.
    auto g = write_graph("order.moa", std::string(kPrelude) + agent("a") + agent("b") + agent("d") +
                                          "layer p = [a * 12, b, d]\n"
                                          "layer x = d {\n  inputs = p.a\n  prompt = aggregate\n}\n"
                                          "layer y = [b, a * 3] {\n  inputs = [p.d, p.b]\n  prompt = aggregate\n}\n"
                                          "layer f = a {\n  inputs = [x, y, p.b]\n  prompt = aggregate\n}\n"
                                          "output answer = f\n");
    Out plain = sh(moa("graph --format dot " + g.string()) + " | dot -Tplain");
    REQUIRE(plain.code == 0);
    std::map<std::string, double> x;
    std::regex node(R"(^node ("[^"]*"|\S+) (\S+) )");
    std::istringstream in(plain.text);
    std::smatch m;
    for (std::string line; std::getline(in, line);)
        if (std::regex_search(line, m, node)) {
            std::string id = m[1];
            if (id.front() == '"') id = id.substr(1, id.size() - 2);
            x[id] = std::stod(m[2]);
        }
    std::vector<std::vector<std::string>> layers = {{}, {"y.b", "y.a#1", "y.a#2", "y.a#3"}};
    for (int k = 1; k <= 12; ++k) layers[0].push_back("p.a#" + std::to_string(k));
    layers[0].push_back("p.b");
    layers[0].push_back("p.d");
    for (const auto& l : layers)
        for (size_t k = 1; k < l.size(); ++k) {
            INFO(l[k - 1] << " then " << l[k]);
            REQUIRE(x.count(l[k - 1]));
            REQUIRE(x.count(l[k]));
            CHECK(x[l[k - 1]] < x[l[k]]);
        }
}

TEST_CASE("every graph and example in the repository renders through dot with one node per query, node, route and output") {
    require_graphviz();
    for (const char* dir : {"graphs", "examples"})
        for (const auto& e : fs::directory_iterator(fs::path(MOA_SOURCE_DIR) / dir)) {
            if (e.path().extension() != ".moa") continue;
            std::string f = fs::relative(e.path(), MOA_SOURCE_DIR).string();
            INFO(f);
            auto want = expected_ids(f);
            Out svg = sh(moa("graph --format dot " + f) + " | dot -Tsvg");
            REQUIRE(svg.code == 0);
            auto drawn = svg_nodes(svg.text);
            CHECK(drawn.size() == want.size());
            CHECK(std::set<std::string>(drawn.begin(), drawn.end()) == want);
            Out mm = sh(moa("graph --format mermaid " + f));
            REQUIRE(mm.code == 0);
            CHECK(mermaid_nodes(mm.text).size() == want.size());
        }
}

TEST_CASE("moa graph shows a picking layer (result = pick) in every format") {
    const std::string f = "tests/golden/valid/ranker.moa";
    Out text = sh(moa("graph " + f));
    CHECK(text.text.find("node rank.judge agent=judge inputs=[propose.a, propose.b#1, propose.b#2, propose.c] fan_in=all "
                         "prompt=rank result=pick\n") != std::string::npos);
    Out json = sh(moa("graph --format json " + f));
    CHECK(json.text.find(R"("id":"rank.judge")") != std::string::npos);
    CHECK(json.text.find(R"("result":"pick")") != std::string::npos);
    CHECK(json.text.find(R"("result":"reply")") != std::string::npos);  // the proposers
    Out dot = sh(moa("graph --format dot " + f));
    CHECK(dot.text.find(R"(label="rank\nresult = pick")") != std::string::npos);
    Out mm = sh(moa("graph --format mermaid " + f));
    CHECK(mm.text.find(R"x(subgraph L2 ["rank (result = pick)"])x") != std::string::npos);
}
