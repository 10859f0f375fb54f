#!/usr/bin/env bash
# The layer rules include paths cannot enforce on their own:
#  - no `#include "../..."` in dsl/ or engine/ (a relative path dodges the target's
#    include directories, which are the layer contract);
#  - dsl/ includes nothing of the engine;
#  - the CLI (engine/cli) includes only public headers ("moa/...") and its own files;
#  - no engine code outside the simulated backend's file names it: the scheduler, flow
#    graph and cache know backends only through backends/backend.hpp.
# Prints every offending line; exits 1 if there is one.
set -u
cd "$(dirname "$0")/../.."
bad=0
report() { while IFS= read -r l; do echo "layering: $1: $l"; bad=1; done; }
report "relative include dodges the layer's include paths" < <(grep -rnE '#include "\.\./' dsl engine --include=*.cpp --include=*.hpp)
report "the language must not include the engine" < <(grep -rnE \
  '#include "(moa/(engine|batch_io|cache_admin|observer)\.hpp|runtime/|backends/|cache/|io/)' dsl --include=*.cpp --include=*.hpp)
report "the CLI may include only public headers and its own" < <(for f in engine/cli/*.cpp engine/cli/*.hpp; do
  grep -nE '#include "' "$f" | grep -vE '#include "moa/' | while IFS= read -r l; do
    h=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$l")
    [ -f "engine/cli/$h" ] || echo "$f:$l"
  done
done)
report "only the simulated backend's own file may name it" < <(grep -rnE \
  '\bsim\b|sim::|sim_|BackendKind::Sim' engine --include=*.cpp --include=*.hpp | grep -v '^engine/backends/sim\.')
exit $bad
