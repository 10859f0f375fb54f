// Dataflow semantics on the simulated backend: what each aggregator sees, skip
// edges, routing, k-of-n and deadline fan-in, replicas, determinism.
#include <set>

#include "engine_test_util.hpp"

using namespace moa;
using moa::test::cited;
using moa::test::kSimPrelude;
using moa::test::node;
using moa::test::tag;

namespace {
EngineOptions all_events(int threads = 2) {
    EngineOptions o;
    o.threads = threads;
    o.emit_all = true;
    return o;
}
}  // namespace

TEST_CASE("each aggregator sees exactly its declared inputs, in declared order") {
    Engine e(test::load(std::string(kSimPrelude) + R"(
layer p = [c, a, b]
layer m = [b, a] { inputs = p  prompt = agg }
layer f = d { inputs = [m, p.c]  prompt = agg }
output o = f
)"),
             all_events());
    JobResult r = e.run_one("why is the sky blue?");
    REQUIRE(r.ok);
    const auto& nodes = r.nodes;
    REQUIRE(nodes.size() == 6);
    std::vector<std::string> p = {tag(node(r, "p.c").text), tag(node(r, "p.a").text), tag(node(r, "p.b").text)};
    CHECK(cited(node(r, "m.b").text) == p);
    CHECK(cited(node(r, "m.a").text) == p);
    // skip edge: f takes m (both nodes) then p.c
    CHECK(cited(node(r, "f.d").text) ==
          std::vector<std::string>{tag(node(r, "m.b").text), tag(node(r, "m.a").text), tag(node(r, "p.c").text)});
    CHECK(r.output() == node(r, "f.d").text);
    // proposers answered the query itself
    CHECK(node(r, "p.a").text.find("answer to \"why is the sky blue?\"") != std::string::npos);
}

TEST_CASE("routing on the query runs one branch and skips the other") {
    Engine e(test::load(std::string(kSimPrelude) + R"(
layer coders = [a, b]
layer general = [c]
route topic { on = query  when "code", "bug" -> coders  otherwise -> general }
layer f = d { inputs = [coders, general]  prompt = agg }
output o = f
)"),
             all_events());
    JobResult code = e.run_one("fix this BUG in my parser");
    REQUIRE(code.ok);
    CHECK(node(code, "coders.a").status == CallStatus::Ok);
    CHECK(node(code, "general.c").status == CallStatus::Skipped);
    // the merge waits for every branch that runs; skipped ones are not responses
    CHECK(cited(code.output()) == std::vector<std::string>{tag(node(code, "coders.a").text), tag(node(code, "coders.b").text)});
    JobResult other = e.run_one("tell me about whales");
    REQUIRE(other.ok);
    CHECK(node(other, "coders.a").status == CallStatus::Skipped);
    CHECK(node(other, "coders.b").status == CallStatus::Skipped);
    CHECK(node(other, "general.c").status == CallStatus::Ok);
    CHECK(cited(other.output()) == std::vector<std::string>{tag(node(other, "general.c").text)});
}

TEST_CASE("routing on a classifier's answer") {
    // The classifier's simulated answer starts with its model's name: route on it.
    Engine e(test::load(std::string(kSimPrelude) + R"(
layer cls = a
layer yes = [b]
layer no = [c]
route r { on = cls.a  when "m/alpha", "alpha:" -> yes  otherwise -> no }
layer f = d { inputs = [yes, no]  prompt = agg  fan_in = at_least(1) }
output o = f
)"),
             all_events());
    JobResult r = e.run_one("anything");
    REQUIRE(r.ok);
    CHECK(node(r, "yes.b").status == CallStatus::Ok);
    CHECK(node(r, "no.c").status == CallStatus::Skipped);
}

TEST_CASE("at_least(k) proceeds with the first k answers and cancels the rest") {
    Engine e(test::load(std::string(kSimPrelude) + R"(
backend slow { kind = sim  latency { first_token = 5s } }
agent s { backend = slow  model = "m/slow" }
layer p = [a, s, b]
layer f = d { inputs = p  prompt = agg  fan_in = at_least(2) }
output o = f
)"),
             all_events());
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    CHECK(cited(r.output()) == std::vector<std::string>{tag(node(r, "p.a").text), tag(node(r, "p.b").text)});
    CHECK(node(r, "p.s").status == CallStatus::Cancelled);
    CHECK(r.wall_ms < 4000);  // did not wait for the 5 s call
}

TEST_CASE("a cancel that arrives before a call has started still cancels it") {
    // at_least(2) of [a, b, s...]: a and b answer at once, so the aggregator can
    // release the slow calls in the moment between their fan-in rule firing and their
    // call being registered; that cancel used to be lost (the slow call ran to its end).
    // A race, so many rounds with several slow calls each.
    GraphSpec g = test::load(std::string(kSimPrelude) + R"(
backend slow { kind = sim  latency { first_token = 3s } }
agent s { backend = slow  model = "m/slow" }
layer p = [a, b, s * 6]
layer f = d { inputs = p  prompt = agg  fan_in = at_least(2) }
output o = f
)");
    for (int round = 0; round < 400; ++round) {
        Engine e(g, all_events(4));
        JobResult r = e.run_one("q" + std::to_string(round));
        REQUIRE(r.ok);
        for (const auto& n : r.nodes)
            if (n.node.rfind("p.s", 0) == 0) {
                INFO("round " << round << " " << n.node);
                REQUIRE(n.status == CallStatus::Cancelled);
            }
    }
}

TEST_CASE("deadline fan-in takes what arrived in time") {
    Engine e(test::load(std::string(kSimPrelude) + R"(
backend slow { kind = sim  latency { first_token = 5s } }
backend quick { kind = sim  latency { first_token = 20ms } }
agent s { backend = slow  model = "m/slow" }
agent q { backend = quick  model = "m/quick" }
layer p = [a, s, q]
layer f = d { inputs = p  prompt = agg  fan_in = deadline(300ms) }
output o = f
)"),
             all_events());
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    CHECK(cited(r.output()) == std::vector<std::string>{tag(node(r, "p.a").text), tag(node(r, "p.q").text)});
    CHECK(node(r, "p.s").status == CallStatus::Cancelled);
    CHECK(r.wall_ms < 4000);
}

TEST_CASE("replicas of one agent are distinct samples (Self-MoA)") {
    Engine e(test::load(std::string(kSimPrelude) + R"(
import "moa.moa"
use self_moa(model = a, samples = 4)
)"),
             all_events());
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    std::set<std::string> texts;
    for (int k = 1; k <= 4; ++k) texts.insert(node(r, "propose.a#" + std::to_string(k)).text);
    CHECK(texts.size() == 4);
    CHECK(cited(r.output()).size() == 4);
}

TEST_CASE("a failing input fails an all-fan-in aggregator and the job names the node") {
    Engine e(test::load(std::string(kSimPrelude) + R"(
backend broken { kind = sim  faults { server_error = 1 }  retry { attempts = 2  base_delay = 1ms } }
agent x { backend = broken  model = "m/x" }
layer p = [a, x]
layer f = d { inputs = p  prompt = agg }
output o = f
)"),
             all_events());
    JobResult r = e.run_one("q");
    CHECK_FALSE(r.ok);
    CHECK(r.error_node == "p.x");
    CHECK(r.error == "server error (simulated 503) (after 2 attempts)");
    CHECK(node(r, "p.x").attempts == 2);
    CHECK(node(r, "f.d").status == CallStatus::Error);
}

TEST_CASE("outputs are deterministic across runs and worker counts") {
    std::string src = std::string(kSimPrelude) + R"(
import "moa.moa"
use moa(proposers = [a, b, c, d], aggregator = a, layers = 3)
)";
    std::vector<std::string> prompts;
    for (int i = 0; i < 40; ++i) prompts.push_back("question number " + std::to_string(i));
    std::vector<std::string> reference;
    for (int threads : {1, 2, 4}) {
        for (int run = 0; run < 2; ++run) {
            EngineOptions o;
            o.threads = threads;
            o.max_jobs = 7;
            Engine e(test::load(src), o);
            test::VectorSource source(prompts);
            std::vector<std::string> outputs;
            RunStats s = e.run_batch(source, [&](JobResult&& r) {
                CHECK(r.id == "q" + std::to_string(outputs.size()));  // input order
                outputs.push_back(r.output());
            });
            CHECK(s.jobs_ok == 40);
            CHECK(s.calls == 40 * 9);
            if (reference.empty()) reference = outputs;
            INFO("threads " << threads << " run " << run);
            CHECK(outputs == reference);
        }
    }
}

TEST_CASE("a run-wide retry budget stops retry storms when a backend is down") {
    EngineOptions o;
    o.max_jobs = 100;
    Engine e(test::load(R"(
backend down { kind = sim  faults { server_error = 1 }  retry { attempts = 10  base_delay = 1ms  max_delay = 2ms } }
agent a { backend = down  model = "m" }
layer p = a
output o = p
)"),
             o);
    std::vector<std::string> prompts;
    for (int i = 0; i < 100; ++i) prompts.push_back("q" + std::to_string(i));
    test::VectorSource src(prompts);
    size_t budget_msgs = 0;
    RunStats s = e.run_batch(src, [&](JobResult&& r) {
        CHECK_FALSE(r.ok);
        budget_msgs += r.error.find("retry budget of the run exhausted") != std::string::npos;
    });
    CHECK(s.jobs_failed == 100);
    // 10 attempts each would be 900 retries; the budget is 20 + one per two calls.
    CHECK(s.retries <= 20 + 100 / 2 + 1);
    CHECK(budget_msgs > 0);
}

TEST_CASE("an engine destroyed as soon as its last job finishes touches nothing freed") {
    // The reactor thread goes on (pumping queues) after it hands the last reply over;
    // destroying the engine at that moment once freed the scheduler under it.
    // A race, so many rounds; the sanitizer build turns a hit into a report.
    GraphSpec g = test::load(std::string(kSimPrelude) + "layer p = [a, b]\nlayer q = c\noutput o = q\n");
    for (int round = 0; round < 300; ++round) {
        Engine e(g, all_events());
        JobResult r = e.run_one("q" + std::to_string(round));
        REQUIRE(r.ok);
    }
}
