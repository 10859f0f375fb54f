// Judges: job variables reach a judge's templates, the simulator answers as a scripted
// judge (deterministic under the seed), and read_verdict turns a panel's replies into
// one verdict without ever taking an unreadable reply for a tie.
#include <functional>
#include <map>
#include <set>

#include "engine_test_util.hpp"
#include "moa/judge.hpp"

using namespace moa;

namespace {

// A pairwise judge graph with one judge per backend block given.
std::string pairwise_graph(const std::vector<std::string>& judge_blocks, const std::string& labels = "") {
    std::string g = R"(
template ask = "Q: {{query}}\nA: {{answer_a}}\nB: {{answer_b}}"
)";
    std::string members;
    for (size_t i = 0; i < judge_blocks.size(); ++i) {
        std::string n = std::to_string(i);
        g += "backend s" + n + " {\n kind = sim\n " + judge_blocks[i] + "\n}\n";
        g += "agent j" + n + " {\n backend = s" + n + "\n model = \"judge-" + n + "\"\n user = ask\n}\n";
        members += (i ? ", j" : "j") + n;
    }
    g += "layer panel = [" + members + "]\n";
    g += "verdict pairwise {\n on = panel\n a = \"[[A]]\"\n b = \"[[B]]\"\n" + labels + "}\n";
    return g;
}

// Jobs with answers: marked[i] says which position (0 = A, 1 = B) holds the marked answer.
class JudgeJobs : public QuerySource {
public:
    JudgeJobs(size_t n, std::function<std::pair<std::string, std::string>(size_t)> answers)
        : n_(n), answers_(std::move(answers)) {}
    std::optional<Query> next() override {
        if (i_ >= n_) return std::nullopt;
        Query q;
        q.id = std::to_string(i_);
        q.prompt = "question " + std::to_string(i_);
        auto [a, b] = answers_(i_++);
        q.vars = pairwise_vars(a, b);
        return q;
    }

private:
    size_t n_, i_ = 0;
    std::function<std::pair<std::string, std::string>(size_t)> answers_;
};

std::vector<Verdict> judge_all(const GraphSpec& g, JudgeJobs& jobs, uint64_t seed = 0) {
    EngineOptions o;
    o.seed = seed;
    Engine e(g, o);
    std::vector<Verdict> out;
    e.run_batch(jobs, [&](JobResult&& r) { out.push_back(read_verdict(e.graph(), r)); });
    return out;
}

// The marked answer is at position A for even jobs, B for odd ones.
std::pair<std::string, std::string> marked_alternating(size_t i) {
    std::string marked = "GOOD answer " + std::to_string(i), plain = "an answer " + std::to_string(i);
    return i % 2 == 0 ? std::pair{marked, plain} : std::pair{plain, marked};
}

}  // namespace

TEST_CASE("a judge's templates show the job's variables, and a job without them shows nothing there") {
    auto g = test::load(pairwise_graph({"judge { prefer = \"GOOD\" }"}));
    Engine e(g, {});
    Query q;
    q.id = "1";
    q.prompt = "which?";
    q.vars = pairwise_vars("plain", "GOOD one");
    Verdict v = read_verdict(e.graph(), e.run_one(q));
    CHECK(v.kind == Verdict::Kind::Second);  // the simulator saw the marker in answer B
    CHECK(v.reply == "Verdict: [[B]]");
    q.vars = pairwise_vars("GOOD one", "plain");
    CHECK(read_verdict(e.graph(), e.run_one(q)).kind == Verdict::Kind::First);
}

TEST_CASE("a simulated judge preferring the marked answer with p = 0.7 does so 70% of the time, the same under a seed") {
    auto g = test::load(pairwise_graph({"judge {\n prefer = \"GOOD\"\n p = 0.7\n}"}));
    JudgeJobs jobs(2000, marked_alternating);
    auto v = judge_all(g, jobs, 7);
    REQUIRE(v.size() == 2000);
    int follows = 0, first = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        REQUIRE(v[i].kind != Verdict::Kind::Unparsable);
        bool picked_a = v[i].kind == Verdict::Kind::First;
        first += picked_a;
        follows += picked_a == (i % 2 == 0);
    }
    // Binomial(2000, 0.7): sd 1 point; 3 sd either side.
    CHECK(follows >= 1340);
    CHECK(follows <= 1460);
    CHECK(first >= 900);  // no position bias beyond chance
    CHECK(first <= 1100);
    JudgeJobs again(2000, marked_alternating);
    auto w = judge_all(g, again, 7);
    bool same = true;
    for (size_t i = 0; i < v.size(); ++i) same = same && v[i].kind == w[i].kind;
    CHECK(same);
    JudgeJobs other_seed(2000, marked_alternating);
    auto x = judge_all(g, other_seed, 8);
    int differ = 0;
    for (size_t i = 0; i < v.size(); ++i) differ += v[i].kind != x[i].kind;
    CHECK(differ > 100);  // another seed, other draws
}

TEST_CASE("a simulated judge with prefer = first always names the answer shown first") {
    auto g = test::load(pairwise_graph({"judge { prefer = first }"}));
    JudgeJobs jobs(200, marked_alternating);
    for (const auto& v : judge_all(g, jobs)) CHECK(v.kind == Verdict::Kind::First);
}

TEST_CASE("a simulated judge with prefer = longer names the longer answer, whichever position it is in") {
    auto g = test::load(pairwise_graph({"judge { prefer = longer }"}));
    // Longer in code points, not bytes: "ééé" (6 bytes) is shorter than "abcd".
    JudgeJobs jobs(200, [](size_t i) {
        std::string longer = "abcd" + std::string(i % 7, 'x'), shorter = "\xC3\xA9\xC3\xA9\xC3\xA9" + std::string(i % 7, 'x');
        return i % 3 == 0 ? std::pair{longer, shorter} : std::pair{shorter, longer};
    });
    auto v = judge_all(g, jobs);
    for (size_t i = 0; i < v.size(); ++i) {
        INFO(i);
        CHECK(v[i].kind == (i % 3 == 0 ? Verdict::Kind::First : Verdict::Kind::Second));
    }
}

TEST_CASE("a simulated judge's tie and unparsable probabilities give ties and unreadable replies, never mixed up") {
    auto g = test::load(pairwise_graph({"judge {\n prefer = first\n tie = 0.2\n unparsable = 0.1\n}"}, " tie = \"[[tie]]\"\n"));
    JudgeJobs jobs(2000, marked_alternating);
    std::map<Verdict::Kind, int> n;
    for (const auto& v : judge_all(g, jobs)) {
        ++n[v.kind];
        if (v.kind == Verdict::Kind::Unparsable) {
            CHECK(v.unparsable == 1);
            CHECK(v.error.find("names no verdict") != std::string::npos);
        }
    }
    CHECK(n[Verdict::Kind::Second] == 0);
    CHECK(n[Verdict::Kind::Tie] >= 340);  // 400 expected
    CHECK(n[Verdict::Kind::Tie] <= 460);
    CHECK(n[Verdict::Kind::Unparsable] >= 155);  // 200 expected
    CHECK(n[Verdict::Kind::Unparsable] <= 245);
}

TEST_CASE("a panel's verdict is the majority of its members; an even split is a tie") {
    SECTION("two of three") {
        auto g = test::load(pairwise_graph({"judge { prefer = first }", "judge { prefer = second }", "judge { prefer = first }"}));
        JudgeJobs jobs(20, marked_alternating);
        for (const auto& v : judge_all(g, jobs)) {
            CHECK(v.kind == Verdict::Kind::First);
            CHECK(v.members == 3);
            CHECK(v.counted == 3);
        }
    }
    SECTION("one each") {
        auto g = test::load(pairwise_graph({"judge { prefer = first }", "judge { prefer = second }"}));
        JudgeJobs jobs(20, marked_alternating);
        for (const auto& v : judge_all(g, jobs)) CHECK(v.kind == Verdict::Kind::Tie);
    }
}

TEST_CASE("a panel leaves out and counts members that reply no verdict or fail; with none left it is unparsable") {
    std::string failing = "judge { prefer = second }\n retry { attempts = 1 }\n faults { server_error = 1 }";
    auto g = test::load(pairwise_graph({"judge { prefer = first }", "judge {\n prefer = second\n unparsable = 1\n}", failing}));
    JudgeJobs jobs(10, marked_alternating);
    for (const auto& v : judge_all(g, jobs)) {
        CHECK(v.kind == Verdict::Kind::First);  // the one member left
        CHECK(v.members == 3);
        CHECK(v.counted == 1);
        CHECK(v.unparsable == 1);
        CHECK(v.failed == 1);
    }
    auto none = test::load(pairwise_graph({"judge { unparsable = 1 }", failing}));
    JudgeJobs more(3, marked_alternating);
    for (const auto& v : judge_all(none, more)) {
        CHECK(v.kind == Verdict::Kind::Unparsable);
        CHECK(v.unparsable == 1);
        CHECK(v.failed == 1);
        CHECK_FALSE(v.error.empty());
    }
}

TEST_CASE("a simulated score panel gives seeded scores in the range and the verdict is their mean") {
    auto g = test::load(R"(
template grade = "Q: {{query}}\nA: {{answer}}"
backend s { kind = sim  judge { prefer = random } }
backend m { kind = sim  judge { prefer = "GOOD" } }
agent g1 { backend = s  model = "g1"  user = grade }
agent g2 { backend = s  model = "g2"  user = grade }
agent g3 { backend = m  model = "g3"  user = grade }
layer graders = [g1, g2, g3]
verdict score { on = graders  pattern = "Score: {{score}}/10"  range = [1, 10] }
)");
    Engine e(g, {});
    std::set<double> seen;
    for (int i = 0; i < 40; ++i) {
        Query q;
        q.prompt = "q" + std::to_string(i);
        q.vars = score_vars(i % 2 ? "a GOOD answer" : "an answer");
        JobResult r = e.run_one(q);
        double scores = 0;
        for (const auto& [name, text] : r.outputs) {
            Verdict one = read_reply(*g.verdict, text);
            REQUIRE(one.kind == Verdict::Kind::Score);
            CHECK(one.score >= 1);
            CHECK(one.score <= 10);
            CHECK(one.score == static_cast<int>(one.score));
            if (name == verdict_output_name("graders.g3")) CHECK(one.score == (i % 2 ? 10 : 1));
            seen.insert(one.score);
            scores += one.score;
        }
        Verdict v = read_verdict(g, r);
        REQUIRE(v.kind == Verdict::Kind::Score);
        CHECK(v.score == Approx(scores / 3));
    }
    CHECK(seen.size() >= 6);  // spread over the range, not one fixed number
}

TEST_CASE("a pairwise reply names exactly one verdict, ignoring case; none or two are unparsable, never a tie") {
    VerdictSpec v;
    v.first = {"[[A]]"};
    v.second = {"[[B]]", "Output (b)"};
    v.tie = {"[[tie]]"};
    CHECK(read_reply(v, "After weighing both: [[A]]").kind == Verdict::Kind::First);
    CHECK(read_reply(v, "[[a]] is better. Final: [[A]]").kind == Verdict::Kind::First);  // repeated, same verdict
    CHECK(read_reply(v, "output (B) wins").kind == Verdict::Kind::Second);              // any label of the list
    CHECK(read_reply(v, "[[TIE]]").kind == Verdict::Kind::Tie);
    Verdict none = read_reply(v, "Both are fine.\nReally.");
    CHECK(none.kind == Verdict::Kind::Unparsable);
    CHECK(none.unparsable == 1);
    CHECK(none.error == "the reply names no verdict (one of \"[[A]]\", \"[[B]]\", \"Output (b)\", \"[[tie]]\"): \"Both are fine. Really.\"");
    Verdict both = read_reply(v, "[[A]] or [[B]]");
    CHECK(both.kind == Verdict::Kind::Unparsable);
    CHECK(both.error.find("more than one verdict") != std::string::npos);
}

TEST_CASE("a score reply holds one number in the pattern, inside the range") {
    VerdictSpec v;
    v.mode = VerdictMode::Score;
    v.pattern = "[[{{score}}]]";
    v.score_prefix = "[[";
    v.score_suffix = "]]";
    v.min = 1;
    v.max = 10;
    auto score = [&](const char* reply) { return read_reply(v, reply); };
    CHECK(score("Good work. Rating: [[7]]").score == 7);
    CHECK(score("[[ 8 ]]").score == 8);
    CHECK(score("[[7.5]]").score == 7.5);
    CHECK(score("[[7]] ... so [[7]]").score == 7);
    CHECK(score("I rate it 7 out of 10.").kind == Verdict::Kind::Unparsable);  // not in the pattern
    CHECK(score("[[7]] or [[8]]").error.find("more than one score") != std::string::npos);
    CHECK(score("[[11]]").error.find("outside the range [1, 10]") != std::string::npos);
    CHECK(score("[[0]]").kind == Verdict::Kind::Unparsable);
    CHECK(score("[[seven]]").kind == Verdict::Kind::Unparsable);
    v.score_prefix = "";
    v.score_suffix = "/10";
    CHECK(score("It is a 9/10, not 19 or 3.5").score == 9);
    CHECK(score("10/10").score == 10);
}

TEST_CASE("read_verdict on a graph without a verdict says so instead of guessing") {
    GraphSpec g;
    JobResult r;
    Verdict v = read_verdict(g, r);
    CHECK(v.kind == Verdict::Kind::Unparsable);
    CHECK(v.error.find("not a judge") != std::string::npos);
}
