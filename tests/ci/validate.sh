#!/usr/bin/env bash
# Validates the GitHub Actions files of examples/ci with action-validator
# (@action-validator/cli, installed by .ci/deps), and checks that it rejects a broken copy,
# so a validator that accepts anything cannot pass this test.
set -euo pipefail
src="$1"
v="${MOA_ACTION_VALIDATOR:-${XDG_CACHE_HOME:-$HOME/.cache}/moa-ci/npm/node_modules/.bin/action-validator}"
if [ ! -x "$v" ]; then
  echo "FAIL: action-validator not found at $v (bash .ci/deps installs it)"
  exit 1
fi
for f in "$src/examples/ci/github-actions.yml" "$src/examples/ci/install-moa/action.yml"; do
  if ! out=$("$v" "$f" 2>&1); then
    echo "FAIL: $f does not validate:"; echo "$out"; exit 1
  fi
  echo "valid: ${f#$src/}"
done
bad=$(mktemp --suffix=.yml)
trap 'rm -f "$bad"' EXIT
sed 's/runs-on: ubuntu-latest/runs_on: ubuntu-latest/' "$src/examples/ci/github-actions.yml" > "$bad"
if "$v" "$bad" > /dev/null 2>&1; then
  echo "FAIL: the validator accepted a workflow with a misspelt key"; exit 1
fi
echo "rejected: a copy with 'runs_on'"
