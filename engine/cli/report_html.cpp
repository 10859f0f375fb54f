// `moa run --report FILE.html`: one self-contained page (inline CSS, SVG and script;
// no network). Tables and the graph are rendered here, HTML-escaped (node names,
// errors and ids are untrusted text); the timeline is drawn by the page's script from
// the JSON embedded in it, with textContent only (never innerHTML).
#include <algorithm>
#include <cstdio>
#include <map>

#include "moa/json_writer.hpp"
#include "report_data.hpp"

namespace moa::cli {

namespace {

std::string num(double x, const char* f = "%.1f") {
    char b[32];
    std::snprintf(b, sizeof b, f, x);
    return b;
}

const char* kStyle = R"(body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px}.card b{display:block;font-size:18px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child,td.t{text-align:left}th{background:#f0f0f0}.err{color:#b00020}
pre{white-space:pre-wrap;max-width:900px;margin:0}svg{background:#fff;border:1px solid #ddd}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle})";

// Columns per layer, a box per node, a curve per input edge.
std::string graph_svg(const GraphSpec& g) {
    std::map<std::string, std::pair<int, int>> pos;  // node -> column, row
    size_t rows = 1;
    for (size_t l = 0; l < g.layers.size(); ++l) {
        for (size_t k = 0; k < g.layers[l].nodes.size(); ++k) pos[g.layers[l].nodes[k]] = {static_cast<int>(l), static_cast<int>(k)};
        rows = std::max(rows, g.layers[l].nodes.size());
    }
    const int W = 170, H = 26, DX = 230, DY = 38, TOP = 30;
    int width = static_cast<int>(std::max<size_t>(1, g.layers.size())) * DX + 20;
    int height = static_cast<int>(rows) * DY + TOP + 10;
    std::string s = "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\">";
    for (size_t l = 0; l < g.layers.size(); ++l)
        s += "<text x=\"" + std::to_string(10 + static_cast<int>(l) * DX) + "\" y=\"18\" font-weight=\"bold\">" +
             html_escape(g.layers[l].name) + "</text>";
    auto xy = [&](const std::string& id, bool right) {
        auto [c, r] = pos[id];
        return std::make_pair(10 + c * DX + (right ? W : 0), TOP + r * DY + H / 2);
    };
    for (const auto& n : g.nodes)
        for (const auto& in : n.inputs) {
            if (!pos.count(in) || !pos.count(n.id)) continue;
            auto [x1, y1] = xy(in, true);
            auto [x2, y2] = xy(n.id, false);
            int mx = (x1 + x2) / 2;
            s += "<path d=\"M" + std::to_string(x1) + "," + std::to_string(y1) + " C" + std::to_string(mx) + "," +
                 std::to_string(y1) + " " + std::to_string(mx) + "," + std::to_string(y2) + " " + std::to_string(x2) + "," +
                 std::to_string(y2) + "\" fill=\"none\" stroke=\"#9aa\"/>";
        }
    for (const auto& n : g.nodes) {
        if (!pos.count(n.id)) continue;
        auto [x, y] = xy(n.id, false);
        std::string label = n.id.size() > 24 ? n.id.substr(0, 23) + "..." : n.id;
        s += "<g><title>" + html_escape(n.id + " (agent " + n.agent + ")") + "</title><rect x=\"" + std::to_string(x) +
             "\" y=\"" + std::to_string(y - H / 2) + "\" width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
             "\" rx=\"5\" fill=\"#eef4ff\" stroke=\"#57a\"/><text x=\"" + std::to_string(x + 6) + "\" y=\"" +
             std::to_string(y + 5) + "\" font-size=\"12\">" + html_escape(label) + "</text></g>";
    }
    return s + "</svg>";
}

std::string cards(const RunReport& r) {
    const RunStats& s = r.stats();
    auto card = [](const std::string& k, const std::string& v) { return "<div class=\"card\"><b>" + v + "</b>" + k + "</div>"; };
    std::string o = "<div class=\"cards\">";
    o += card("jobs", std::to_string(r.jobs().size())) + card("failed jobs", std::to_string(r.jobs_failed()));
    o += card("calls", std::to_string(s.calls)) + card("retries", std::to_string(s.retries));
    o += card("cache hits", std::to_string(s.cache_hits)) + card("tokens in", std::to_string(s.tokens_in));
    o += card("tokens out", std::to_string(s.tokens_out)) + card("wall time", num(r.wall_ms() / 1000, "%.2f s"));
    o += card("critical path", num(s.critical_path_ms / 1000, "%.2f s"));
    o += card("cost", html_escape(cost_text(s.cost_usd, s.unknown_cost_calls)));
    if (s.saved_usd > 0) o += card("saved by the cache", html_escape(cost_text(s.saved_usd, 0)));
    if (!s.budget_reached.empty())
        o += card("jobs stopped by the budget", html_escape(s.budget_reached) + ": " + std::to_string(s.budget_stopped_jobs));
    return o + "</div>";
}

std::string node_table(const RunReport& r) {
    std::string o = "<table id=\"nodes\"><tr><th>node</th><th>layer</th><th>model</th><th>calls</th><th>failed</th>"
                    "<th>cache hits</th><th>attempts</th><th>p50 ms</th><th>p95 ms</th><th>max ms</th><th>tokens in</th>"
                    "<th>tokens out</th><th>cost</th></tr>";
    for (const auto& n : r.nodes())
        o += "<tr><td>" + html_escape(n.node) + "</td><td class=\"t\">" + html_escape(n.layer) + "</td><td class=\"t\">" +
             html_escape(n.model) + "</td><td>" + std::to_string(n.calls) + "</td><td" + (n.failed ? " class=\"err\"" : "") +
             ">" + std::to_string(n.failed) + "</td><td>" + std::to_string(n.cache_hits) + "</td><td>" +
             std::to_string(n.attempts) + "</td><td>" + num(n.latency.p50) + "</td><td>" + num(n.latency.p95) + "</td><td>" +
             num(n.latency.max) + "</td><td>" + std::to_string(n.tokens_in) + (n.estimated ? "*" : "") + "</td><td>" +
             std::to_string(n.tokens_out) + (n.estimated ? "*" : "") + "</td><td>" +
             html_escape(cost_text(n.cost_usd, n.unknown_cost)) + "</td></tr>";
    o += "</table><h2>Layers</h2><table id=\"layers\"><tr><th>layer</th><th>calls</th><th>failed</th><th>cache hits</th>"
         "<th>p50 ms</th><th>p95 ms</th><th>max ms</th><th>tokens in</th><th>tokens out</th><th>cost</th></tr>";
    for (const auto& l : r.layers())
        o += "<tr><td>" + html_escape(l.layer) + "</td><td>" + std::to_string(l.calls) + "</td><td>" + std::to_string(l.failed) +
             "</td><td>" + std::to_string(l.cache_hits) + "</td><td>" + num(l.latency.p50) + "</td><td>" +
             num(l.latency.p95) + "</td><td>" + num(l.latency.max) + "</td><td>" + std::to_string(l.tokens_in) +
             "</td><td>" + std::to_string(l.tokens_out) + "</td><td>" + html_escape(cost_text(l.cost_usd, l.unknown_cost)) +
             "</td></tr>";
    o += "</table>";
    bool estimated = false;
    for (const auto& n : r.nodes()) estimated = estimated || n.estimated;
    return estimated ? o + "<p>* some tokens are estimates (the provider sent no usage).</p>" : o;
}

std::string failure_table(const RunReport& r) {
    if (r.failures().empty() && r.jobs_failed() == 0) return "<p id=\"failures\">No failures.</p>";
    std::string o = "<p>Calls that failed (after their retries and fallback):</p><table id=\"failures\"><tr><th>job</th><th>node</th><th>agent</th><th>kind</th><th>message</th></tr>";
    size_t shown = 0;
    for (const auto& f : r.failures()) {
        if (++shown > 500) break;  // the JSON report has them all
        o += "<tr><td>" + html_escape(f.job) + "</td><td class=\"t\">" + html_escape(f.node) + "</td><td class=\"t\">" +
             html_escape(f.agent) + "</td><td class=\"t\">" + html_escape(f.error_kind) + "</td><td class=\"t\"><pre>" +
             html_escape(f.error) + "</pre></td></tr>";
    }
    o += "</table>";
    if (r.jobs_failed() == 0) return o;
    o += "<h2>Failed jobs</h2><table id=\"failed-jobs\"><tr><th>job</th><th>node</th><th>message</th></tr>";
    shown = 0;
    for (const auto& j : r.jobs()) {
        if (j.ok) continue;
        if (++shown > 500) break;
        o += "<tr><td>" + html_escape(j.id) + "</td><td class=\"t\">" + html_escape(j.error_node) +
             "</td><td class=\"t\"><pre>" + html_escape(j.error) + "</pre></td></tr>";
    }
    return o + "</table>";
}

// The timeline's data; every '<' escaped so the text cannot end its <script> element.
std::string timeline_json(const RunReport& r) {
    std::string s;
    JsonWriter w(s);
    w.begin_object().key("nodes").begin_array();
    for (const auto& n : r.graph().nodes) w.value(n.id);
    w.end_array().key("lanes").begin_array();  // per node, its layer: a job's row has a lane per layer
    for (const auto& n : r.graph().nodes) {
        size_t l = 0;
        while (l < r.graph().layers.size() && r.graph().layers[l].name != n.layer) ++l;
        w.value(l);
    }
    w.end_array().key("layers").value(r.graph().layers.size()).key("jobs").begin_object();
    for (const auto& j : r.jobs())
        if (j.seq < RunReport::kTimelineJobs) w.key(std::to_string(j.seq)).value(j.id);
    w.end_object().key("calls").begin_array();
    for (const auto& c : r.timeline()) {
        w.begin_array().value(c.job_seq).value(c.node).number(c.start).number(c.sent).number(c.end).value(c.status);
        w.end_array();
    }
    w.end_array().end_object();
    std::string out;
    for (char c : s) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
    return out;
}

const char* kScript = R"(
(function () {
  var data = JSON.parse(document.getElementById('run-data').textContent);
  var svg = document.getElementById('timeline'), NS = 'http://www.w3.org/2000/svg';
  var seqs = [], end = 0;
  data.calls.forEach(function (c) { if (seqs.indexOf(c[0]) < 0) seqs.push(c[0]); end = Math.max(end, c[4]); });
  seqs.sort(function (a, b) { return a - b; });
  var start = data.calls.reduce(function (m, c) { return Math.min(m, c[2]); }, end);
  var W = 1000, L = 120, LANE = 8, RH = 6 + LANE * Math.max(data.layers, 1), rows = {};
  var span = Math.max(end - start, 0.001);
  seqs.forEach(function (s, i) { rows[s] = i; });
  svg.setAttribute('width', L + W + 20);
  svg.setAttribute('height', seqs.length * RH + 30);
  var colors = { ok: '#3a8f5c', error: '#c62828', cancelled: '#9e9e9e', cache: '#3f6fd8' };
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  }
  function x(t) { return L + (t - start) / span * W; }
  seqs.forEach(function (s) {
    el('text', { x: 4, y: rows[s] * RH + 12, 'font-size': 10 }, 'job ' + (data.jobs[s] !== undefined ? data.jobs[s] : s + 1));
  });
  data.calls.forEach(function (c) {
    var y = rows[c[0]] * RH + 3 + LANE * data.lanes[c[1]], sent = c[3] < 0 ? c[4] : c[3];
    var g = document.createElementNS(NS, 'g');
    svg.appendChild(g);
    var title = document.createElementNS(NS, 'title');
    title.textContent = data.nodes[c[1]] + ': ' + c[5] + ', ' + (c[4] - c[2]).toFixed(1) + ' ms (' +
      (sent - c[2]).toFixed(1) + ' ms waiting)';
    g.appendChild(title);
    var wait = document.createElementNS(NS, 'rect');
    [['x', x(c[2])], ['y', y + 2], ['width', Math.max(x(sent) - x(c[2]), 0)], ['height', LANE - 5], ['fill', '#bbb']]
      .forEach(function (a) { wait.setAttribute(a[0], a[1]); });
    g.appendChild(wait);
    var run = document.createElementNS(NS, 'rect');
    [['x', x(sent)], ['y', y], ['width', Math.max(x(c[4]) - x(sent), 1)], ['height', LANE - 1],
     ['fill', colors[c[5]] || '#555'], ['fill-opacity', 0.55]].forEach(function (a) { run.setAttribute(a[0], a[1]); });
    g.appendChild(run);
  });
  el('text', { x: L, y: seqs.length * RH + 24, 'font-size': 10 }, '0 ms');
  el('text', { x: L + W - 60, y: seqs.length * RH + 24, 'font-size': 10 }, span.toFixed(0) + ' ms');
  document.getElementById('timeline-note').textContent = data.calls.length + ' calls of ' + seqs.length +
    ' jobs; a row per job, a lane per layer; grey: queued or waiting for a slot, colour: sent to the ' +
    'backend (hover a bar for details).';
  document.body.setAttribute('data-rendered', 'yes');
})();
)";

}  // namespace

std::string report_html(const RunReport& r) {
    std::string o = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    // Nothing may load from anywhere: the page is whole (a load attempt is a console error).
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                    "style-src 'unsafe-inline'; script-src 'unsafe-inline'\"><title>moa run: " +
                    html_escape(r.graph_file()) + "</title><style>" + kStyle + "</style></head><body>\n";
    o += "<h1>moa run: " + html_escape(r.graph_file()) + "</h1>\n" + cards(r) + "\n<h2>Graph</h2>\n" + graph_svg(r.graph());
    o += "\n<h2>Timeline</h2><p id=\"timeline-note\">(the timeline needs JavaScript)</p><div class=\"legend\">"
         "<span style=\"background:#3a8f5c\"></span>ok<span style=\"background:#c62828\"></span>error"
         "<span style=\"background:#9e9e9e\"></span>cancelled<span style=\"background:#3f6fd8\"></span>cache hit"
         "<span style=\"background:#ccc\"></span>waiting</div><svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" "
         "width=\"10\" height=\"10\"></svg>\n";
    if (r.jobs().size() > RunReport::kTimelineJobs)
        o += "<p>The timeline shows the first " + std::to_string(RunReport::kTimelineJobs) + " jobs of " +
             std::to_string(r.jobs().size()) + ".</p>\n";
    o += "<h2>Nodes</h2><p>Latency: from the call's node firing to its answer (queueing and retries included).</p>\n" +
         node_table(r) + "\n<h2>Failures</h2>\n" + failure_table(r) + "\n";
    o += "<script type=\"application/json\" id=\"run-data\">" + timeline_json(r) + "</script>\n<script>" + kScript +
         "</script>\n</body></html>\n";
    return o;
}

}  // namespace moa::cli
