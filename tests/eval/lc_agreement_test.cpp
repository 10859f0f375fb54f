// moa's LC win rate against the value AlpacaEval's published code computes on the same
// annotations (tests/eval/data/expected_lc.json, made by compute_expected.py from the
// rows of annotations_small.json; tests/eval/README.md says how).
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <string>
#include <vector>

#include "moa/eval_stats.hpp"

namespace {

struct Case {
    std::string name;
    std::vector<moa::eval::PairOutcome> rows;
};

std::vector<Case> load_cases() {
    simdjson::ondemand::parser parser;
    auto json = simdjson::padded_string::load(MOA_SOURCE_DIR "/tests/eval/data/annotations_small.json");
    auto doc = parser.iterate(json.value());
    std::vector<Case> cases;
    for (auto c : doc["cases"].get_array()) {
        Case k;
        k.name = std::string(std::string_view(c["name"]));
        for (auto r : c["rows"].get_array()) {
            moa::eval::PairOutcome o;
            o.query_id = std::string(std::string_view(r["query_id"]));
            o.preference = double(r["preference"]);
            o.len_candidate = size_t(uint64_t(r["len_candidate"]));
            o.len_baseline = size_t(uint64_t(r["len_baseline"]));
            k.rows.push_back(std::move(o));
        }
        cases.push_back(std::move(k));
    }
    return cases;
}

struct Expected {
    std::string name;
    double win_rate, lc, c, coef_model, coef_length;
    double lc_tight, coef_model_tight, coef_length_tight;  // liblinear at tol 1e-10
};

std::vector<Expected> load_expected() {
    simdjson::ondemand::parser parser;
    auto json = simdjson::padded_string::load(MOA_SOURCE_DIR "/tests/eval/data/expected_lc.json");
    auto doc = parser.iterate(json.value());
    std::vector<Expected> out;
    for (auto c : doc["cases"].get_array())
        out.push_back({std::string(std::string_view(c["name"])), double(c["win_rate"]), double(c["lc"]),
                       double(c["C"]), double(c["coef_model"]), double(c["coef_length"]), double(c["lc_tol_1e-10"]),
                       double(c["coef_model_tol_1e-10"]), double(c["coef_length_tol_1e-10"])});
    return out;
}

}  // namespace

// Tolerances: the reference as published runs liblinear to tol = 1e-4 (scikit-learn's
// default) and moa's solver goes to 1e-12, so against it the coefficients may differ in
// the fourth decimal and LC = 100 * sigmoid(b_model) by up to 25 x that: 0.01 points
// (seen: 0.0018). With liblinear run to 1e-10 the two agree to 1e-6 (seen: 1e-9), which
// shows the difference is the optimiser's stopping point, not the method. The chosen C is
// a grid point and must be the same one.
TEST_CASE("the LC win rate equals AlpacaEval's length_controlled_minimal on the committed annotations") {
    const auto cases = load_cases();
    const auto expected = load_expected();
    REQUIRE(cases.size() == expected.size());
    REQUIRE(cases.size() >= 3);
    for (size_t i = 0; i < cases.size(); ++i) {
        INFO("case " << cases[i].name);
        REQUIRE(cases[i].name == expected[i].name);
        const auto fit = moa::eval::lc_fit(cases[i].rows);
        CHECK(fit.raw == Approx(expected[i].win_rate).margin(1e-9));
        CHECK(fit.c == Approx(expected[i].c).epsilon(1e-9));
        CHECK(fit.w_model == Approx(expected[i].coef_model).margin(1e-3));
        CHECK(fit.w_length == Approx(expected[i].coef_length).margin(1e-3));
        CHECK(fit.lc == Approx(expected[i].lc).margin(0.01));
        CHECK(fit.lc == Approx(expected[i].lc_tight).margin(1e-6));
        CHECK(fit.w_model == Approx(expected[i].coef_model_tight).margin(1e-6));
        CHECK(fit.w_length == Approx(expected[i].coef_length_tight).margin(1e-6));
        CHECK(moa::eval::lc_win_rate(cases[i].rows, 1, 10).value == fit.lc);
    }
}
