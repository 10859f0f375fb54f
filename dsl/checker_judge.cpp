// Checker, judges: `verdict pairwise { ... }` / `verdict score { ... }` makes the graph
// a judge. The verdict names the layer whose agents judge (the panel), the rule that
// reads each reply, and how the panel's verdicts combine; the judge's templates get
// the answers to judge as {{answer}} (score) or {{answer_a}}, {{answer_b}} (pairwise).
#include <algorithm>

#include "checker.hpp"
#include "moa/ascii.hpp"

namespace moa {

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }
uint32_t len(const Origin& o) { return o.span.end - o.span.begin; }

const std::vector<std::string> kModes = {"pairwise", "score"};
const std::vector<std::string> kPairwiseFields = {"on", "a", "b", "tie", "combine"};
const std::vector<std::string> kScoreFields = {"on", "pattern", "range", "combine"};
const std::vector<std::string> kJudgeVars = {"answer", "answer_a", "answer_b"};

}  // namespace

// A label is a string or a list of strings (any of them names the verdict), none empty.
bool Checker::read_verdict_labels(const FieldVal& fv, std::vector<std::string>& out, std::vector<Origin>& at) {
    std::vector<const Val*> items;
    if (fv.val.kind == Val::Kind::String) items.push_back(&fv.val);
    else if (fv.val.kind == Val::Kind::List && !fv.val.items.empty())
        for (const auto& i : fv.val.items) items.push_back(&i);
    else {
        type_error(diags_, fv, "a string, or a list of strings, that the judge's reply contains");
        return false;
    }
    bool ok = true;
    for (const Val* i : items) {
        if (i->kind != Val::Kind::String) {
            if (i->kind != Val::Kind::Invalid)
                diags_.error(i->origin.file, i->origin.span.begin,
                             quote(fv.field->key) + " labels are strings, found " + kind_name(i->kind), len(i->origin));
            ok = false;
        } else if (i->str.empty()) {
            diags_.error(i->origin.file, i->origin.span.begin, "a verdict label must not be empty", len(i->origin));
            ok = false;
        } else {
            out.push_back(i->str);
            at.push_back(i->origin);
        }
    }
    return ok;
}

// `pattern = "[[{{score}}]]"`: the text around the number; `range = [1, 10]`.
void Checker::read_score_rule(const DeclRef& r, Fields& f, VerdictSpec& v) {
    const ast::Decl& d = *r.decl;
    auto* p = f.get("pattern");
    if (!p) {
        diags_.error(r.file(), d.name_span.begin,
                     "verdict score needs a 'pattern' with {{score}} where the number is, like \"[[{{score}}]]\"",
                     d.name_span.end - d.name_span.begin);
    } else if (expect_string(*p, v.pattern)) {
        const Origin& o = p->val.origin;
        std::vector<Placeholder> ph;
        std::string err;
        size_t at = 0;
        bool ok = find_placeholders(v.pattern, ph, err, at);
        size_t scores = std::count_if(ph.begin(), ph.end(), [](const Placeholder& x) { return x.name == "score"; });
        if (!ok) diags_.error(o.file, o.span.begin, "'pattern': " + err, len(o));
        else if (ph.size() != scores || scores != 1)
            diags_.error(o.file, o.span.begin,
                         scores == 0 ? "'pattern' has no {{score}}: write where the number is, like \"[[{{score}}]]\""
                         : scores > 1 ? "'pattern' has {{score}} more than once; it captures one number"
                                      : "'pattern' holds only {{score}}, no other placeholder",
                         len(o));
        else {
            size_t open = v.pattern.find("{{"), close = v.pattern.find("}}", open);
            v.score_prefix = v.pattern.substr(0, open);
            v.score_suffix = v.pattern.substr(close + 2);
            if (v.score_prefix.empty() && v.score_suffix.empty())
                diags_.error(o.file, o.span.begin,
                             "'pattern' is only {{score}}: any number in the reply would match; put text around it, "
                             "like \"[[{{score}}]]\"",
                             len(o));
        }
    }
    if (auto* rg = f.get("range")) {
        const Val& x = rg->val;
        bool shape = x.kind == Val::Kind::List && x.items.size() == 2 && x.items[0].kind == Val::Kind::Number &&
                     x.items[1].kind == Val::Kind::Number;
        if (!shape) type_error(diags_, *rg, "a list of two numbers, lowest and highest score: [1, 10]");
        else if (x.items[0].number >= x.items[1].number)
            diags_.error(x.origin.file, x.origin.span.begin,
                         "score range is inverted or empty: the lowest score comes first, like [1, 10]", len(x.origin));
        else {
            v.min = x.items[0].number;
            v.max = x.items[1].number;
        }
    }
}

// `judge { prefer = "MARK" | first | second | longer | shorter  p = 0.7  tie = 0  unparsable = 0 }`
// on a sim backend: a scripted judge for tests (engine/backends/sim_judge.cpp).
void Checker::read_sim_judge(const DeclRef& r, const FieldVal& v, BackendSpec& b) {
    if (b.kind != BackendKind::Sim) {
        diags_.error(r.file(), v.field->key_span.begin, "'judge' applies only to backends of kind sim",
                     v.field->key_span.end - v.field->key_span.begin);
        return;
    }
    if (v.val.kind != Val::Kind::Block) {
        type_error(diags_, v, "a block: judge { prefer = first  p = 0.7 }");
        return;
    }
    SimJudge& j = b.sim_judge;
    j.enabled = true;
    Fields f = read_fields(r, v.val.block, v.val.env, "'judge'", {"prefer", "p", "tie", "unparsable"});
    if (auto* pv = f.get("prefer")) {
        using P = SimJudge::Prefer;
        static const std::vector<std::string> words = {"first", "second", "longer", "shorter", "random"};
        static const P prefs[] = {P::First, P::Second, P::Longer, P::Shorter, P::Random};
        if (pv->val.kind == Val::Kind::String) {
            j.prefer = SimJudge::Prefer::Marker;
            j.marker = pv->val.str;
            if (j.marker.empty())
                diags_.error(pv->val.origin.file, pv->val.origin.span.begin, "'prefer' marker must not be empty",
                             len(pv->val.origin));
        } else if (std::string w; pv->val.kind == Val::Kind::Ref && expect_name(*pv, w)) {
            auto at = std::find(words.begin(), words.end(), w);
            if (at == words.end()) unknown_name(pv->val.origin, "preference", w, words);
            else j.prefer = prefs[at - words.begin()];
        } else {
            type_error(diags_, *pv, "a marker string, or first, second, longer, shorter or random");
        }
    }
    double x = 0;
    if (auto* a = f.get("p"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) j.p = x;
    if (auto* a = f.get("tie"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) j.tie = x;
    if (auto* a = f.get("unparsable"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]"))
        j.unparsable = x;
    if (j.tie + j.unparsable > 1)
        diags_.error(r.file(), v.field->key_span.begin, "'tie' and 'unparsable' add up to more than 1",
                     v.field->key_span.end - v.field->key_span.begin);
}

// `a = "[[A]]"  b = "[[B]]"  tie = "[[tie]]"`: the labels, none inside another.
void Checker::read_pairwise_rule(const DeclRef& r, Fields& f, VerdictSpec& v) {
    const ast::Decl& d = *r.decl;
    std::vector<std::pair<std::string, std::string>> all;  // (field, label), with where each is written
    std::vector<Origin> at;
    for (auto [key, out] : {std::pair{"a", &v.first}, {"b", &v.second}, {"tie", &v.tie}}) {
        auto* fv = f.get(key);
        size_t before = out->size();
        if (fv) read_verdict_labels(*fv, *out, at);
        for (size_t i = before; i < out->size(); ++i) all.push_back({key, (*out)[i]});
        if (!fv && std::string(key) != "tie")
            diags_.error(r.file(), d.name_span.begin,
                         std::string("verdict pairwise needs '") + key + "': the text a reply holds when answer " +
                             (std::string(key) == "a" ? "A ({{answer_a}})" : "B ({{answer_b}})") + " is better",
                         d.name_span.end - d.name_span.begin);
    }
    // One label inside another: every reply naming the longer names the shorter.
    for (size_t i = 0; i < all.size(); ++i)
        for (size_t j = 0; j < all.size(); ++j) {
            if (i == j || all[i].first == all[j].first) continue;
            std::string x = ascii::lower(all[i].second), y = ascii::lower(all[j].second);
            if (y.find(x) != std::string::npos && (x != y || i < j)) {
                std::string msg = x == y ? "the label \"" + all[j].second + "\" is both " + quote(all[i].first) +
                                               " and " + quote(all[j].first) + " (labels match ignoring case)"
                                         : "verdict labels overlap: " + quote(all[i].first) + " label \"" +
                                               all[i].second + "\" is inside " + quote(all[j].first) + " label \"" +
                                               all[j].second + "\" (labels match ignoring case), so a reply could name both";
                diags_.error(at[j].file, at[j].span.begin, msg, len(at[j]))
                    .notes.push_back(Diagnostics::note(at[i].file, at[i].span.begin, "the shorter label",
                                                       len(at[i])));
                return;
            }
        }
}

void Checker::build_verdict() {
    if (verdicts_.empty()) return;
    for (size_t i = 1; i < verdicts_.size(); ++i) {
        const DeclRef& r = verdicts_[i];
        diags_.error(r.file(), r.decl->keyword_span.begin, "a graph has at most one verdict (one judge)",
                     r.decl->keyword_span.end - r.decl->keyword_span.begin)
            .notes.push_back(Diagnostics::note(verdicts_[0].file(), verdicts_[0].decl->keyword_span.begin,
                                               "the verdict is declared here"));
    }
    const DeclRef& r = verdicts_[0];
    NoteScope notes(*this, r);
    const ast::Decl& d = *r.decl;
    VerdictSpec v;
    v.loc = loc(r.file(), d.keyword_span.begin);
    if (d.name != "pairwise" && d.name != "score") {
        unknown_name({r.file(), d.name_span}, "verdict mode", d.name, kModes);
        return;
    }
    bool pairwise = d.name == "pairwise";
    v.mode = pairwise ? VerdictMode::Pairwise : VerdictMode::Score;
    v.combine = pairwise ? VerdictCombine::Majority : VerdictCombine::Mean;
    Fields f = read_fields(r, &*d.body, r.env, "verdict " + d.name, pairwise ? kPairwiseFields : kScoreFields);
    if (auto* on = f.get("on")) {
        if (on->val.kind != Val::Kind::Ref || on->val.replicas != 1) type_error(diags_, *on, "a layer");
        else if (on->val.ref.size() == 1 && on->val.ref[0] == "query")
            diags_.error(on->val.origin.file, on->val.origin.span.begin, "a verdict reads a layer of judges, not the query",
                         len(on->val.origin));
        else {
            std::set<std::string> visiting;
            v.nodes = resolve_ref({on->val.scoped_ref(), on->val.origin}, "on", false, visiting);
            if (!v.nodes.empty()) v.layer = nodes_.at(v.nodes.front()).layer;
        }
    } else {
        diags_.error(r.file(), d.name_span.begin, "verdict " + d.name + " needs `on = LAYER`: the layer whose agents judge",
                     d.name_span.end - d.name_span.begin);
    }
    if (pairwise) read_pairwise_rule(r, f, v);
    else read_score_rule(r, f, v);
    if (auto* c = f.get("combine")) {
        std::string how;
        if (expect_name(*c, how)) {
            const char* want = pairwise ? "majority" : "mean";
            if (how != want) {
                std::string msg = "a " + d.name + " panel combines by " + quote(want);
                if (how != "majority" && how != "mean") msg = "unknown combine rule " + quote(how) + "; " + msg;
                diags_.error(c->val.origin.file, c->val.origin.span.begin, msg, len(c->val.origin));
            }
        }
    }
    for (const auto& id : v.nodes) g_.outputs.push_back({verdict_output_name(id), id, v.loc});
    g_.verdict = std::move(v);
}

// {{answer}}, {{answer_a}} and {{answer_b}} are filled only in a judge of the matching
// mode; and the judge must show its agents every answer it judges.
void Checker::check_judge_placeholders() {
    std::map<std::string, const AgentSpec*> agent_by_name;
    std::map<std::string, const TemplateSpec*> templ_by_name;
    for (const auto& a : g_.agents) agent_by_name[a.name] = &a;
    for (const auto& t : g_.templates) templ_by_name[t.name] = &t;
    const VerdictSpec* v = g_.verdict ? &*g_.verdict : nullptr;
    std::vector<std::string> wanted;
    if (v && v->mode == VerdictMode::Pairwise) wanted = {"answer_a", "answer_b"};
    if (v && v->mode == VerdictMode::Score) wanted = {"answer"};
    std::set<std::string> shown, reported;
    for (auto& lp : layers_) {
        if (lp->instances.empty()) continue;
        NoteScope notes(*this, lp->ref);
        for (const auto& u : template_uses(*lp, agent_by_name)) {
            auto ti = templ_by_name.find(u.templ);
            if (ti == templ_by_name.end()) continue;
            for (const auto& ph : ti->second->placeholders) {
                if (std::find(kJudgeVars.begin(), kJudgeVars.end(), ph) == kJudgeVars.end()) continue;
                if (std::find(wanted.begin(), wanted.end(), ph) != wanted.end()) {
                    shown.insert(ph);
                    continue;
                }
                if (!v && judge_declared_) continue;  // the verdict itself is in error, reported there
                if (!reported.insert(u.templ + "/" + ph).second) continue;
                std::string msg = "template " + quote(u.templ) + " uses {{" + ph + "}}, which ";
                if (!v) msg += "only a judge fills: declare `verdict " + std::string(ph == "answer" ? "score" : "pairwise") + " { ... }`";
                else if (v->mode == VerdictMode::Score) msg += "a pairwise judge fills; a score judge gives {{answer}}";
                else msg += "a score judge fills; a pairwise judge gives {{answer_a}} and {{answer_b}}";
                diags_.error(u.at.file, u.at.span.begin, msg, len(u.at))
                    .notes.push_back(note_at(templates_.at(u.templ), "template defined here"));
            }
        }
    }
    if (!v || v->nodes.empty()) return;
    const DeclRef& r = verdicts_[0];
    for (const auto& ph : wanted)
        if (!shown.count(ph))
            diags_.error(r.file(), r.decl->name_span.begin,
                         "verdict " + r.decl->name + " needs {{" + ph + "}} in a template of the graph: its judges " +
                             "would never see " + (ph == "answer" ? "the answer" : ph == "answer_a" ? "answer A" : "answer B"),
                         r.decl->name_span.end - r.decl->name_span.begin);
}

}  // namespace moa
