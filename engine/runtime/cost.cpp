#include "moa/cost.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace moa {

std::optional<Price> find_price(const GraphSpec& g, const std::string& backend, const std::string& model) {
    const PriceSpec* p = g.price(backend, model);
    if (!p) return std::nullopt;
    Price out;
    out.input = p->input;
    out.output = p->output;
    out.cached_input = p->cached_input;
    if (p->stdlib) out.origin = "stdlib" + (p->as_of.empty() ? std::string() : " " + p->as_of);
    else out.origin = std::filesystem::path(p->loc.file).filename().string() + ":" + std::to_string(p->loc.line);
    return out;
}

double cost_usd(const Price& p, uint64_t tokens_in, uint64_t tokens_out, uint64_t cached_in) {
    cached_in = std::min(cached_in, tokens_in);
    double cached_rate = p.cached_input ? *p.cached_input : p.input;
    return (static_cast<double>(tokens_in - cached_in) * p.input + static_cast<double>(cached_in) * cached_rate +
            static_cast<double>(tokens_out) * p.output) /
           1e6;
}

std::string format_usd(double usd) {
    char b[48];
    double a = std::fabs(usd);
    int digits = a == 0 || a >= 0.001 ? 4 : 6;  // a cheap call still shows its digits
    std::snprintf(b, sizeof b, "$%.*f", digits, usd);
    return b;
}

}  // namespace moa
