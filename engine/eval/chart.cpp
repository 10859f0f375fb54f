// Inline SVG chart of quality vs. cost per query with the Pareto frontier (chart.hpp).
#include "eval/chart.hpp"

#include <algorithm>
#include <cmath>

#include "eval/cells.hpp"

namespace moa::eval {

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += ch;
        }
    }
    return out;
}

void pareto_frontier(std::vector<ChartPoint>& points) {
    for (auto& p : points) {
        p.frontier = true;
        for (const auto& q : points) {
            const bool no_worse = q.cost <= p.cost && q.quality.value >= p.quality.value;
            const bool better = q.cost < p.cost || q.quality.value > p.quality.value;
            if (no_worse && better) p.frontier = false;
        }
    }
}

namespace {

// Plot area inside a 640 x 400 canvas.
constexpr double kW = 640, kH = 400, kLeft = 70, kRight = 20, kTop = 20, kBottom = 56;

// A round tick step giving about `ticks` intervals over `range` (1, 2 or 5 x 10^k).
double nice_step(double range, int ticks) {
    const double raw = range / ticks;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

int decimals_for(double step) { return std::max(0, -int(std::floor(std::log10(step) + 1e-9))); }

struct Axis {
    double lo, hi, step;
    double map(double v, double from, double to) const { return from + (v - lo) / (hi - lo) * (to - from); }
};

Axis make_axis(double lo, double hi) {
    if (!(hi > lo)) lo -= 1, hi += 1;
    const double step = nice_step(hi - lo, 5);
    return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

std::string num(double v) { return fixed(v, 1); }

void axes(std::string& s, const Axis& x, const Axis& y, const std::string& y_label) {
    const double x0 = kLeft, x1 = kW - kRight, y0 = kH - kBottom, y1 = kTop;
    s += "<rect x='" + num(x0) + "' y='" + num(y1) + "' width='" + num(x1 - x0) + "' height='" + num(y0 - y1) +
         "' fill='#fff' stroke='#999'/>\n";
    for (double v = x.lo; v <= x.hi + x.step / 2; v += x.step) {
        const std::string px = num(x.map(v, x0, x1));
        s += "<line x1='" + px + "' y1='" + num(y1) + "' x2='" + px + "' y2='" + num(y0) + "' stroke='#eee'/>";
        s += "<text x='" + px + "' y='" + num(y0 + 18) + "' text-anchor='middle'>" + fixed(v, decimals_for(x.step)) +
             "</text>\n";
    }
    for (double v = y.lo; v <= y.hi + y.step / 2; v += y.step) {
        const std::string py = num(y.map(v, y0, y1));
        s += "<line x1='" + num(x0) + "' y1='" + py + "' x2='" + num(x1) + "' y2='" + py + "' stroke='#eee'/>";
        s += "<text x='" + num(x0 - 8) + "' y='" + py + "' text-anchor='end' dominant-baseline='middle'>" +
             fixed(v, decimals_for(y.step)) + "</text>\n";
    }
    s += "<text x='" + num((x0 + x1) / 2) + "' y='" + num(kH - 10) +
         "' text-anchor='middle'>cost per query (USD)</text>\n";
    s += "<text transform='translate(16," + num((y0 + y1) / 2) + ") rotate(-90)' text-anchor='middle'>" +
         html_escape(y_label) + "</text>\n";
}

}  // namespace

std::string chart_svg(std::vector<ChartPoint> points, const std::string& y_label) {
    pareto_frontier(points);
    double cmax = 0, qlo = INFINITY, qhi = -INFINITY;
    for (const auto& p : points) {
        cmax = std::max(cmax, p.cost);
        qlo = std::min({qlo, p.quality.value, std::isfinite(p.quality.low) ? p.quality.low : p.quality.value});
        qhi = std::max({qhi, p.quality.value, std::isfinite(p.quality.high) ? p.quality.high : p.quality.value});
    }
    if (points.empty()) qlo = 0, qhi = 100;
    const Axis x = make_axis(0, cmax > 0 ? cmax * 1.08 : 1);
    const Axis y = make_axis(qlo, qhi);
    const double x0 = kLeft, x1 = kW - kRight, y0 = kH - kBottom, y1 = kTop;
    std::string s = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 640 400' width='640' height='400' "
                    "role='img' aria-label='quality against cost per query'>\n";
    axes(s, x, y, y_label);
    if (points.empty())
        s += "<text x='" + num((x0 + x1) / 2) + "' y='" + num((y0 + y1) / 2) +
             "' text-anchor='middle'>no candidate with both a quality and a known cost</text>\n";
    std::vector<ChartPoint> front;
    for (const auto& p : points)
        if (p.frontier) front.push_back(p);
    std::sort(front.begin(), front.end(), [](const auto& a, const auto& b) { return a.cost < b.cost; });
    if (front.size() > 1) {
        s += "<polyline class='frontier' fill='none' stroke='#d62728' stroke-width='2' stroke-dasharray='6 4' points='";
        for (const auto& p : front) s += num(x.map(p.cost, x0, x1)) + "," + num(y.map(p.quality.value, y0, y1)) + " ";
        s += "'/>\n";
    }
    for (const auto& p : points) {
        const std::string px = num(x.map(p.cost, x0, x1)), py = num(y.map(p.quality.value, y0, y1));
        if (std::isfinite(p.quality.low) && std::isfinite(p.quality.high))
            s += "<line x1='" + px + "' y1='" + num(y.map(p.quality.low, y0, y1)) + "' x2='" + px + "' y2='" +
                 num(y.map(p.quality.high, y0, y1)) + "' stroke='#555'/>";
        s += "<circle cx='" + px + "' cy='" + py + "' r='5' " +
             (p.frontier ? "class='pt frontier' fill='#d62728' stroke='#d62728'" : "class='pt' fill='#fff' stroke='#555'") +
             "><title>" +
             html_escape(p.name) + "</title></circle>";
        // Labels right of a point in the left half, left of it in the right half: inside the plot.
        const double lx = x.map(p.cost, x0, x1);
        const bool left = lx > (x0 + x1) / 2;
        s += "<text x='" + num(left ? lx - 8 : lx + 8) + "' y='" + num(y.map(p.quality.value, y0, y1) - 8) + "'" +
             (left ? " text-anchor='end'" : "") + ">" + html_escape(p.name) + "</text>\n";
    }
    return s + "</svg>\n";
}

}  // namespace moa::eval
