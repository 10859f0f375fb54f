#!/usr/bin/env python3
"""Computes the expected LC win rates of tests/eval/data/annotations_small.json with
AlpacaEval's own published code, for lc_agreement_test.cpp.

    python3 tests/eval/compute_expected.py REF_DIR tests/eval/data/annotations_small.json \
        > tests/eval/data/expected_lc.json

REF_DIR holds three files of tatsu-lab/alpaca_eval, src/alpaca_eval/metrics/, copied by
hand (they are not committed here; Apache-2.0, (c) the AlpacaEval authors):
    glm_winrate.py  at commit 19866ff84cd815cb8907c27fd34766541813cfa0
    winrate.py      at commit bbbd596e5a0951490bf3ee751c966fcbcb44a82b
    helpers.py      at commit d483da3e2d6d6567b2fd554d4a95ad73a349e05b
It runs get_length_controlled_winrate(annotations, glm_name="length_controlled_minimal",
save_weights_dir=None) unchanged. What is provided around it, and why:
  - stub modules for alpaca_eval.{constants,types,utils} (the two utils functions used,
    as published) and huggingface_hub.hf_hub_download, which returns a local df_gamed.csv
    with instruction_difficulty = 0 (the minimal formula does not use it; nothing is fetched);
  - outputs are "a" * length, so len() gives the committed lengths;
  - on scikit-learn < 1.4 (Debian 12 ships 1.2.1), which lacks metadata routing and
    make_scorer(response_method=...), an adapter with the 1.4 semantics the reference
    relies on: GroupKFold folds, the scorer called on each held-out fold with that fold's
    true_prob, LogisticRegressionCV otherwise as is (liblinear, L1, Cs=10, refit);
  - each case runs twice: GroupKFold as published (its unstable argsort makes the folds
    machine-dependent: "lc_as_published") and with a stable argsort, whose folds are the
    residue classes of the row index mod 5 that moa uses ("lc", the expected value);
  - and once more with stable folds and liblinear's tolerance at 1e-10 instead of the
    default 1e-4 ("lc_tol_1e-10"), to show what part of a difference is the optimiser's.
"""
import importlib.util
import json
import os
import sys
import tempfile
import types as pytypes

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegressionCV as SkLRCV
from sklearn.model_selection import GroupKFold


def stub_modules(tmpdir, n_max):
    gamed = os.path.join(tmpdir, "df_gamed.csv")
    pd.DataFrame({"model": "none", "index": range(n_max), "instruction_difficulty": 0.0,
                  "not_gamed_baseline": True, "preference": 0.5}).to_csv(gamed, index=False)
    hub = pytypes.ModuleType("huggingface_hub")
    hub.hf_hub_download = lambda **kw: gamed
    pkg = pytypes.ModuleType("alpaca_eval")
    pkg.__path__ = []
    constants = pytypes.ModuleType("alpaca_eval.constants")
    constants.DATASETS_TOKEN = None
    constants.DATASETS_FORCE_DOWNLOAD = False
    constants.DEFAULT_CACHE_DIR = tmpdir
    typesmod = pytypes.ModuleType("alpaca_eval.types")
    typesmod.AnyLoadableDF = object
    utils = pytypes.ModuleType("alpaca_eval.utils")
    utils.convert_to_dataframe = lambda x: x if isinstance(x, pd.DataFrame) else pd.DataFrame(x)
    # as published in alpaca_eval/utils.py
    utils.validate_alpacaeval_preference = lambda x, is_allow_nan=True: (1 <= x <= 2) or (is_allow_nan and np.isnan(x))
    metrics = pytypes.ModuleType("alpaca_eval.metrics")
    metrics.__path__ = []
    pkg.constants, pkg.types, pkg.utils, pkg.metrics = constants, typesmod, utils, metrics
    for m in (hub, pkg, constants, typesmod, utils, metrics):
        sys.modules[m.__name__] = m


def load(ref_dir, name):
    spec = importlib.util.spec_from_file_location("alpaca_eval.metrics." + name, os.path.join(ref_dir, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class StableGroupKFold(GroupKFold):
    """GroupKFold with numpy's argsort made stable while it assigns groups to folds."""

    def _iter_test_indices(self, X, y, groups):
        original = np.argsort
        np.argsort = lambda a, *args, **kw: original(a, kind="stable")
        try:
            return list(super()._iter_test_indices(X, y, groups))
        finally:
            np.argsort = original


class RoutedScorer:
    """make_scorer(..., response_method="predict_proba").set_score_request(...) of 1.4."""

    def __init__(self, func, response_method="predict_proba", greater_is_better=True, **kw):
        assert response_method == "predict_proba" and not kw
        self.func, self.sign = func, (1 if greater_is_better else -1)

    def set_score_request(self, **kw):
        return self


class RoutedLRCV:
    """LogisticRegressionCV.fit(X, y, sample_weight, groups=..., **score_params) of 1.4 on 1.2:
    the folds come from cv.split(groups), each held-out fold is scored with its slice of the
    routed score parameters (the inner estimator scores fold by fold, C by C, in order)."""

    def __init__(self, cv, scoring, **kw):
        self.cv, self.scoring, self.kw = cv, scoring, kw

    def set_fit_request(self, **kw):
        return self

    def fit(self, X, y, sample_weight=None, groups=None, **score_params):
        folds = list(self.cv.split(X, y, groups))
        n_cs = 10  # LogisticRegressionCV's default Cs
        calls = [0]

        def score(estimator, X_test, y_test):
            test = folds[calls[0] // n_cs][1]
            calls[0] += 1
            # sklearn 1.2 encodes the held-out labels as +1 / -1; logloss_continuous only tests == 1
            assert len(test) == len(X_test) and ((np.asarray(y_test) == 1) == (np.asarray(y)[test] == 1)).all()
            params = {k: (None if v is None else np.asarray(v)[test]) for k, v in score_params.items()}
            y_pred = estimator.predict_proba(X_test)[:, 1]
            return self.scoring.sign * self.scoring.func(np.asarray(y_test), y_pred, **params)

        self.inner = SkLRCV(cv=folds, scoring=score, **self.kw).fit(X, y, sample_weight=sample_weight)
        self.folds = folds
        return self

    def __getattr__(self, name):
        return getattr(self.__dict__["inner"], name)


def install_adapter(glm):
    if tuple(int(x) for x in sklearn.__version__.split(".")[:2]) >= (1, 4):
        return
    real_set_config = sklearn.set_config
    glm.sklearn = pytypes.SimpleNamespace(
        set_config=lambda **kw: real_set_config(**{k: v for k, v in kw.items() if k != "enable_metadata_routing"}))
    glm.make_scorer = RoutedScorer
    glm.LogisticRegressionCV = RoutedLRCV


def residue_folds(folds, n_rows):
    """Whether each held-out fold is one residue class of the row index mod 5."""
    classes = []
    for _, test in folds:
        rows = set(int(i) % n_rows for i in test)  # duplicated rows: i and i + n
        classes.append(len({r % 5 for r in rows}) == 1)
    return all(classes)


def run_case(glm, rows, stable, tight=False):
    glm.GroupKFold = StableGroupKFold if stable else GroupKFold
    captured = {}
    fit = glm.fit_LogisticRegressionCV

    def capture(*a, **kw):
        captured["model"] = fit(*a, **kw)
        return captured["model"]

    glm.fit_LogisticRegressionCV = capture
    df = pd.DataFrame({
        "preference": [r["preference"] + 1 for r in rows],  # AlpacaEval's scale: 1 baseline, 2 candidate
        "output_1": ["a" * r["len_baseline"] for r in rows],
        "output_2": ["a" * r["len_candidate"] for r in rows],
        "index": range(len(rows)), "generator_1": "baseline", "generator_2": "candidate", "annotator": "synthetic",
    })
    try:
        info = None
        if tight:  # the same GLM, liblinear run to tol 1e-10 instead of 1e-4 (kwargs reach LogisticRegressionCV)
            info = dict(glm.GLM_INFO["length_controlled_minimal"])
            info["kwargs"] = dict(info["kwargs"], tol=1e-10, max_iter=100000)
        m = glm.get_length_controlled_winrate(df, glm_name="length_controlled_minimal", save_weights_dir=None,
                                              is_warn_extreme_changes=False, glm_info=info)
    finally:
        glm.fit_LogisticRegressionCV = fit
    model = captured["model"]
    coef = dict(zip(["length", "model"], model.coef_[0]))  # formula order: tanh term, then the constant
    folds = getattr(model, "folds", None)
    return m, float(model.C_[0]), coef, (None if folds is None else residue_folds(folds, len(rows)))


def main():
    ref_dir, annotations = sys.argv[1], sys.argv[2]
    cases = json.load(open(annotations))["cases"]
    with tempfile.TemporaryDirectory() as tmp:
        stub_modules(tmp, max(len(c["rows"]) for c in cases))
        load(ref_dir, "helpers")
        load(ref_dir, "winrate")
        glm = load(ref_dir, "glm_winrate")
        install_adapter(glm)
        out = {"how": "tests/eval/compute_expected.py (see its docstring); sklearn " + sklearn.__version__ +
                      ", numpy " + np.__version__ + ", pandas " + pd.__version__, "cases": []}
        for case in cases:
            m, c, coef, residue = run_case(glm, case["rows"], stable=True)
            m_pub, c_pub, _, residue_pub = run_case(glm, case["rows"], stable=False)
            m_tight, c_tight, coef_tight, _ = run_case(glm, case["rows"], stable=True, tight=True)
            out["cases"].append({
                "name": case["name"], "win_rate": m["win_rate"], "lc": m["length_controlled_winrate"], "C": c,
                "coef_model": coef["model"], "coef_length": coef["length"], "folds_are_residues": residue,
                "lc_tol_1e-10": m_tight["length_controlled_winrate"], "C_tol_1e-10": c_tight,
                "coef_model_tol_1e-10": coef_tight["model"], "coef_length_tol_1e-10": coef_tight["length"],
                "lc_as_published": m_pub["length_controlled_winrate"], "C_as_published": c_pub,
                "published_folds_are_residues": residue_pub})
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
