#!/usr/bin/env python3
"""Writes tests/eval/data/annotations_small.json: synthetic judged pairs for the LC
agreement test (lc_agreement_test.cpp), from a fixed seed, so the file can be rebuilt and
checked byte for byte:  python3 tests/eval/make_annotations.py > tests/eval/data/annotations_small.json

Each case is one candidate against one baseline: rows of {query_id, preference (0 = baseline
better, 1 = candidate better, 0.5 = tie; moa's scale, AlpacaEval's minus 1), len_candidate,
len_baseline (code points)}. The judges are made up to exercise the GLM: one rewards length,
one gives soft (weighted) preferences, one ignores length, one case is tiny."""
import json
import math
import random


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def swapped(rng, p_first, p_second):
    """Two judgements with positions swapped, averaged (disagreement = 0.5)."""
    return (float(rng.random() < p_first) + float(rng.random() < p_second)) / 2


def verbose_candidate(rng):
    rows = []
    for i in range(150):
        lb = int(rng.lognormvariate(math.log(1200), 0.5))
        lc = int(lb * rng.lognormvariate(0.3, 0.4))
        p = sigmoid(0.2 + 1.3 * math.tanh((lc - lb) / 600))
        rows.append((swapped(rng, min(1, p + 0.05), max(0, p - 0.05)), lc, lb))
    return rows


def terse_soft(rng):
    rows = []
    for i in range(120):
        lb = int(rng.lognormvariate(math.log(1500), 0.4))
        lc = int(lb * rng.lognormvariate(-0.4, 0.3))
        z = 0.6 + 0.8 * math.tanh((lc - lb) / 500) + rng.gauss(0, 1.2)
        rows.append((round(sigmoid(z), 6), lc, lb))
    return rows


def no_length_effect(rng):
    rows = []
    for i in range(200):
        lb = int(rng.uniform(200, 3000))
        lc = int(rng.uniform(200, 3000))
        rows.append((swapped(rng, 0.45, 0.45), lc, lb))
    return rows


def tiny(rng):
    rows = []
    for i in range(12):
        lb = int(rng.uniform(300, 900))
        lc = lb + int(rng.uniform(-200, 600))
        rows.append((swapped(rng, 0.6, 0.6), lc, lb))
    return rows


def main():
    rng = random.Random(20261125)
    cases = []
    for name, make in [("verbose_candidate", verbose_candidate), ("terse_soft", terse_soft),
                       ("no_length_effect", no_length_effect), ("tiny", tiny)]:
        rows = [{"query_id": f"{name}-{i:03d}", "preference": p, "len_candidate": lc, "len_baseline": lb}
                for i, (p, lc, lb) in enumerate(make(rng))]
        cases.append({"name": name, "rows": rows})
    # One row per line: small, and a diff shows which rows changed.
    out = ['{"cases": [']
    for k, case in enumerate(cases):
        out.append(' {"name": %s, "rows": [' % json.dumps(case["name"]))
        out.append(",\n".join("  " + json.dumps(r) for r in case["rows"]))
        out.append(" ]}" + ("," if k + 1 < len(cases) else ""))
    out.append("]}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
