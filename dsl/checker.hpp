// The checker: from parsed files to a GraphSpec, reporting every problem.
//
// Passes, in order: load (imports, import cycles) -> collect (symbol tables,
// duplicates, topology instantiation) -> declarations (backends, templates,
// agents: fields, types, ranges) -> graph (layers, repeat, replicas, inputs,
// routes, outputs) -> whole-graph checks (cycles, placeholders against what each
// node receives, reachability, unused declarations) -> IR in dependency order.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "eval.hpp"
#include "moa/dsl.hpp"

namespace moa {

// Bounds of the expanded graph (after replicas, `repeat` and topology instances).
inline constexpr size_t kMaxNodes = 10'000;
inline constexpr size_t kMaxEdges = 1'000'000;

struct LoadedFile {
    std::shared_ptr<const SourceFile> src;
    ast::File ast;
    bool main = false;
};

// A declaration and the scope it is evaluated in.
struct DeclRef {
    const ast::Decl* decl = nullptr;
    std::shared_ptr<const Env> env;
    std::string name;  // full name (instance prefix included)
    bool main = false; // declared in the main file (warnings about unused things)
    const std::shared_ptr<const SourceFile>& file() const { return env->file; }
};

struct FieldVal {
    Val val;
    const ast::Field* field = nullptr;
    std::shared_ptr<const SourceFile> file;  // where the field is written
};

struct Fields {
    std::map<std::string, FieldVal> by_key;
    const FieldVal* get(const std::string& key) const {
        auto it = by_key.find(key);
        return it == by_key.end() ? nullptr : &it->second;
    }
};

struct Member {
    std::string agent;
    int replicas = 1;
    Origin origin;
};

struct InputRef {
    std::vector<std::string> parts;
    Origin origin;
};

struct LayerDraft {
    DeclRef ref;
    std::vector<Member> members;
    std::vector<InputRef> inputs;
    bool has_inputs_field = false;
    FanIn fan_in;
    Origin fan_in_origin;
    bool has_fan_in = false;
    std::string prompt;
    Origin prompt_origin;
    ResultKind result = ResultKind::Reply;
    Origin result_origin;
    int repeat = 1;
    std::vector<std::string> instances;  // layer instance names after `repeat`
    bool inputs_failed = false;          // an input did not resolve (already reported)
    bool prompt_failed = false;
};

// A top-level `param NAME = default`, and the --param value replacing its default.
struct ParamDecl {
    DeclRef ref;
    const ast::Expr* expr = nullptr;      // the value used (default or --param); null: invalid
    std::shared_ptr<const Env> env;       // the value's scope: no params of its own
    std::unique_ptr<ast::Field> cli;      // the parsed --param, when given
    Val::Kind default_kind = Val::Kind::Invalid;
    std::string default_name;  // the default, when it is a name
    ParamSpec spec;
};

// A bare value of a string field or param (`--set b.base_url=http://h:8080/v1`) is
// taken as the string itself, quoted as a DSL string; a value starting with '"' is kept.
std::string quote_bare(const std::string& value);

// "'key' expects EXPECTED, found KIND" (nothing for an already reported value).
void type_error(Diagnostics& d, const FieldVal& fv, const std::string& expected);

class Checker {
public:
    Checker(Diagnostics& diags, LoadOptions opts) : diags_(diags), ev_(diags), opts_(std::move(opts)) {}
    LoadResult run(const std::string& path, std::string text);

private:
    // checker_load.cpp: the main file and its imports, inside the import roots
    void load(const std::string& path, std::string text, bool main, std::vector<std::string>& stack);
    void set_roots(const std::string& main_path);
    bool inside_roots(const std::string& canonical) const;
    std::string resolve_import(const LoadedFile& importer, const ast::Decl& d, const std::string& rel);
    bool in_unimported_stdlib(const std::string& name);  // a forgotten `import "moa.moa"`?

    // checker.cpp: declarations (checker_fields.cpp: fields, typed access, --set)
    void collect();
    void collect_decl(const ast::Decl& d, const std::shared_ptr<const Env>& env, bool main);
    void instantiate(const DeclRef& use);
    // checker_params.cpp: `param` declarations and --param values
    void collect_params();
    void read_param_args();
    void check_param_value(ParamDecl& p, const std::shared_ptr<const SourceFile>& cli_src);
    void check_param_names();
    void emit_params();
    // checker_judge.cpp: the `verdict` of a judge graph
    void build_verdict();
    bool read_verdict_labels(const FieldVal& fv, std::vector<std::string>& out, std::vector<Origin>& at);
    void read_score_rule(const DeclRef& r, Fields& f, VerdictSpec& v);
    void read_pairwise_rule(const DeclRef& r, Fields& f, VerdictSpec& v);
    void check_judge_placeholders();
    bool check_shape(const DeclRef& r);
    Fields read_fields(const DeclRef& r, const ast::Block* b, const std::shared_ptr<const Env>& env,
                       const std::string& what, const std::vector<std::string>& allowed);
    void check_backends();  // checker_backends.cpp
    void read_backend_endpoint(const DeclRef& r, Fields& f, BackendSpec& b);
    void read_backend_limits(const DeclRef& r, Fields& f, BackendSpec& b);
    void read_sim_fields(const DeclRef& r, Fields& f, BackendSpec& b);
    void read_sim_judge(const DeclRef& r, const FieldVal& v, BackendSpec& b);  // checker_judge.cpp
    void check_templates();
    void check_agents();
    void load_price_table();  // checker_prices.cpp
    void check_prices();
    void trim_prices();
    void read_timeouts(const FieldVal& fv, Timeouts& t);
    void add_use_notes(Diagnostic& e, const DeclRef& first, const DeclRef& second);
    void parse_overrides();
    bool string_field(const std::string& target, const std::string& field) const;
    void apply_overrides(const DeclRef& r, Fields& f, const std::vector<std::string>& allowed, const std::string& what);

    // checker_graph.cpp: topology
    void build_layers();
    bool over_limit(const DeclRef& r, const char* what, size_t added, size_t total, size_t limit,
                    const std::string& how);
    void read_layer(LayerDraft& l);
    void read_members(LayerDraft& l);
    void read_fan_in(LayerDraft& l, const Val& x);
    void read_result(LayerDraft& l, const Val& v);
    void resolve_inputs();
    std::vector<std::string> resolve_ref(const InputRef& in, const std::string& field, bool single,
                                         std::set<std::string>& visiting);
    std::vector<std::string> layer_outputs(const std::string& layer, std::set<std::string>& visiting);
    void build_routes();  // checker_routes.cpp
    bool read_route_on(const DeclRef& r, const ast::Field& f, RouteSpec& rs);
    void read_route_arm(const DeclRef& r, const ast::Arm& a, RouteSpec& rs, bool& has_otherwise);
    void build_outputs();
    void check_cycles_and_order();  // checker_checks.cpp
    std::map<std::string, std::vector<std::string>> instance_deps(const std::vector<std::string>& instances);
    void report_cycle(const std::vector<std::string>& cyc, const std::string& w);
    void emit_layers();
    void check_placeholders();
    struct TemplateUse {  // a template and where it is attached to a layer's nodes
        std::string templ;
        Origin at;
        bool is_prompt;
    };
    std::vector<TemplateUse> template_uses(const LayerDraft& l,
                                           const std::map<std::string, const AgentSpec*>& agent_by_name);
    void check_template_use(const TemplateUse& u, const TemplateSpec& t, const LayerDraft& l, bool any_inputs,
                            std::set<std::pair<std::string, std::string>>& reported);
    void check_reachability_and_use();
    void trim_ir(const std::set<std::string>& agents_in_nodes);

    // helpers
    void unknown_name(const Origin& at, const std::string& kind, const std::string& name,
                      const std::vector<std::string>& candidates);
    bool expect_number(const FieldVal& fv, double lo, double hi, bool integer, double& out,
                       const char* range_text);
    bool expect_duration(const FieldVal& fv, int64_t& out);
    bool expect_string(const FieldVal& fv, std::string& out);
    bool expect_name(const FieldVal& fv, std::string& out);
    SourceLoc loc(const std::shared_ptr<const SourceFile>& f, uint32_t off) const;
    Diagnostic note_at(const DeclRef& r, const std::string& msg) const;
    void note_instance(size_t first_diag, const DeclRef& r);
    // note_instance() for every diagnostic added while it lives.
    class NoteScope {
    public:
        NoteScope(Checker& c, const DeclRef& r) : c_(c), r_(r), mark_(c.diags_.all().size()) {}
        ~NoteScope() { c_.note_instance(mark_, r_); }
        NoteScope(const NoteScope&) = delete;
        NoteScope& operator=(const NoteScope&) = delete;

    private:
        Checker& c_;
        const DeclRef& r_;
        size_t mark_;
    };

    Diagnostics& diags_;
    Evaluator ev_;
    LoadOptions opts_;
    std::vector<std::unique_ptr<LoadedFile>> files_;
    std::set<std::string> loaded_paths_;
    std::vector<std::string> roots_;  // canonical directories imports may read
    std::optional<std::set<std::string>> stdlib_names_;  // declared in moa.moa, when not imported

    std::map<std::string, DeclRef> backends_, templates_, agents_, topologies_, routes_decl_,
        outputs_decl_;
    std::vector<DeclRef> uses_;
    std::vector<DeclRef> verdicts_;
    bool judge_declared_ = false;  // a `verdict` was written (maybe malformed)
    std::vector<std::unique_ptr<ParamDecl>> params_;  // in declaration order
    std::map<std::string, ParamDecl*> param_by_name_;
    std::vector<DeclRef> prices_;
    std::string price_table_key_;  // canonical path of LoadOptions::price_table
    std::vector<std::unique_ptr<LayerDraft>> layers_;
    std::map<std::string, LayerDraft*> layer_by_name_;
    std::map<std::string, std::string> instance_to_layer_;  // instance -> draft name
    std::map<std::string, std::vector<std::string>> instance_nodes_;
    std::map<std::string, std::vector<InputRef>> instance_inputs_;  // for cycle notes
    std::map<std::string, NodeSpec> nodes_;
    std::map<std::string, std::string> gate_of_;  // layer instance -> route

    struct Override {
        std::string target;
        std::shared_ptr<Env> env;
        std::unique_ptr<ast::Field> field;
        bool used = false;
    };
    std::vector<Override> overrides_;
    std::set<std::string> broken_;  // names of declarations lost to syntax errors
    bool syntax_errors_ = false;
    std::set<std::string> passthrough_cycles_;
    std::map<std::string, std::vector<std::string>> passthrough_;  // repeat = 0 layer -> what it passes on
    std::set<std::string> used_agents_, used_templates_, used_backends_, used_topologies_;
    GraphSpec g_;
    std::vector<std::string> order_;  // layer instances in dependency order
    bool cyclic_ = false;
    bool too_large_ = false;  // a size limit was crossed: the later passes are skipped
};

}  // namespace moa
