// Checker: routes (`on`, `when ... -> layer` arms, `otherwise`), after the layers exist.
#include "checker.hpp"

namespace moa {

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }
uint32_t len(const Origin& o) { return o.span.end - o.span.begin; }
}  // namespace

void Checker::build_routes() {
    for (auto& [name, r] : routes_decl_) {
        NoteScope notes(*this, r);
        RouteSpec rs;
        rs.name = name;
        rs.loc = loc(r.file(), r.decl->name_span.begin);
        const ast::Block& body = *r.decl->body;
        bool has_on = false, has_otherwise = false;
        for (const auto& item : body.items) {
            if (item.kind == ast::Item::Kind::Decl)
                diags_.error(r.file(), item.span().begin, "a declaration is not allowed in route " + quote(name));
            else if (item.kind == ast::Item::Kind::Field)
                has_on = read_route_on(r, item.field, rs) || has_on;
            else
                read_route_arm(r, item.arm, rs, has_otherwise);
        }
        if (!has_on)
            diags_.error(r.file(), r.decl->name_span.begin, "route " + quote(name) + " has no 'on' (query, or a classifier layer)",
                         r.decl->name_span.end - r.decl->name_span.begin);
        if (!has_otherwise)
            diags_.error(r.file(), r.decl->name_span.begin,
                         "route " + quote(name) + " has no 'otherwise' arm; a query matching no pattern would have nowhere to go",
                         r.decl->name_span.end - r.decl->name_span.begin);
        g_.routes.push_back(std::move(rs));
    }
}

// `on = query | layer[.agent]`; false for a field that is not `on`.
bool Checker::read_route_on(const DeclRef& r, const ast::Field& f, RouteSpec& rs) {
    const std::string& name = rs.name;
    if (f.key != "on") {
        std::string msg = "unknown field " + quote(f.key) + " in route " + quote(name);
        msg += f.key.size() <= 3 ? "; did you mean 'on'?" : " (a route has `on = ...` and `when ... -> layer` arms)";
        diags_.error(r.file(), f.key_span.begin, msg, f.key_span.end - f.key_span.begin);
        return false;
    }
    Val v = ev_.eval(f.value, r.env);
    if (v.kind != Val::Kind::Ref) {
        if (v.kind != Val::Kind::Invalid)
            diags_.error(r.file(), v.origin.span.begin, "'on' is `query` or a layer whose answer classifies the query");
        return true;
    }
    std::set<std::string> visiting;
    InputRef in{v.scoped_ref(), v.origin};
    auto ids = resolve_ref(in, "on", true, visiting);
    if (v.ref.size() == 1 && v.ref[0] == "query") rs.on = "query";
    else if (ids.size() == 1) rs.on = ids[0];
    else if (ids.size() > 1)
        diags_.error(r.file(), v.origin.span.begin,
                     "'on' needs one answer, but " + quote(v.ref_text()) + " has " +
                         std::to_string(ids.size()) + "; name one agent (layer.agent)",
                     len(v.origin));
    return true;
}

// `when "pattern", ... -> layer` or `otherwise -> layer`.
void Checker::read_route_arm(const DeclRef& r, const ast::Arm& a, RouteSpec& rs, bool& has_otherwise) {
    const std::string& name = rs.name;
    RouteArm arm;
    if (a.otherwise) {
        if (has_otherwise) diags_.error(r.file(), a.span.begin, "route " + quote(name) + " has two 'otherwise' arms");
        has_otherwise = true;
    }
    for (const auto& p : a.patterns) {
        Val v = ev_.eval(p, r.env);
        if (v.kind == Val::Kind::String && !v.str.empty()) arm.patterns.push_back(v.str);
        else if (v.kind != Val::Kind::Invalid)
            diags_.error(r.file(), v.origin.span.begin, "a `when` pattern is a non-empty string", len(v.origin));
    }
    std::string target = a.target.joined();
    for (const auto& local : r.env->local_names)
        if (!r.env->prefix.empty() && local == a.target.parts[0]) target = r.env->prefix + target;
    auto it = layer_by_name_.find(target);
    if (size_t b = target.find('['); it == layer_by_name_.end() && b != std::string::npos &&
                                      layer_by_name_.count(target.substr(0, b))) {
        diags_.error(r.file(), a.target_span.begin,
                     "a route branch is a whole layer, not one copy: " + quote(target) + " is a copy of layer " +
                         quote(target.substr(0, b)) + " (repeat); route to " + quote(target.substr(0, b)),
                     a.target_span.end - a.target_span.begin);
        return;
    }
    if (it == layer_by_name_.end()) {
        std::vector<std::string> names;
        for (auto& [n, _] : layer_by_name_) names.push_back(n);
        unknown_name({r.file(), a.target_span}, "layer", target, names);
        return;
    }
    arm.target = target;
    if (it->second->instances.empty())
        diags_.error(r.file(), a.target_span.begin,
                     "layer " + quote(target) + " has repeat = 0: there is no layer for this branch to run",
                     a.target_span.end - a.target_span.begin);
    for (const auto& inst : it->second->instances) {
        if (auto g = gate_of_.find(inst); g != gate_of_.end() && g->second != name)
            diags_.error(r.file(), a.target_span.begin,
                         "layer " + quote(target) + " is already a branch of route " + quote(g->second),
                         a.target_span.end - a.target_span.begin);
        gate_of_[inst] = name;
    }
    rs.arms.push_back(std::move(arm));
}

}  // namespace moa
