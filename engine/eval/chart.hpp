// The report's chart: quality against cost per query, Pareto frontier marked, as inline SVG.
#pragma once

#include <string>
#include <vector>

#include "moa/eval_stats.hpp"

namespace moa::eval {

// The HTML-escaped form of untrusted text (& < > " ').
std::string html_escape(const std::string& s);

struct ChartPoint {
    std::string name;
    double cost = 0;       // USD per query
    Interval quality;      // value and its 95% interval
    bool frontier = false; // on the Pareto frontier (set by pareto_frontier)
};

// Marks the points no other point dominates (costs no more and is at least as good, one
// of the two strictly). Ties on both count as frontier points both.
void pareto_frontier(std::vector<ChartPoint>& points);

// The chart as an <svg> element (names escaped), quality on the y axis labelled `y_label`.
std::string chart_svg(std::vector<ChartPoint> points, const std::string& y_label);

}  // namespace moa::eval
