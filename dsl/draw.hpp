// Drawings of a GraphSpec (`moa graph --format dot|mermaid`); dump.cpp dispatches here.
#pragma once

#include <iosfwd>

#include "moa/graph_spec.hpp"

namespace moa {

void dump_dot(std::ostream& out, const GraphSpec& g);
void dump_mermaid(std::ostream& out, const GraphSpec& g);

}  // namespace moa
