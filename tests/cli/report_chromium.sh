#!/usr/bin/env bash
# The HTML run report renders in headless Chromium with no console message and no
# uncaught exception, and its script fills the page (the timeline). A self-check first
# proves the detector works: the same report with one injected JS error must fail it.
# Usage: report_chromium.sh MOA_BIN SOURCE_DIR. Exit 77 (skipped) without chromium.
set -euo pipefail
moa=$1
src=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIPPED: chromium is not installed (apt-get install chromium); the HTML report was not rendered"
  exit 77
fi
d=$(mktemp -d "${TMPDIR:-/tmp}/moa-chromium.XXXXXX")
trap 'rm -rf "$d"' EXIT

# The paper's MoA on the simulated backend, a small batch, one node failing for one job.
for i in 1 2 3 4; do echo "{\"id\":\"q$i <b>&\",\"prompt\":\"question $i\"}"; done > "$d/in.jsonl"
(cd "$src" && "$moa" run graphs/paper-moa-sim.moa --cache off -q --input "$d/in.jsonl" --output "$d/out.jsonl" \
  --report "$d/report.html")

# Renders FILE; prints what is wrong with it (nothing when it is fine).
problems() {
  local file=$1 dom=$d/dom.html err=$d/err.txt
  timeout 120 "$browser" --headless --disable-gpu --no-sandbox --enable-logging=stderr --v=0 \
    --user-data-dir="$d/profile" --dump-dom "file://$file" > "$dom" 2> "$err" || echo "chromium failed: exit $?"
  # Every console message (console.*, uncaught exceptions, blocked loads) is an error:
  # the report's script writes none.
  grep -E 'CONSOLE|Uncaught' "$err" || true
  grep -q 'data-rendered="yes"' "$dom" || echo "the page's script did not finish (no data-rendered on <body>)"
  local bars
  bars=$(grep -o '<rect' "$dom" | wc -l)
  [ "$bars" -ge 52 ] || echo "the timeline has $bars bars, fewer than the 4 jobs x 13 calls"
}

# The detector catches an injected error.
sed 's#</body>#<script>throw new Error("injected for the self-check")</script></body>#' "$d/report.html" > "$d/broken.html"
if [ -z "$(problems "$d/broken.html")" ]; then
  echo "FAIL: an injected JS error went unnoticed: the check cannot be trusted"
  exit 1
fi

out=$(problems "$d/report.html")
if [ -n "$out" ]; then
  echo "FAIL: the report does not render cleanly:"
  echo "$out"
  exit 1
fi
echo "ok: the report renders with no console message; $(grep -o '<rect' "$d/dom.html" | wc -l) SVG boxes and bars drawn"
