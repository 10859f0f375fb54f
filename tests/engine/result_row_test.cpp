// Resume reads result rows as JSON, not as the bytes format_row happens to write: field
// order and spacing do not matter, and anything that is not a complete row of ours is
// refused (its input line runs again).
#include <catch2/catch.hpp>

#include <sstream>

#include "moa/batch_io.hpp"

using namespace moa;

namespace {

std::string ok_row() {
    JobResult r;
    r.ok = true;
    r.outputs = {{"final", "the answer"}};
    InputLine in;
    in.line = 3;
    in.has_id = true;
    in.id = "q\"1";
    in.query = "why?";
    RowOptions o;
    o.fingerprint = "0123456789abcdef";
    std::string row = format_row(r, in, o);
    row.pop_back();  // the newline
    return row;
}

bool parses(std::string text, RowInfo& info) { return parse_row(text, info); }

std::string field(const std::string& row, const std::string& name) {  // "name":value of `row`
    size_t at = row.find("\"" + name + "\":");
    REQUIRE(at != std::string::npos);
    size_t end = at + name.size() + 3;
    int depth = 0;
    bool str = false;
    for (; end < row.size(); ++end) {
        char c = row[end];
        if (str) {
            if (c == '\\') ++end;
            else if (c == '"') str = false;
        } else if (c == '"') str = true;
        else if (c == '{' || c == '[') ++depth;
        else if ((c == '}' || c == ']') && depth-- == 0) break;
        else if (c == ',' && depth == 0) break;
    }
    return row.substr(at, end - at);
}

}  // namespace

TEST_CASE("a result row is read as JSON whatever its field order and spacing") {
    const std::string row = ok_row();
    RowInfo a, b;
    REQUIRE(parses(row, a));
    CHECK(a.line == 3);
    CHECK(a.ok);
    CHECK(a.id == "q\"1");
    CHECK(a.fingerprint == "0123456789abcdef");
    std::string reordered = "{ " + field(row, "input_hash") + " ,\n\t" + field(row, "fingerprint") + " , " + field(row, "output") +
                            ",  " + field(row, "ok") + ", " + field(row, "line") + " , " + field(row, "id") + " }  ";
    INFO(reordered);
    REQUIRE(parses(reordered, b));
    CHECK(b.line == a.line);
    CHECK(b.ok == a.ok);
    CHECK(b.id == a.id);
    CHECK(b.fingerprint == a.fingerprint);
    CHECK(b.input_hash == a.input_hash);
}

TEST_CASE("anything that is not a complete result row of ours is refused") {
    const std::string row = ok_row();
    RowInfo info;
    auto without = [&](const std::string& name) {
        std::string f = field(row, name), r = row;
        size_t at = r.find(f);
        bool first = r[at - 1] == '{';
        return r.erase(first ? at : at - 1, f.size() + 1);
    };
    for (const char* name : {"id", "line", "ok", "output", "fingerprint", "input_hash"}) {
        INFO("without " << name << ": " << without(name));
        CHECK_FALSE(parses(without(name), info));
    }
    std::string hash = field(row, "input_hash");
    for (const char* bad_hash : {"\"0x123456\"", "\"+1234567\"", "\" 1234567\"", "\"1234567\"", "\"123456789\"", "\"1234567g\"", "12345678"}) {
        std::string r = row;
        r.replace(r.find(hash), hash.size(), std::string("\"input_hash\":") + bad_hash);
        INFO(r);
        CHECK_FALSE(parses(r, info));
    }
    for (const std::string& bad : {row.substr(0, row.size() - 1), row + " x", row + row, "[" + row + "]", std::string("null"),
                                   std::string("{}")}) {
        INFO(bad);
        CHECK_FALSE(parses(bad, info));
    }
    std::string number_id = row;
    number_id.replace(number_id.find(field(row, "id")), field(row, "id").size(), "\"id\":7");
    CHECK_FALSE(parses(number_id, info));
    std::string line0 = row;
    line0.replace(line0.find(field(row, "line")), field(row, "line").size(), "\"line\":0");
    CHECK_FALSE(parses(line0, info));
}
