// What calls cost: the price of a model (from the graph's `price` declarations and
// the stdlib table, moa/graph_spec.hpp PriceSpec) and the money a call's tokens are.
//
//   if (auto p = moa::find_price(graph, "openai", "gpt-4o"))
//       double usd = moa::cost_usd(*p, 1200, 300);   // 1200 tokens in, 300 out
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "moa/graph_spec.hpp"

namespace moa {

struct Price {
    double input = 0, output = 0;        // USD per 1M tokens
    std::optional<double> cached_input;  // USD per 1M cached input tokens; none = input's price
    std::string origin;                  // "stdlib 2025-06-01", "graph.moa:12"
};

// The price of `model` on the backend named `backend` (graph prices before the stdlib
// table; GraphSpec::price says how the most specific one is chosen), or nullopt: an
// unknown cost.
std::optional<Price> find_price(const GraphSpec& g, const std::string& backend, const std::string& model);

// USD for one call. `cached_in` is the part of `tokens_in` the provider read from its
// prompt cache (priced at cached_input when there is one).
double cost_usd(const Price& p, uint64_t tokens_in, uint64_t tokens_out, uint64_t cached_in = 0);

// "$0.0123" style: enough digits for a cent fraction of a cheap call ("$0.000042").
std::string format_usd(double usd);

}  // namespace moa
