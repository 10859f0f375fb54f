// Checker: backend declarations (endpoint, limits and retry, the simulator's fields).
#include "checker.hpp"
#include "moa/ascii.hpp"

namespace moa {

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }

// The C0 control characters: none may stand in a URL.
constexpr char kControls[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

// "user:password@" before the host.
bool has_userinfo(const std::string& url) {
    size_t start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    size_t end = url.find_first_of("/?#", start);
    return url.substr(start, end == std::string::npos ? std::string::npos : end - start).find('@') != std::string::npos;
}
}  // namespace

void Checker::read_timeouts(const FieldVal& fv, Timeouts& t) {
    if (fv.val.kind != Val::Kind::Block) return type_error(diags_, fv, "a block { connect = 10s ... }");
    DeclRef dummy;
    Fields f = read_fields(dummy, fv.val.block, fv.val.env, quote(fv.field->key),
                           {"connect", "first_token", "idle", "total"});
    if (auto* v = f.get("connect")) expect_duration(*v, t.connect_ms);
    if (auto* v = f.get("first_token")) expect_duration(*v, t.first_token_ms);
    if (auto* v = f.get("idle")) expect_duration(*v, t.idle_ms);
    if (auto* v = f.get("total")) expect_duration(*v, t.total_ms);
}

void Checker::check_backends() {
    for (auto& [name, r] : backends_) {
        static const std::vector<std::string> allowed = {"kind", "base_url", "api_key_env", "max_concurrent",
                                                         "requests", "tokens", "timeouts", "retry", "max_retry_wait",
                                                         "latency", "faults", "reply", "judge"};
        Fields f = read_fields(r, &*r.decl->body, r.env, "backend " + quote(name), allowed);
        apply_overrides(r, f, allowed, "backend " + quote(name));
        BackendSpec b;
        b.name = name;
        b.loc = loc(r.file(), r.decl->name_span.begin);
        read_backend_endpoint(r, f, b);
        read_backend_limits(r, f, b);
        read_sim_fields(r, f, b);
        g_.backends.push_back(std::move(b));
    }
}

// kind, base_url (with the providers' defaults) and api_key_env.
void Checker::read_backend_endpoint(const DeclRef& r, Fields& f, BackendSpec& b) {
    static const std::vector<std::string> kinds = {"openai", "anthropic", "ollama", "sim"};
    const std::string& name = b.name;
    std::string kind;
    if (auto* v = f.get("kind"); v && expect_name(*v, kind)) {
        if (kind == "openai") b.kind = BackendKind::OpenAI;
        else if (kind == "anthropic") b.kind = BackendKind::Anthropic;
        else if (kind == "ollama") b.kind = BackendKind::Ollama;
        else if (kind == "sim") b.kind = BackendKind::Sim;
        else unknown_name(v->val.origin, "backend kind", kind, kinds);
    } else if (!v) {
        diags_.error(r.file(), r.decl->name_span.begin,
                     "backend " + quote(name) + " has no 'kind' (openai, anthropic, ollama or sim)",
                     r.decl->name_span.end - r.decl->name_span.begin);
    }
    if (auto* v = f.get("base_url"); v && expect_string(*v, b.base_url)) {
        // A URL may hold a password (user:password@host): its line is not echoed then.
        bool secret = has_userinfo(b.base_url);
        size_t bad = b.base_url.find_first_of(std::string(" \x7f", 2) + std::string(kControls, sizeof kControls));
        if (b.base_url.rfind("http://", 0) != 0 && b.base_url.rfind("https://", 0) != 0)
            diags_.error(v->val.origin.file, v->val.origin.span.begin, "'base_url' must start with http:// or https://")
                .hide_source = secret;
        else if (bad != std::string::npos)  // a CR LF would write a request header of its own
            diags_.error(v->val.origin.file, v->val.origin.span.begin,
                         "'base_url' holds " + std::string(b.base_url[bad] == ' ' ? "a space" : "a control character") +
                             " (byte " + std::to_string(bad + 1) + "): a URL cannot; percent-encode it (a space is %20)")
                .hide_source = secret;
    }
    if (b.base_url.empty() && f.get("base_url") == nullptr) {
        if (b.kind == BackendKind::Anthropic) b.base_url = "https://api.anthropic.com";
        if (b.kind == BackendKind::Ollama) b.base_url = "http://127.0.0.1:11434";
        if (b.kind == BackendKind::OpenAI)
            diags_.error(r.file(), r.decl->name_span.begin,
                         "backend " + quote(name) + " of kind openai needs a 'base_url'");
    }
    if (auto* v = f.get("api_key_env"); v && expect_string(*v, b.api_key_env)) {
        bool ok = !b.api_key_env.empty() && !ascii::is_digit(b.api_key_env[0]);
        for (char c : b.api_key_env) ok = ok && (ascii::is_alnum(c) || c == '_');
        if (!ok)  // it may be a pasted key: do not echo the line into logs
            diags_.error(v->val.origin.file, v->val.origin.span.begin,
                         "'api_key_env' names an environment variable (like \"OPENAI_API_KEY\"), "
                         "not a key; if this was a real key, revoke it")
                .hide_source = true;
    } else if (!v && b.kind == BackendKind::Anthropic) {
        diags_.error(r.file(), r.decl->name_span.begin,
                     "backend " + quote(name) + " of kind anthropic needs 'api_key_env'");
    }
}

// max_concurrent, rate limits, timeouts and the retry policy.
void Checker::read_backend_limits(const DeclRef& r, Fields& f, BackendSpec& b) {
    double x = 0;
    if (auto* v = f.get("max_concurrent"); v && expect_number(*v, 1, 100000, true, x, "in [1, 100000]"))
        b.max_concurrent = static_cast<int>(x);
    for (const char* key : {"requests", "tokens"}) {
        auto* v = f.get(key);
        if (!v) continue;
        if (v->val.kind != Val::Kind::Rate) type_error(diags_, *v, "a rate like 600/min");
        else if (v->val.per_minute <= 0)
            diags_.error(v->val.origin.file, v->val.origin.span.begin, quote(key) + " must be positive");
        else (std::string(key) == "requests" ? b.requests_per_minute : b.tokens_per_minute) = v->val.per_minute;
    }
    if (auto* v = f.get("timeouts")) read_timeouts(*v, b.timeouts);
    if (auto* v = f.get("max_retry_wait")) expect_duration(*v, b.retry.max_wait_ms);
    if (auto* v = f.get("retry")) {
        if (v->val.kind != Val::Kind::Block) type_error(diags_, *v, "a block { attempts = 4 ... }");
        else {
            Fields rf = read_fields(r, v->val.block, v->val.env, "'retry'", {"attempts", "base_delay", "max_delay"});
            if (auto* a = rf.get("attempts"); a && expect_number(*a, 1, 20, true, x, "in [1, 20]"))
                b.retry.attempts = static_cast<int>(x);
            if (auto* a = rf.get("base_delay")) expect_duration(*a, b.retry.base_delay_ms);
            if (auto* a = rf.get("max_delay"); a && expect_duration(*a, b.retry.max_delay_ms) &&
                                               b.retry.max_delay_ms < b.retry.base_delay_ms)
                diags_.error(a->val.origin.file, a->val.origin.span.begin,
                             "'max_delay' must not be less than 'base_delay'");
        }
    }
}

// The simulated backend's own fields: latency model, fault injection, scripted reply.
void Checker::read_sim_fields(const DeclRef& r, Fields& f, BackendSpec& b) {
    double x = 0;
    if (auto* v = f.get("judge")) read_sim_judge(r, *v, b);
    for (const char* key : {"latency", "faults"}) {
        auto* v = f.get(key);
        if (!v) continue;
        if (b.kind != BackendKind::Sim) {
            diags_.error(v->field->key_span.begin ? r.file() : r.file(), v->field->key_span.begin,
                         quote(key) + " applies only to backends of kind sim");
            continue;
        }
        if (v->val.kind != Val::Kind::Block) {
            type_error(diags_, *v, "a block");
            continue;
        }
        if (std::string(key) == "latency") {
            Fields lf = read_fields(r, v->val.block, v->val.env, "'latency'", {"first_token", "tokens_per_second", "jitter"});
            if (auto* a = lf.get("first_token")) expect_duration(*a, b.latency.first_token_ms);
            if (auto* a = lf.get("tokens_per_second"); a && expect_number(*a, 0.001, 1e9, false, x, "positive"))
                b.latency.tokens_per_second = x;
            if (auto* a = lf.get("jitter"); a && expect_number(*a, 0, 1, false, x, "in [0, 1]"))
                b.latency.jitter = x;
        } else {
            Fields ff = read_fields(r, v->val.block, v->val.env, "'faults'", {"timeout", "rate_limited", "server_error"});
            if (auto* a = ff.get("timeout"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) b.faults.timeout = x;
            if (auto* a = ff.get("rate_limited"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) b.faults.rate_limited = x;
            if (auto* a = ff.get("server_error"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) b.faults.server_error = x;
        }
    }
    if (auto* v = f.get("reply")) {  // a scripted answer, for tests of what the graph does with it
        if (b.kind != BackendKind::Sim)
            diags_.error(r.file(), v->field->key_span.begin, "'reply' applies only to backends of kind sim",
                         v->field->key_span.end - v->field->key_span.begin);
        else if (expect_string(*v, b.sim_reply) && b.sim_reply.empty())
            diags_.error(v->val.origin.file, v->val.origin.span.begin, "'reply' must not be empty",
                         v->val.origin.span.end - v->val.origin.span.begin);
    }
}

}  // namespace moa
