#!/usr/bin/env bash
# Runs the whole suite under ASan + UBSan. Daemons and supervisors run detached (their stderr
# is /dev/null), so every sanitizer report goes to a log file, and any report fails the run.
set -euo pipefail
build=${1:?usage: test-asan.sh BUILD_DIR}
jobs=${2:-2}
logs="$(cd "$build" && pwd)/sanitizer-logs"
rm -rf "$logs"; mkdir -p "$logs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
export BEAT_SANITIZED=1 # tests skip the checks that sanitizers make meaningless (RSS bounds)
status=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" || status=$?
if compgen -G "$logs/*" >/dev/null; then
    echo "sanitizers reported problems:"
    for f in "$logs"/*; do echo "=== $f"; head -n 60 "$f"; done
    status=1
fi
exit $status
