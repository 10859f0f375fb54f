// Prompt rendering (runtime/prompt.hpp) on its own: where the query and the numbered
// responses go, the agent's placeholders, the system and user messages, and text
// that looks like a placeholder staying data. Also parse_pick's edges that
// pick_test.cpp does not cover.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "runtime/prompt.hpp"

using namespace moa;

namespace {

std::string render(const std::string& tmpl, std::string_view query, const std::vector<std::string_view>& responses,
                   std::string_view agent = "alpha", std::string_view model = "m/alpha", std::string_view layer = "propose") {
    CompiledTemplate t(tmpl);
    CompiledTemplate::Context ctx{query, agent, model, layer, &responses};
    std::string out;
    t.render(ctx, out);
    return out;
}

NodePrompt node_prompt(const std::string& system, const std::string& user, const std::string& aggregate) {
    NodePrompt p;
    if (!system.empty()) p.system = CompiledTemplate(system);
    if (!user.empty()) p.user = CompiledTemplate(user);
    if (!aggregate.empty()) p.prompt = CompiledTemplate(aggregate);
    p.agent = "alpha";
    p.model = "m/alpha";
    p.layer = "refine";
    return p;
}

bool is(const Message& m, const char* role) { return std::strcmp(to_string(m.role), role) == 0; }

}  // namespace

TEST_CASE("prompt: the query and the numbered responses go where the template puts them") {
    CHECK(render("Q={{query}}\nR:\n{{responses}}\n({{count}} answers)", "why?", {"first", "second\nline", "third"}) ==
          "Q=why?\nR:\n1. first\n2. second\nline\n3. third\n(3 answers)");
    CHECK(render("{{responses}} / {{query}} / {{responses}}", "q", {"x"}) == "1. x / q / 1. x");
    // Spaces inside the braces are allowed; the text around is kept byte for byte.
    CHECK(render("  {{ query }}\t{{  count  }}  ", "q", {"a", "b"}) == "  q\t2  ");
}

TEST_CASE("prompt: text in the query or the responses that looks like a placeholder stays data") {
    const std::string query = "explain {{responses}} and {{query}} and {{agent}}";
    const std::vector<std::string_view> responses = {"{{query}}", "{{responses}} {{count}}", "}}{{"};
    std::string out = render("Q: {{query}}\n{{responses}}", query, responses);
    CHECK(out == "Q: explain {{responses}} and {{query}} and {{agent}}\n1. {{query}}\n2. {{responses}} {{count}}\n3. }}{{");
    // The same through a node's messages, and through the agent's user template.
    NodePrompt p = node_prompt("", "User asks: {{query}}", "{{responses}}");
    std::vector<Message> msgs = p.render(query, responses);
    REQUIRE(msgs.size() == 2);
    CHECK(msgs[0].content == "1. {{query}}\n2. {{responses}} {{count}}\n3. }}{{");
    CHECK(msgs[1].content == "User asks: " + query);
}

TEST_CASE("prompt: a template's unknown or unclosed braces are kept as written") {
    // The checker rejects unknown names in .moa files; the renderer never invents text.
    CHECK(render("a {{nope}} b", "q", {}) == "a {{nope}} b");
    CHECK(render("a {{query", "q", {}) == "a {{query");
    CHECK(render("{{query}}}}", "q", {}) == "q}}");
    CHECK(render("{{{{query}}", "q", {}) == "{{{{query}}");  // the name is "{{query": unknown
    CHECK(render("", "q", {"r"}).empty());
}

TEST_CASE("prompt: the agent's own name, model and layer fill their placeholders") {
    CHECK(render("I am {{agent}} ({{model}}) in {{layer}}.", "q", {}, "critic", "m/beta", "judge[2]") ==
          "I am critic (m/beta) in judge[2].");
    NodePrompt p = node_prompt("You are {{agent}}, running {{model}} in layer {{layer}}.", "", "");
    std::vector<Message> msgs = p.render("q", {});
    REQUIRE(msgs.size() == 2);
    CHECK(msgs[0].content == "You are alpha, running m/alpha in layer refine.");
}

TEST_CASE("prompt: no responses means no aggregation text; the count is 0") {
    CHECK(render("[{{responses}}] {{count}}", "q", {}) == "[] 0");
    // A node without inputs (or whose inputs all failed) renders no aggregation prompt:
    // with no system template either, the query alone is the user message.
    NodePrompt bare = node_prompt("", "", "Synthesize:\n{{responses}}");
    std::vector<Message> msgs = bare.render("the question", {});
    REQUIRE(msgs.size() == 1);
    CHECK(is(msgs[0], "user"));
    CHECK(msgs[0].content == "the question");
    NodePrompt with_system = node_prompt("Be brief.", "", "Synthesize:\n{{responses}}");
    msgs = with_system.render("the question", {});
    REQUIRE(msgs.size() == 2);
    CHECK(msgs[0].content == "Be brief.");
    // An empty response is still a numbered response.
    CHECK(render("{{responses}}", "q", {"", "b"}) == "1. \n2. b");
}

TEST_CASE("prompt: the system message is the agent's system text, a blank line, then the aggregation prompt") {
    NodePrompt p = node_prompt("You are {{agent}}.", "Question: {{query}}", "Responses:\n{{responses}}");
    std::vector<Message> msgs = p.render("2+2?", {"4", "four"});
    REQUIRE(msgs.size() == 2);
    CHECK(is(msgs[0], "system"));
    CHECK(msgs[0].content == "You are alpha.\n\nResponses:\n1. 4\n2. four");
    CHECK(is(msgs[1], "user"));
    CHECK(msgs[1].content == "Question: 2+2?");
    // Without the agent's system text the aggregation prompt is the whole system message.
    NodePrompt q = node_prompt("", "", "Responses:\n{{responses}}");
    msgs = q.render("2+2?", {"4"});
    REQUIRE(msgs.size() == 2);
    CHECK(msgs[0].content == "Responses:\n1. 4");
    CHECK(msgs[1].content == "2+2?");  // no user template: the query unchanged
}

TEST_CASE("parse_pick: the reason names the range and quotes the reply on one line, cut at 80 bytes") {
    std::string why;
    CHECK(parse_pick("I pick\nresponse 9\r\nof them", 2, why) == -1);
    CHECK(why == "result = pick: the reply names response 9, but there are 2 responses (it must be one number from 1 to 2): "
                 "\"I pick response 9  of them\"");
    CHECK(parse_pick("2", 1, why) == -1);
    CHECK(why.find("but there is 1 response (it must be one number from 1 to 1)") != std::string::npos);
    std::string long_reply = "Response 7 " + std::string(200, 'x');
    CHECK(parse_pick(long_reply, 3, why) == -1);
    CHECK(why.find("\"" + long_reply.substr(0, 77) + "...\"") != std::string::npos);
}

TEST_CASE("parse_pick: a number too long for any count is out of range, not an exception") {
    std::string why;
    CHECK(parse_pick("12345678901234567890123", 3, why) == -1);
    CHECK(why.find("names response 12345678901234567890123, but there are 3 responses") != std::string::npos);
    CHECK(parse_pick("1000000000", 3, why) == -1);
    CHECK(parse_pick("Response 1", 0, why) == -1);  // nothing to pick from
    CHECK(why.find("there are 0 responses") != std::string::npos);
}

TEST_CASE("parse_pick: the same number written twice, with or without leading zeros, is one pick") {
    std::string why;
    CHECK(parse_pick("2 ... final answer: 02", 3, why) == 1);
    CHECK(parse_pick("-0", 3, why) == -1);  // minus zero is zero: out of range, not negative
    CHECK(why.find("names response 0, but") != std::string::npos);
}
