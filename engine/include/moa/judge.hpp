// Judges are graphs: a graph with a `verdict` declaration (moa/graph_spec.hpp
// VerdictSpec) is run like any other, with the answers to judge as job variables, and
// its panel's replies are read into one verdict here.
//
//   moa::Engine judge(judge_graph, {});
//   moa::Query q{"1", instruction, "", moa::pairwise_vars(first, second)};
//   moa::Verdict v = moa::read_verdict(judge.graph(), judge.run_one(q));
//
// A reply that names no verdict (or two different ones, or a score out of range) is
// Unparsable, never a tie: the caller counts it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moa/engine.hpp"
#include "moa/graph_spec.hpp"

namespace moa {

struct Verdict {
    // First / Second: the answer shown as {{answer_a}} / {{answer_b}} is better.
    enum class Kind { First, Second, Tie, Score, Unparsable } kind = Kind::Unparsable;
    double score = 0;   // Score: the panel's mean
    std::string reply;  // one member: its reply; a panel: the replies, one per line as "node: reply"
    std::string error;  // Unparsable: why (the reply is quoted), or the job's error
    // The panel: members asked, members whose reply named a verdict, members whose
    // reply named none (unparsable) and members whose call failed (no reply).
    int members = 0, counted = 0, unparsable = 0, failed = 0;
};

const char* to_string(Verdict::Kind k);  // "first", "second", "tie", "score", "unparsable"

// One reply read by the verdict's rule.
Verdict read_reply(const VerdictSpec& v, std::string_view reply);

// The panel's verdict for one judge job. Each member's reply comes from
// `result.outputs` (a panel node's reply is the output verdict_output_name(node)); a
// member without one failed and is left out. Pairwise: majority of the members that
// named a verdict, a tie between the most named is Tie; score: their mean. No member
// counted: Unparsable (error says why). `judge` must have a verdict. A job in which a
// panel member failed is not `ok` (its output failed), yet the other members still
// count here: read the verdict whatever `result.ok` says.
Verdict read_verdict(const GraphSpec& judge, const JobResult& result);

// The job variables of a judgement.
std::vector<std::pair<std::string, std::string>> pairwise_vars(std::string answer_a, std::string answer_b);
std::vector<std::pair<std::string, std::string>> score_vars(std::string answer);

}  // namespace moa
