// Parser unit tests: the syntax tree's shape and spans, literal spellings kept
// verbatim, and recovery (every syntax error of a file in one run).
#include <catch2/catch.hpp>

#include "parser.hpp"

namespace {

struct Parsed {
    moa::ast::File file;
    moa::Diagnostics diags;
    std::shared_ptr<moa::SourceFile> src;
};

std::unique_ptr<Parsed> parse(const std::string& text) {
    auto p = std::make_unique<Parsed>();
    p->src = std::make_shared<moa::SourceFile>("t.moa", text);
    p->file = moa::parse_file(p->src, p->diags);
    return p;
}

std::string messages(const moa::Diagnostics& d) {
    std::string r;
    for (const auto& x : d.all()) {
        auto lc = x.file->locate(x.offset);
        r += std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + x.message + "\n";
    }
    return r;
}

}  // namespace

TEST_CASE("declarations keep keyword, name, value, body and spans") {
    auto p = parse("agent a {\n  model = \"m\"\n}\nlayer l = [a, a * 2] { inputs = query }\n");
    REQUIRE(p->diags.empty());
    REQUIRE(p->file.decls.size() == 2);
    const auto& a = p->file.decls[0];
    CHECK(a.keyword == "agent");
    CHECK(a.name == "a");
    CHECK(a.name_span.begin == 6);
    CHECK(a.span.begin == 0);
    CHECK(a.span.end == 25);
    REQUIRE(a.body);
    REQUIRE(a.body->items.size() == 1);
    CHECK(a.body->items[0].field.key == "model");
    CHECK(a.body->items[0].field.value.first.literal.text == "\"m\"");
    const auto& l = p->file.decls[1];
    REQUIRE(l.value);
    REQUIRE(l.value->first.kind == moa::ast::Operand::Kind::List);
    const auto& items = l.value->first.list->items;
    REQUIRE(items.size() == 2);
    REQUIRE(items[1].rest.size() == 1);
    CHECK(items[1].rest[0].first == '*');
    CHECK(items[1].rest[0].second.literal.text == "2");
}

TEST_CASE("literal kinds and spellings") {
    auto p = parse("backend b { a = 250ms  b = 60/min  c = -1.5e3  d = \"x\\ty\"  e = \"\"\"\n  t\n  \"\"\"  f = 30sec }");
    REQUIRE(p->diags.empty());
    const auto& items = p->file.decls[0].body->items;
    using K = moa::ast::LiteralKind;
    std::vector<std::pair<K, std::string>> expect = {
        {K::Duration, "250ms"}, {K::Rate, "60/min"}, {K::Number, "-1.5e3"},
        {K::String, "\"x\\ty\""}, {K::TextBlock, "\"\"\"\n  t\n  \"\"\""}, {K::Number, "30sec"}};
    REQUIRE(items.size() == expect.size());
    for (size_t i = 0; i < expect.size(); ++i) {
        CHECK(items[i].field.value.first.literal.kind == expect[i].first);
        CHECK(items[i].field.value.first.literal.text == expect[i].second);
    }
}

TEST_CASE("route arms, calls, nested blocks, topology and use") {
    auto p = parse(
        "route r {\n  on = query\n  when \"code\", \"bug\" -> coders\n  otherwise -> general\n}\n"
        "topology t(a, n = 3) {\n  layer x = a { repeat = n - 1  fan_in = deadline(30s) }\n}\n"
        "use t(a = [p, q]) as inst\n");
    REQUIRE(messages(p->diags) == "");
    REQUIRE(p->file.decls.size() == 3);
    const auto& arms = p->file.decls[0].body->items;
    CHECK(arms[1].kind == moa::ast::Item::Kind::Arm);
    CHECK(arms[1].arm.patterns.size() == 2);
    CHECK(arms[1].arm.target.joined() == "coders");
    CHECK(arms[2].arm.otherwise);
    const auto& t = p->file.decls[1];
    CHECK(t.has_params);
    REQUIRE(t.params.size() == 2);
    CHECK_FALSE(t.params[0].value);
    CHECK(t.params[1].value);
    CHECK(t.body->items[0].kind == moa::ast::Item::Kind::Decl);
    CHECK(p->file.decls[2].alias == "inst");
}

TEST_CASE("comments are collected with their spans, strings are not comments") {
    auto p = parse("# one\nagent a { model = \"# not a comment\" }  # two\n");
    REQUIRE(p->file.comments.size() == 2);
    CHECK(p->file.comments[0].text == "# one");
    CHECK(p->file.comments[1].text == "# two");
}

TEST_CASE("every syntax error of a file is reported, recovering at the next declaration") {
    auto p = parse(
        "agent a { model = }\n"
        "agent b { model = \"ok\" }\n"
        "agnet c { }\n"
        "layer l = [a, b\n"
        "output o = l\n"
        "template t = \"unterminated\n");
    CHECK(messages(p->diags) ==
          "1:19: expected a value, found '}'\n"
          "3:1: unknown declaration 'agnet'; did you mean 'agent'?\n"
          "5:1: expected ']' or ',', found 'output'\n"
          "6:27: unterminated string: expected '\"' to close the string, found end of line\n");
    // The good declarations survive.
    REQUIRE(p->file.decls.size() == 2);
    CHECK(p->file.decls[0].name == "b");
    CHECK(p->file.decls[1].name == "o");
}

TEST_CASE("the error count per file is capped") {
    std::string text;
    for (int i = 0; i < 200; ++i) text += "agent = \n";
    auto p = parse(text);
    CHECK(p->diags.error_count() == moa::kMaxErrorsPerFile + 1);
    CHECK(p->diags.all().back().message == "too many errors; giving up on this file");
}
