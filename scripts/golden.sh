#!/usr/bin/env bash
# Rewrites tests/golden/ from the current operation table (review the diff before committing).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
ninja --quiet -C "$build" test-golden
BEAT_GOLDEN_UPDATE=1 BEAT_FIXTURES="$root/tests/fixtures" "$build/test-golden"
git -C "$root" --no-pager diff --stat -- tests/golden || true
