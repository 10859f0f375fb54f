// Modes of the public API are enums with one spelling each, shared with the CLI flags.
#include <catch2/catch.hpp>

#include "moa/batch_io.hpp"
#include "moa/cache_mode.hpp"
#include "moa/diagnostics.hpp"
#include "moa/dsl.hpp"

using namespace moa;

TEST_CASE("every cache mode spelling of --cache parses to its enum and prints back the same") {
    for (const char* s : {"off", "rw", "read", "replay", "refresh"}) {
        auto m = parse_cache_mode(s);
        REQUIRE(m);
        CHECK(std::string(to_string(*m)) == s);
    }
    CHECK(parse_cache_mode("rw") == CacheMode::ReadWrite);
    for (const char* s : {"", "RW", "readwrite", "cache.db", "rw "}) CHECK_FALSE(parse_cache_mode(s));
}

TEST_CASE("every --format spelling of moa run parses to its OutputFormat and prints back the same") {
    for (const char* s : {"text", "jsonl", "alpaca-eval"}) {
        auto f = parse_output_format(s);
        REQUIRE(f);
        CHECK(std::string(to_string(*f)) == s);
    }
    CHECK(parse_output_format("alpaca-eval") == OutputFormat::AlpacaEval);
    CHECK_FALSE(parse_output_format("json"));
}

TEST_CASE("the --format spellings of moa check and moa graph parse to their enums") {
    CHECK(parse_diag_format("github") == DiagFormat::GitHub);
    CHECK(parse_diag_format("json") == DiagFormat::Json);
    CHECK(parse_diag_format("text") == DiagFormat::Text);
    CHECK_FALSE(parse_diag_format("sarif"));
    CHECK(parse_dump_format("mermaid") == DumpFormat::Mermaid);
    CHECK(parse_dump_format("dot") == DumpFormat::Dot);
    CHECK(parse_dump_format("json") == DumpFormat::Json);
    CHECK(parse_dump_format("text") == DumpFormat::Text);
    CHECK_FALSE(parse_dump_format("svg"));
}
