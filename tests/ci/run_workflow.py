#!/usr/bin/env python3
"""Runs the CI recipe of examples/ci the way a CI service would, on this machine.

The `run:` steps of examples/ci/github-actions.yml execute in order, job by job, with
the workflow's, job's and step's `env` (secrets are fake keys that must never show up
anywhere), in a copy of examples/ci/project, with the `moa` under test on PATH; `uses:`
steps (checkout, install-moa, artifacts, JUnit publishing) are the CI service's and are
skipped. Then the GitLab file's jobs run the same way. The story checked:

  record on the sim backend -> export -> import into a fresh clone -> strict replay with
  zero backend calls -> change one prompt -> the replay fails naming the changed node
  and the differing text; the cost gate passes, and fails when the limit is lowered.

Exit 0 when every expectation holds; else 1 with the first broken one.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import yaml

FAKE_KEYS = {}  # secret name -> fake value: must never appear in any output or file


def fail(msg, log=""):
    print("FAIL: " + msg)
    if log:
        print("---- output ----\n" + log[-6000:])
    sys.exit(1)


def expand(value, env):
    """Resolves the `${{ ... }}` expressions a recipe may use in `env:` values."""
    def one(m):
        expr = m.group(1).strip()
        if expr.startswith("secrets."):
            name = expr[len("secrets."):]
            return FAKE_KEYS.setdefault(name, "sk-ci-fake-" + name.lower().replace("_", "-") + "-5e1f9a")
        if expr.startswith("env."):
            return env.get(expr[4:], "")
        fail("unsupported expression in an env value: " + expr)
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))


def run_steps(name, steps, env, cwd, summary):
    """Runs `run:` steps like a CI runner: bash -eo pipefail, stop at the first failure
    except for steps marked `if: always()`. Returns (ok, combined output)."""
    env = dict(env, GITHUB_STEP_SUMMARY=summary, GITHUB_ACTIONS="true", CI="true")
    out, ok = [], True
    for step in steps:
        if "run" not in step:
            continue  # a `uses:` step: the CI service's (checkout, install, upload)
        cond = str(step.get("if", ""))
        if not ok and "always()" not in cond and "failure()" not in cond:
            continue
        if ok and "failure()" in cond:
            continue
        step_env = dict(env)
        for k, v in (step.get("env") or {}).items():
            step_env[k] = expand(v, step_env)
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                           cwd=cwd, env=step_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out.append("$ [%s] %s\n%s" % (name, step.get("name", step["run"].splitlines()[0]), p.stdout))
        if p.returncode != 0:
            ok = False
    return ok, "".join(out)


def github_job(wf, job, base_env, cwd, summary, extra_env=None):
    spec = wf["jobs"][job]
    env = dict(base_env)
    for k, v in (wf.get("env") or {}).items():
        env[k] = expand(v, env)
    for k, v in (spec.get("env") or {}).items():
        env[k] = expand(v, env)
    env.update(extra_env or {})
    return run_steps(job, spec["steps"], env, cwd, summary)


def gitlab_job(gl, job, base_env, cwd, summary):
    env = dict(base_env)
    for k, v in (gl.get("variables") or {}).items():
        env[k] = str(v)
    steps = [{"name": line, "run": line} for line in gl[job]["script"]]
    return run_steps("gitlab " + job, steps, env, cwd, summary)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def files_under(root):
    for d, _, names in os.walk(root):
        for n in names:
            yield os.path.join(d, n)


def check_no_key(where, texts):
    for key in FAKE_KEYS.values():
        for label, text in texts:
            if key in text:
                fail("a secret appears in " + label + " (" + where + ")")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moa", required=True)
    ap.add_argument("--source", required=True, help="moa's source tree")
    ap.add_argument("--work", required=True, help="a scratch directory (emptied)")
    a = ap.parse_args()

    recipe = os.path.join(a.source, "examples", "ci")
    wf = yaml.safe_load(read(os.path.join(recipe, "github-actions.yml")))
    gl = yaml.safe_load(read(os.path.join(recipe, "gitlab-ci.yml")))
    for job in ("check", "cost", "replay", "record"):
        if job not in wf["jobs"]:
            fail("github-actions.yml has no job " + job)
        if job not in gl:
            fail("gitlab-ci.yml has no job " + job)
    if gl["record"].get("when") != "manual":
        fail("gitlab-ci.yml: record must be a manual job")
    if "workflow_dispatch" not in (wf.get(True) or wf.get("on") or {}):
        fail("github-actions.yml: record needs a manual trigger (workflow_dispatch)")

    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    base_env["PATH"] = os.path.dirname(os.path.abspath(a.moa)) + os.pathsep + base_env["PATH"]
    # The recipe's moa must be the one under test.
    which = subprocess.run(["bash", "-c", "command -v moa"], env=base_env, stdout=subprocess.PIPE, text=True).stdout.strip()
    if os.path.realpath(which) != os.path.realpath(a.moa):
        fail("moa on PATH is %s, not %s" % (which, a.moa))

    # 1. record (the manual job) in the team's repository, then commit the export.
    repo = os.path.join(a.work, "repo")
    shutil.copytree(os.path.join(recipe, "project"), repo)
    summary = os.path.join(a.work, "record-summary.md")
    ok, log = github_job(wf, "record", base_env, repo, summary)
    if not ok:
        fail("the record job failed", log)
    recording = os.path.join(repo, "ci", "recording.jsonl")
    if not os.path.exists(recording) or not read(recording).strip():
        fail("the record job left no recording at ci/recording.jsonl", log)
    entries = len(read(recording).splitlines())
    if not FAKE_KEYS:
        fail("the record job received no secret: it cannot call real providers")
    check_no_key("record", [("the job's output", log)] +
                 [(p, read(p)) for p in files_under(repo)] + [(summary, read(summary) if os.path.exists(summary) else "")])
    print("record: %d entries exported to ci/recording.jsonl; no key in any output or file" % entries)

    # 2. a pull request's checkout: the committed files only (no .moa/ cache directory).
    def fresh_clone(name):
        d = os.path.join(a.work, name)
        shutil.copytree(repo, d, ignore=shutil.ignore_patterns(".moa", "recorded.jsonl", "junit.xml"))
        return d

    pr = fresh_clone("pr")
    for job in ("check", "cost", "replay"):
        ok, log = github_job(wf, job, base_env, pr, os.path.join(a.work, job + "-summary.md"))
        if not ok:
            fail("the %s job failed on an unchanged repository" % job, log)
        print("%s: ok" % job)
        if job == "replay":
            m = re.search(r"calls: (\d+) \((\d+) attempts", log)
            if not m or m.group(1) != "0" or m.group(2) != "0":
                fail("the replay made backend calls (want 'calls: 0 (0 attempts')", log)
            if "cache: 0 hits" in log or "0 misses" not in log:
                fail("the replay did not answer from the recording", log)
            print("replay: 0 backend calls, every answer from the recording")

    # 3. the cost gate bites when the worst case exceeds the limit.
    ok, log = github_job(wf, "cost", base_env, pr, os.path.join(a.work, "cost2-summary.md"),
                         {"MOA_MAX_COST_PER_QUERY": "0.0000001"})
    if ok:
        fail("the cost gate passed with a limit of $0.0000001 per question", log)
    if "exceeds" not in log:
        fail("the failing cost gate does not say why", log)
    print("cost: fails with a tiny limit:", [l for l in log.splitlines() if "exceeds" in l][0])

    # 4. a pull request that changes one prompt: the replay misses, names the node and the text.
    changed = fresh_clone("pr-changed")
    g = os.path.join(changed, "graphs", "support.moa")
    text = read(g)
    if "friendly and precise tone" not in text:
        fail("the example graph changed: update the prompt edit of this test")
    with open(g, "w", encoding="utf-8") as f:
        f.write(text.replace("friendly and precise tone", "formal and concise tone"))
    summary = os.path.join(a.work, "replay-changed-summary.md")
    ok, log = github_job(wf, "replay", base_env, changed, summary)
    if ok:
        fail("the replay passed although a prompt changed", log)
    for want in ("cache miss in replay mode for node reply", "formal and concise", "friendly and precise"):
        if want not in log:
            fail("the failed replay's output does not show %r" % want, log)
    shown = read(summary) if os.path.exists(summary) else ""
    for want in ("reply", "formal and concise"):
        if want not in shown:
            fail("the step summary of the failed replay does not show %r" % want, shown + "\n" + log)
    print("replay after a prompt change: fails, names node 'reply' and the differing text (also in the step summary)")

    # 5. the GitLab jobs, same commands, same outcomes.
    gl_pr = fresh_clone("gitlab")
    for job in ("check", "cost", "replay"):
        ok, log = gitlab_job(gl, job, base_env, gl_pr, os.path.join(a.work, "gl-" + job + ".md"))
        if not ok:
            fail("the GitLab %s job failed on an unchanged repository" % job, log)
    print("gitlab: check, cost, replay ok")
    print("ok")


if __name__ == "__main__":
    main()
