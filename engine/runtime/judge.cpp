// Reading a judge's replies into verdicts (moa/judge.hpp): the labels of a pairwise
// verdict, the number in a score pattern, and a panel's majority or mean.
#include "moa/judge.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "moa/ascii.hpp"

namespace moa {

namespace {

// The reply as quoted in an error: its start, on one line.
std::string excerpt(std::string_view reply) {
    std::string s(reply.substr(0, 200));
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (reply.size() > 200) s += "...";
    return s;
}

using ascii::lower;

std::string labels_text(const VerdictSpec& v) {
    std::string r;
    for (const auto* l : {&v.first, &v.second, &v.tie})
        for (const auto& x : *l) r += (r.empty() ? "\"" : ", \"") + x + "\"";
    return r;
}

Verdict unparsable(std::string_view reply, std::string why) {
    Verdict v;
    v.reply = std::string(reply);
    v.error = std::move(why) + ": \"" + excerpt(reply) + "\"";
    return v;
}

Verdict read_pairwise(const VerdictSpec& spec, std::string_view reply) {
    std::string text = lower(reply);
    auto names = [&](const std::vector<std::string>& labels) {
        return std::any_of(labels.begin(), labels.end(),
                           [&](const std::string& l) { return text.find(lower(l)) != std::string::npos; });
    };
    bool a = names(spec.first), b = names(spec.second), t = names(spec.tie);
    int found = int(a) + int(b) + int(t);
    if (found == 0) return unparsable(reply, "the reply names no verdict (one of " + labels_text(spec) + ")");
    if (found > 1) return unparsable(reply, "the reply names more than one verdict (of " + labels_text(spec) + ")");
    Verdict v;
    v.reply = std::string(reply);
    v.kind = a ? Verdict::Kind::First : b ? Verdict::Kind::Second : Verdict::Kind::Tie;
    return v;
}

bool starts_with_ci(std::string_view s, size_t at, std::string_view what) {
    if (at + what.size() > s.size()) return false;
    for (size_t i = 0; i < what.size(); ++i)
        if (ascii::to_lower(s[at + i]) != ascii::to_lower(what[i])) return false;
    return true;
}

// The number at `at` (optional spaces, sign, digits, fraction); its end in `end`.
bool number_at(std::string_view s, size_t at, double& x, size_t& end) {
    size_t i = at;
    while (i < s.size() && s[i] == ' ') ++i;
    size_t start = i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t digits = i;
    while (i < s.size() && ascii::is_digit(s[i])) ++i;
    if (i == digits) return false;
    if (i + 1 < s.size() && s[i] == '.' && ascii::is_digit(s[i + 1])) {
        ++i;
        while (i < s.size() && ascii::is_digit(s[i])) ++i;
    }
    x = std::strtod(std::string(s.substr(start, i - start)).c_str(), nullptr);
    while (i < s.size() && s[i] == ' ') ++i;
    end = i;
    return true;
}

Verdict read_score(const VerdictSpec& spec, std::string_view reply) {
    std::vector<double> found;
    for (size_t i = 0; i < reply.size(); ++i) {
        if (spec.score_prefix.empty()) {
            // No text before the number: a number starts here, not inside another.
            bool inside = i > 0 && (ascii::is_digit(reply[i - 1]) || reply[i - 1] == '.');
            if (inside || !(ascii::is_digit(reply[i]) || reply[i] == '-' || reply[i] == '+')) continue;
        } else if (!starts_with_ci(reply, i, spec.score_prefix)) {
            continue;
        }
        double x = 0;
        size_t end = 0;
        if (!number_at(reply, i + spec.score_prefix.size(), x, end)) continue;
        if (!starts_with_ci(reply, end, spec.score_suffix)) continue;
        found.push_back(x);
        i = end + spec.score_suffix.size() - 1;
    }
    if (found.empty()) return unparsable(reply, "the reply has no score in the pattern \"" + spec.pattern + "\"");
    if (std::any_of(found.begin(), found.end(), [&](double x) { return x != found[0]; }))
        return unparsable(reply, "the reply names more than one score");
    if (found[0] < spec.min || found[0] > spec.max) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "the score %g is outside the range [%g, %g]", found[0], spec.min, spec.max);
        return unparsable(reply, buf);
    }
    Verdict v;
    v.kind = Verdict::Kind::Score;
    v.score = found[0];
    v.reply = std::string(reply);
    return v;
}

// The panel's verdict from its members' verdicts (Unparsable ones already excluded).
void combine(const VerdictSpec& spec, const std::vector<Verdict>& counted, Verdict& out) {
    if (spec.mode == VerdictMode::Score) {
        double sum = 0;
        for (const auto& m : counted) sum += m.score;
        out.kind = Verdict::Kind::Score;
        out.score = sum / static_cast<double>(counted.size());
        return;
    }
    int n[3] = {0, 0, 0};
    for (const auto& m : counted) ++n[static_cast<int>(m.kind)];
    int best = std::max({n[0], n[1], n[2]});
    int at_best = int(n[0] == best) + int(n[1] == best) + int(n[2] == best);
    out.kind = at_best > 1 ? Verdict::Kind::Tie : static_cast<Verdict::Kind>(n[0] == best ? 0 : n[1] == best ? 1 : 2);
}

}  // namespace

const char* to_string(Verdict::Kind k) {
    switch (k) {
        case Verdict::Kind::First: return "first";
        case Verdict::Kind::Second: return "second";
        case Verdict::Kind::Tie: return "tie";
        case Verdict::Kind::Score: return "score";
        case Verdict::Kind::Unparsable: return "unparsable";
    }
    return "?";
}

Verdict read_reply(const VerdictSpec& v, std::string_view reply) {
    Verdict r = v.mode == VerdictMode::Pairwise ? read_pairwise(v, reply) : read_score(v, reply);
    r.members = 1;
    (r.kind == Verdict::Kind::Unparsable ? r.unparsable : r.counted) = 1;
    return r;
}

Verdict read_verdict(const GraphSpec& judge, const JobResult& result) {
    Verdict out;
    if (!judge.verdict) {
        out.error = "the graph is not a judge (it has no verdict)";
        return out;
    }
    const VerdictSpec& spec = *judge.verdict;
    std::vector<Verdict> counted;
    std::string errors;
    for (const auto& node : spec.nodes) {
        ++out.members;
        std::string name = verdict_output_name(node);
        auto it = std::find_if(result.outputs.begin(), result.outputs.end(), [&](const auto& o) { return o.first == name; });
        if (it == result.outputs.end()) {
            ++out.failed;  // the call failed: no reply to read
            continue;
        }
        Verdict m = read_reply(spec, it->second);
        if (!out.reply.empty()) out.reply += "\n";
        out.reply += spec.nodes.size() == 1 ? it->second : node + ": " + it->second;
        if (m.kind == Verdict::Kind::Unparsable) {
            ++out.unparsable;
            errors += (errors.empty() ? "" : "; ") + (spec.nodes.size() == 1 ? m.error : node + ": " + m.error);
        } else {
            ++out.counted;
            counted.push_back(std::move(m));
        }
    }
    if (counted.empty()) {
        out.kind = Verdict::Kind::Unparsable;
        out.error = !errors.empty() ? errors : result.error.empty() ? "no judge answered" : "no judge answered: " + result.error;
        return out;
    }
    combine(spec, counted, out);
    return out;
}

std::vector<std::pair<std::string, std::string>> pairwise_vars(std::string answer_a, std::string answer_b) {
    return {{kVarAnswerA, std::move(answer_a)}, {kVarAnswerB, std::move(answer_b)}};
}

std::vector<std::pair<std::string, std::string>> score_vars(std::string answer) {
    return {{kVarAnswer, std::move(answer)}};
}

}  // namespace moa
