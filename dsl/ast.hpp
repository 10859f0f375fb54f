// The syntax tree of one .moa file, as the parser produces it.
//
// The grammar is deliberately generic (declarations hold `key = value` fields and
// values are a small expression language); what each declaration may contain is
// decided by the checker, which can then give precise messages ("unknown field
// 'temprature' in agent; did you mean 'temperature'?") instead of X3's
// "expected ...". Every node carries its byte range in the file.
//
// No Spirit header here: x3::variant/forward_ast are avoided so that the checker,
// formatter and tests compile without X3. The parser fills these structs through
// adapted "raw" structs of its own (see parser.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moa::ast {

struct Span {
    uint32_t begin = 0;  // byte offset of the first character
    uint32_t end = 0;    // one past the last character
};

struct Expr;
struct Block;

// A leaf literal. `text` is exactly the source spelling (so `moa fmt` keeps it):
// numbers "0.7", durations "250ms", rates "60/min", strings with their quotes and
// escapes undecoded, text blocks with their triple quotes.
enum class LiteralKind { Number, Duration, Rate, String, TextBlock };

struct Literal {
    LiteralKind kind = LiteralKind::Number;
    std::string text;
};

// a, a.b, a.b.c
struct Path {
    std::vector<std::string> parts;
    std::string joined() const;
};

struct Call {  // at_least(4), deadline(30s)
    std::string name;
    std::vector<Expr> args;
};

struct List {  // [a, b * 2, c]
    std::vector<Expr> items;
};

struct Operand;

// One operand of an expression; exactly one member is set (a tagged union kept as
// plain optionals/pointers so it copies and prints without ceremony).
struct Operand {
    enum class Kind { Literal, Path, Call, List, Block, Paren } kind = Kind::Literal;
    Span span;
    Literal literal;
    Path path;
    std::shared_ptr<Call> call;
    std::shared_ptr<List> list;
    std::shared_ptr<Block> block;
    std::shared_ptr<Expr> paren;
};

// operand (op operand)*, ops in source order; precedence is applied by the checker.
struct Expr {
    Span span;
    Operand first;
    std::vector<std::pair<char, Operand>> rest;  // op is one of + - *
};

struct Decl;

// `key = value`
struct Field {
    Span span;
    Span key_span;
    std::string key;
    Expr value;
};

// Route arms: `when "code", "bug" -> coders` and `otherwise -> general`.
struct Arm {
    Span span;
    bool otherwise = false;
    std::vector<Expr> patterns;  // empty for otherwise
    Path target;
    Span target_span;
};

struct Item {
    enum class Kind { Field, Arm, Decl } kind = Kind::Field;
    Field field;
    Arm arm;
    std::shared_ptr<Decl> decl;
    Span span() const;
};

struct Block {
    Span span;
    std::vector<Item> items;
};

// `moa(proposers, layers = 3)` in a topology head, or named arguments of `use`.
struct Param {
    Span span;
    std::string name;
    std::optional<Expr> value;
};

// keyword name? (params)? (= expr)? block? (as alias)?
//   import "stdlib/moa.moa"
//   backend together { ... }
//   template aggregate = """ ... """
//   layer refine = [a, b, c] { inputs = propose  prompt = aggregate }
//   topology moa(proposers, aggregator, layers = 3) { layer ... }
//   use moa(proposers = [a, b], aggregator = q) as paper
struct Decl {
    Span span;
    Span keyword_span;
    Span name_span;
    std::string keyword;
    std::string name;
    bool has_params = false;
    std::vector<Param> params;
    std::optional<Expr> value;
    std::optional<Block> body;
    std::string alias;
    Span alias_span;
};

struct Comment {
    Span span;
    std::string text;  // including the leading '#'
};

struct File {
    std::vector<Decl> decls;
    std::vector<Comment> comments;
    // Names of declarations dropped for syntax errors: references to them are not
    // reported again as unknown.
    std::vector<std::string> broken_names;
};

}  // namespace moa::ast
