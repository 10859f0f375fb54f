// Evaluation of field values: literals with units, strings with escapes, text
// blocks, references, lists, calls, and the small arithmetic used by topologies
// (`layers - 2`, `qwen * 6`). Topology parameters are substituted here.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ast.hpp"
#include "source.hpp"

namespace moa {

struct Env;

// Where a value came from, for diagnostics.
struct Origin {
    std::shared_ptr<const SourceFile> file;
    ast::Span span;
};

struct Val {
    enum class Kind { Number, Duration, Rate, String, Ref, List, Call, Block, Invalid };
    Kind kind = Kind::Invalid;
    Origin origin;
    double number = 0;      // Number
    bool integral = false;  // Number spelled without a fraction or exponent
    int64_t ms = 0;         // Duration
    double per_minute = 0;  // Rate
    std::string str;        // String (decoded), Call (name)
    std::vector<std::string> ref;  // Ref: path parts, scope-resolved
    int replicas = 1;              // Ref: `agent * n`
    std::string scope;             // Ref: instance prefix when ref[0] is a name local to it
    std::vector<Val> items;        // List items, Call arguments
    const ast::Block* block = nullptr;  // Block
    std::shared_ptr<const Env> env;     // Block: where its fields are evaluated
    std::string param;  // the topology argument (or graph param) this value was computed from, if any
    bool graph_param = false;  // `param` is a graph `param`, not a topology argument

    std::string ref_text() const;
    // The path with the instance prefix applied: for names of layers and routes.
    std::vector<std::string> scoped_ref() const;
};

const char* kind_name(Val::Kind k);

// Scope of evaluation: the top level, or the body of an instantiated topology
// (parameters bound to the use site's argument expressions, local layer names
// prefixed with the instance alias).
struct Env {
    struct Binding {
        const ast::Expr* expr = nullptr;
        std::shared_ptr<const Env> env;  // where `expr` is evaluated (null: this same scope,
                                         // for defaults; a pointer to itself would leak)
        std::shared_ptr<const SourceFile> file;
        bool graph = false;  // a graph `param` (top level), not a topology parameter
    };
    std::map<std::string, Binding> params;
    std::string prefix;                   // "paper." or ""
    std::vector<std::string> local_names; // layer/route names declared in the instance
    std::shared_ptr<const SourceFile> file;
    std::shared_ptr<const SourceFile> use_file;  // the `use` that instantiated this scope
    ast::Span use_span;                          // its topology name
    ast::Span use_decl_span;                     // the whole `use` (arguments included)
    std::string topology;                        // the instantiated topology's name
};

class Evaluator {
public:
    explicit Evaluator(Diagnostics& diags) : diags_(diags) {}
    Val eval(const ast::Expr& e, const std::shared_ptr<const Env>& env);
    Diagnostics& diags() { return diags_; }
    // Graph params whose value some expression used (for "never used" warnings).
    const std::set<std::string>& used_params() const { return used_params_; }

private:
    Val eval_operand(const ast::Operand& o, const std::shared_ptr<const Env>& env);
    Val eval_literal(const ast::Literal& l, Origin origin);
    Val apply(char op, Val lhs, Val rhs);
    Diagnostics& diags_;
    int depth_ = 0;
    std::set<std::string> used_params_;
};

// Decodes "..." with escapes (\n \t \r \" \\ \u{hex}); reports bad escapes.
bool decode_string(const std::string& quoted, std::string& out, std::string& error,
                   size_t& error_at);
// The body of a """ text block: the common indentation removed, the first newline
// after the opening quotes and the last line's indentation before the closing quotes
// dropped.
std::string decode_text_block(const std::string& quoted);

// {{name}} placeholders of a template, with offsets in the text; unterminated `{{`
// is reported through `error` (offset in error_at).
struct Placeholder {
    std::string name;
    size_t offset = 0;
};
bool find_placeholders(const std::string& text, std::vector<Placeholder>& out, std::string& error,
                       size_t& error_at);

}  // namespace moa
