#!/usr/bin/env python3
"""Checks a `moa run --trace` file the way Perfetto reads it, and prints its counts.

Usage: check_trace.py TRACE.json
Fails (exit 1, the reason on stderr) unless: the file is one JSON array; every event
has "ph", "pid" and "tid", and every complete ("X") event numeric "ts" and "dur" >= 0;
and on every track (pid, tid) the slices nest: a slice that starts inside another ends
inside it too (no partial overlap). Prints {"calls", "attempts", "cache_hits",
"failed_calls", "streaming", "retry_waits", "unknown_cost", "cost_usd" (the priced
calls' sum, "%.9f"), "tracks", "jobs"} as JSON on stdout. Every call slice has a
cost_usd: a number, or "unknown".
"""
import json
import sys
from collections import defaultdict


def fail(msg):
    print("check_trace: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    with open(sys.argv[1], "rb") as f:
        events = json.load(f)
    if not isinstance(events, list):
        fail("not a JSON array")
    tracks = defaultdict(list)
    counts = defaultdict(int)
    jobs = set()
    for e in events:
        for k in ("ph", "pid", "tid"):
            if k not in e:
                fail("event without %s: %r" % (k, e))
        if e["ph"] != "X":
            continue
        for k in ("ts", "dur"):
            if not isinstance(e.get(k), (int, float)) or e[k] < 0:
                fail("complete event with a bad %s: %r" % (k, e))
        tracks[(e["pid"], e["tid"])].append(e)
        name, args = e["name"], e.get("args", {})
        if e.get("cat") == "call":
            counts["calls"] += 1
            counts["cache_hits"] += bool(args.get("cache_hit"))
            counts["failed_calls"] += args.get("status") == "error"
            cost = args.get("cost_usd")
            if cost == "unknown":
                counts["unknown_cost"] += 1
            elif isinstance(cost, (int, float)):
                counts["cost_usd"] += cost
            else:
                fail("call without cost_usd: %r" % (e,))
            jobs.add(e["pid"])
        elif name.startswith("attempt "):
            counts["attempts"] += 1
        elif name == "streaming":
            counts["streaming"] += 1
        elif name == "retry wait":
            counts["retry_waits"] += 1
    # Integer nanoseconds, as written (three decimals of microseconds): exact comparisons.
    ns = lambda x: round(x * 1000)
    for key, slices in tracks.items():
        slices.sort(key=lambda e: (ns(e["ts"]), -ns(e["dur"])))
        stack = []
        for e in slices:
            b, end = ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])
            while stack and b >= stack[-1][1]:
                stack.pop()
            if stack and end > stack[-1][1]:
                fail("track %r: %r [%d, %d] overlaps %r without nesting" % (key, e["name"], b, end, stack[-1][2]))
            stack.append((b, end, e["name"]))
        if not any(e.get("cat") == "call" for e in slices):
            fail("track %r has phases but no call slice" % (key,))
    out = {k: counts[k] for k in ("calls", "attempts", "cache_hits", "failed_calls", "streaming", "retry_waits", "unknown_cost")}
    out["cost_usd"] = "%.9f" % counts["cost_usd"]
    out["tracks"] = len(tracks)
    out["jobs"] = len(jobs)
    print(json.dumps(out, sort_keys=True))


main()
