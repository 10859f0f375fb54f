// moa/json_writer.hpp: the one JSON writer. Its strings are escaped exactly as every
// moa file has always been written (golden and CLI tests compare bytes).
#include <catch2/catch.hpp>

#include "moa/json_writer.hpp"

using moa::JsonWriter;

TEST_CASE("json strings escape quotes, backslashes and control characters and nothing else") {
    CHECK(moa::json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(moa::json_quote("\n\r\t") == "\"\\n\\r\\t\"");
    CHECK(moa::json_quote(std::string("\0\x01\x08\x0c\x1f", 5)) == "\"\\u0000\\u0001\\u0008\\u000c\\u001f\"");  // lowercase hex, no \b \f
    CHECK(moa::json_quote("\x7f/") == "\"\x7f/\"");  // DEL and '/' as they are
    CHECK(moa::json_quote("\xC3\xA9 \xF0\x9F\x8E\x89") == "\"\xC3\xA9 \xF0\x9F\x8E\x89\"");  // UTF-8 copied
    CHECK(moa::json_quote("\xFF\xC3 \xED\xA0\x80") == "\"\xFF\xC3 \xED\xA0\x80\"");  // invalid UTF-8 copied byte for byte
}

TEST_CASE("the writer places every comma and colon: objects, arrays, nesting, scalars") {
    std::string s;
    JsonWriter w(s);
    w.begin_object().key("id").null().key("line").value(uint64_t{7}).key("ok").value(true).key("neg").value(-3);
    w.key("x").number(0.1).key("big").number(1e20).key("list").strings({"a", "b"}).key("empty").begin_array().end_array();
    w.key("o").begin_object().key("k\"").value("v").end_object().key("raw").raw("{\"a\":1}").end_object();
    CHECK(s == "{\"id\":null,\"line\":7,\"ok\":true,\"neg\":-3,\"x\":0.1,\"big\":1e+20,\"list\":[\"a\",\"b\"],\"empty\":[],"
               "\"o\":{\"k\\\"\":\"v\"},\"raw\":{\"a\":1}}");
}

TEST_CASE("a top-level array of scalars and of objects") {
    std::string s;
    JsonWriter(s).begin_array().value("a").value(false).begin_object().end_object().begin_array().end_array().end_array();
    CHECK(s == "[\"a\",false,{},[]]");
}

TEST_CASE("pretty levels put the first levels' members on lines of their own and keep deeper ones compact") {
    std::string s;
    JsonWriter w(s, 2);
    w.begin_object().key("list").begin_array();
    w.begin_object().key("a").value(1).key("b").strings({"x"}).end_object();
    w.begin_object().end_object();
    w.end_array().key("none").begin_array().end_array().end_object();
    CHECK(s == "{\n  \"list\": [\n    {\"a\":1,\"b\":[\"x\"]},\n    {}\n  ],\n  \"none\": [\n  ]\n}");
}

TEST_CASE("a spaced array separates its members with a comma and a space, and only its own") {
    std::string s;
    JsonWriter(s).begin_object().key("l").strings({"a", "b", "c"}, true).key("o").begin_array(true).begin_object().key("x").value(1).key("y").value(2).end_object().value(3).end_array().end_object();
    CHECK(s == "{\"l\":[\"a\", \"b\", \"c\"],\"o\":[{\"x\":1,\"y\":2}, 3]}");
}
