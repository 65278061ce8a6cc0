#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each, on its seed corpus
# (tests/fuzz/corpus-<name>); new inputs go to a scratch copy, crashes to the build dir.
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz-*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); name=${name#fuzz-}
    work="$build/corpus-$name"
    mkdir -p "$work"
    [ -d "$root/tests/fuzz/corpus-$name" ] && cp -rn "$root/tests/fuzz/corpus-$name/." "$work/"
    echo "fuzz: $name for ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -artifact_prefix="$build/$name-" -print_final_stats=1 \
        "$work" 2>"$build/fuzz-$name.log"; then
        echo "fuzz: $name FOUND A FAILURE: see $build/fuzz-$name.log and $build/$name-*"
        status=1
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss' "$build/fuzz-$name.log" || true
done
exit $status
