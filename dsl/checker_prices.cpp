// Checker: `price` declarations (USD per million tokens per model), the implicit
// stdlib price table, and the price each agent resolves to.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "checker.hpp"
#include "moa/ascii.hpp"

namespace moa {
namespace fs = std::filesystem;

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }

bool is_date(const std::string& s) {  // YYYY-MM-DD
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
        if (!ascii::is_digit(s[i])) return false;
    int month = std::stoi(s.substr(5, 2)), day = std::stoi(s.substr(8, 2));
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// How well a price's model matches `model`: 0 = not at all; an exact name beats any
// prefix, a longer prefix a shorter one.
size_t model_match(const std::string& pattern, const std::string& model) {
    if (pattern == model) return std::string::npos;
    if (pattern.empty() || pattern.back() != '*') return 0;
    std::string_view prefix(pattern.data(), pattern.size() - 1);
    return model.compare(0, prefix.size(), prefix) == 0 ? prefix.size() + 1 : 0;
}
}  // namespace

// The price table the CLI passes (stdlib/prices.moa), read like an import of the main
// file: its diagnostics point into it.
void Checker::load_price_table() {
    if (opts_.price_table.empty()) return;
    std::ifstream in(opts_.price_table, std::ios::binary);
    if (!in) {
        diags_.error(nullptr, 0, opts_.price_table + ": cannot read the price table");
        return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::error_code ec;
    price_table_key_ = fs::weakly_canonical(opts_.price_table, ec).string();
    std::vector<std::string> stack;
    load(opts_.price_table, ss.str(), false, stack);
}

void Checker::check_prices() {
    static const std::vector<std::string> allowed = {"model", "input", "output", "cached_input", "backend", "as_of"};
    std::vector<std::string> backend_names = {"openai", "anthropic", "ollama", "sim"};
    for (auto& [n, _] : backends_) backend_names.push_back(n);
    std::map<std::pair<std::string, std::string>, const DeclRef*> seen[2];  // graph, stdlib
    for (const DeclRef& r : prices_) {
        std::string what = "price " + quote(r.name);
        Fields f = read_fields(r, &*r.decl->body, r.env, what, allowed);
        PriceSpec p;
        p.name = r.name;
        p.loc = loc(r.file(), r.decl->name_span.begin);
        std::error_code ec;
        p.stdlib = !price_table_key_.empty() && fs::weakly_canonical(r.file()->path(), ec).string() == price_table_key_;
        bool ok = true;
        auto missing = [&](const char* field) {
            diags_.error(r.file(), r.decl->name_span.begin, what + " has no " + quote(field),
                         r.decl->name_span.end - r.decl->name_span.begin);
            ok = false;
        };
        if (auto* v = f.get("model"); v && expect_string(*v, p.model)) {
            size_t star = p.model.find('*');
            if (p.model.empty()) {
                diags_.error(v->val.origin.file, v->val.origin.span.begin, "'model' is empty",
                             v->val.origin.span.end - v->val.origin.span.begin);
                ok = false;
            } else if (star != std::string::npos && star + 1 != p.model.size()) {
                diags_.error(v->val.origin.file, v->val.origin.span.begin,
                             "'*' may only end a model name (a prefix: \"claude-sonnet-4*\"; \"*\" is any model)",
                             v->val.origin.span.end - v->val.origin.span.begin);
                ok = false;
            }
        } else {
            if (!v) missing("model");
            ok = false;
        }
        double x = 0;
        const char* range = "a price >= 0 (USD per million tokens)";
        for (const char* key : {"input", "output"}) {
            auto* v = f.get(key);
            if (!v) missing(key);
            else if (expect_number(*v, 0, 1e9, false, x, range)) (std::string(key) == "input" ? p.input : p.output) = x;
            else ok = false;
        }
        if (auto* v = f.get("cached_input")) {
            if (expect_number(*v, 0, 1e9, false, x, range)) p.cached_input = x;
            else ok = false;
        }
        if (auto* v = f.get("backend"); v && expect_name(*v, p.backend)) {
            if (std::find(backend_names.begin(), backend_names.end(), p.backend) == backend_names.end()) {
                unknown_name(v->val.origin, "backend (name or kind)", p.backend, backend_names);
                ok = false;
            } else if (backends_.count(p.backend)) {
                used_backends_.insert(p.backend);
            }
        }
        if (auto* v = f.get("as_of"); v && expect_string(*v, p.as_of) && !is_date(p.as_of)) {
            diags_.error(v->val.origin.file, v->val.origin.span.begin,
                         "'as_of' must be a date \"YYYY-MM-DD\", found \"" + p.as_of + "\"",
                         v->val.origin.span.end - v->val.origin.span.begin);
        }
        if (!ok) continue;
        auto& first = seen[p.stdlib ? 1 : 0][{p.model, p.backend}];
        if (first) {
            std::string on = p.backend.empty() ? "" : " on backend " + quote(p.backend);
            auto& e = diags_.error(r.file(), r.decl->name_span.begin,
                                   "duplicate price for model " + quote(p.model) + on,
                                   r.decl->name_span.end - r.decl->name_span.begin);
            e.notes.push_back(note_at(*first, "first priced here"));
            continue;
        }
        first = &r;
        g_.prices.push_back(std::move(p));
    }
}

// Keeps the prices that some agent of the graph resolves to (the IR holds only what
// the nodes use).
void Checker::trim_prices() {
    std::vector<const PriceSpec*> keep;
    for (const auto& a : g_.agents)
        if (const PriceSpec* p = g_.price(a.backend, a.model)) keep.push_back(p);
    std::vector<PriceSpec> kept;
    for (const auto& p : g_.prices)
        if (std::find(keep.begin(), keep.end(), &p) != keep.end()) kept.push_back(p);
    g_.prices = std::move(kept);
}

const PriceSpec* GraphSpec::price(const std::string& backend_name, const std::string& model) const {
    const BackendSpec* b = backend(backend_name);
    std::string kind = b ? to_string(b->kind) : "";
    const PriceSpec* best = nullptr;
    std::tuple<int, size_t, int> best_rank{-1, 0, -1};
    for (const auto& p : prices) {
        size_t m = model_match(p.model, model);
        if (m == 0) continue;
        int scope = p.backend.empty() ? 0 : p.backend == backend_name ? 2 : (!kind.empty() && p.backend == kind) ? 1 : -1;
        if (scope < 0) continue;
        std::tuple<int, size_t, int> rank{p.stdlib ? 0 : 1, m, scope};
        if (rank > best_rank) {
            best_rank = rank;
            best = &p;
        }
    }
    return best;
}

}  // namespace moa
