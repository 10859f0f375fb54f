#include "backends/backend.hpp"

#include "backends/http_transport.hpp"

#include <cstdlib>
#include <string_view>

namespace moa {

BackendContext::BackendContext(Reactor& r, std::map<std::string, std::string> keys, std::vector<std::string> secrets,
                               int io_threads, bool native_http)
    : reactor(r), keys_(std::move(keys)), secrets_(std::move(secrets)), io_threads_(io_threads), native_http_(native_http) {}

BackendContext::~BackendContext() = default;

bool native_http_default() {
    const char* v = std::getenv("MOA_HTTP_CLIENT");
    return !(v && std::string_view(v) == "curl");
}

HttpTransport& BackendContext::http() {
    if (!http_) http_ = std::make_unique<HttpTransport>(reactor, keys_, secrets_, io_threads_, native_http_);
    return *http_;
}

int BackendContext::io_threads() const { return http_ ? http_->io_threads() : 0; }

void BackendContext::stop_io() {
    if (http_) http_->stop();
}

BackendSet::BackendSet(const GraphSpec& g, Reactor& reactor, std::map<std::string, std::string> keys,
                       std::vector<std::string> secrets, int io_threads, bool native_http)
    : ctx_(reactor, std::move(keys), std::move(secrets), io_threads, native_http) {
    for (const auto& b : g.backends) by_spec_[&b] = provider_of(b.kind).make(b, ctx_);
}

BackendSet::~BackendSet() = default;

Timeouts effective_timeouts(const BackendSpec& b, const AgentSpec& a) {
    auto pick = [](int64_t agent, int64_t backend, int64_t dflt) { return agent > 0 ? agent : backend > 0 ? backend : dflt; };
    const Timeouts& d = kDefaultTimeouts;
    return {pick(a.timeouts.connect_ms, b.timeouts.connect_ms, d.connect_ms),
            pick(a.timeouts.first_token_ms, b.timeouts.first_token_ms, d.first_token_ms),
            pick(a.timeouts.idle_ms, b.timeouts.idle_ms, d.idle_ms), pick(a.timeouts.total_ms, b.timeouts.total_ms, d.total_ms)};
}

std::string timeout_name(const char* field, int64_t ms) {
    char v[32];
    if (ms % 1000 == 0) std::snprintf(v, sizeof v, "%lld s", static_cast<long long>(ms / 1000));
    else std::snprintf(v, sizeof v, "%lld ms", static_cast<long long>(ms));
    return std::string(field) + " timeout (" + v + ")";
}

}  // namespace moa

