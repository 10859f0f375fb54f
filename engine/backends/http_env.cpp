// The transport's helpers that need no transfer: Retry-After and rate-limit reset
// headers, scrubbing secrets from text, and whether a proxy variable applies to a host.
#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "backends/http_transport.hpp"
#include "moa/ascii.hpp"
#include "moa/duration.hpp"

namespace moa {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

}  // namespace

int64_t retry_after_ms(const std::map<std::string, std::string>& h) {
    if (auto it = h.find("retry-after-ms"); it != h.end()) {
        char* end = nullptr;
        double ms = std::strtod(it->second.c_str(), &end);
        if (end != it->second.c_str() && ms >= 0) return static_cast<int64_t>(ms);
    }
    if (auto it = h.find("retry-after"); it != h.end()) {
        const std::string& v = it->second;
        if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return ascii::is_digit(c) || c == '.'; }))
            return static_cast<int64_t>(std::strtod(v.c_str(), nullptr) * 1000);
        time_t when = curl_getdate(v.c_str(), nullptr);
        if (when > 0) return std::max<int64_t>(0, static_cast<int64_t>(when - time(nullptr)) * 1000);
    }
    for (const char* name : {"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"}) {
        if (auto it = h.find(name); it != h.end())
            if (auto ms = parse_duration_ms(it->second, DurationForm::Go)) return *ms;
    }
    for (const char* name : {"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"}) {
        if (auto it = h.find(name); it != h.end()) {
            time_t when = curl_getdate(it->second.c_str(), nullptr);
            if (when > 0) return std::max<int64_t>(0, static_cast<int64_t>(when - time(nullptr)) * 1000);
        }
    }
    return -1;
}

std::string scrub_secrets(std::string s, const std::vector<std::string>& secrets) {
    for (const auto& key : secrets) {
        if (key.size() < 4) continue;  // too short to tell from ordinary text
        for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p)) s.replace(p, key.size(), "***");
    }
    return s;
}

// The native client speaks to servers directly; whenever a proxy variable could apply
// to a host (not exempted by no_proxy), the call goes through libcurl, which honours
// them. (curl reads http_proxy in lower case only; HTTP_PROXY is counted here too, so
// the rule errs towards libcurl.)
void HttpTransport::read_proxy_env() {
    for (const char* v : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"})
        if (!env(v).empty()) proxy_set_ = true;
    no_proxy_ = env("no_proxy").empty() ? env("NO_PROXY") : env("no_proxy");
}

bool HttpTransport::proxied(const std::string& host) const {
    if (!proxy_set_) return false;
    std::string h = ascii::lower(host);
    std::string_view list(no_proxy_);
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string entry = ascii::lower(ascii::trim(list.substr(0, comma)));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (entry == "*") return false;
        if (!entry.empty() && entry[0] == '.') entry.erase(0, 1);
        if (entry.empty()) continue;
        if (h == entry || (h.size() > entry.size() && h.compare(h.size() - entry.size(), entry.size(), entry) == 0 &&
                           h[h.size() - entry.size() - 1] == '.'))
            return false;
    }
    return true;
}

}  // namespace moa
