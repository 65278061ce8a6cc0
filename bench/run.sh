#!/usr/bin/env bash
# Runs the benchmarks against BUILD_DIR/beat and prints one line per figure, then a summary.
# Benchmarks report; they are not tests: over budget still exits 0. A benchmark that cannot run
# (a crash, a task that never ends) exits non-zero.
#
#   bench/run.sh BUILD_DIR [NAME ...]     runs bench/bench_NAME.py; default: every one of them
set -uo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [NAME ...]   (NAME: a bench/bench_NAME.py)" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
shift
here=$(cd "$(dirname "$0")" && pwd)
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
    # The core figures first (the long 10,000-task one last of them), then any others.
    benches=(mcp exec deps status)
    for f in "$here"/bench_*.py; do
        n=$(basename "$f" .py)
        n=${n#bench_}
        case " ${benches[*]} " in *" $n "*) ;; *) benches+=("$n") ;; esac
    done
fi

if [ ! -x "$build/beat" ]; then
    echo "run.sh: $build/beat is missing: build it first (make build)" >&2
    exit 2
fi
if [ ! -x "$build/bench-agent" ]; then
    ninja -C "$build" bench-agent >/dev/null || exit 2
fi

commit=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$here/.." status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
fi
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ram=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo "backbeat benchmarks"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $commit"
echo "machine: $(nproc) CPUs, ${model:-unknown model}, $ram RAM"
echo "kernel:  $(uname -sr); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=()
start=$(date +%s)
for b in "${benches[@]}"; do
    script="$here/bench_$b.py"
    if [ ! -f "$script" ]; then
        echo "run.sh: no benchmark named $b" >&2
        failed+=("$b")
        continue
    fi
    echo "== $b (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    t0=$(date +%s)
    if ! (cd "$here" && python3 "$script" "$build") | tee -a "$out"; then
        failed+=("$b")
    fi
    echo "   ($(($(date +%s) - t0)) s)"
done

echo
echo "== summary ($(($(date +%s) - start)) s, load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
ok=$(grep -c ') ok' "$out")
over=$(grep -c ') OVER' "$out")
info=$(grep -c ') info' "$out")
echo "$ok within budget, $over over budget, $info without a budget of their own"
if [ "$over" -gt 0 ]; then
    echo "over budget:"
    grep ') OVER' "$out" | sed 's/^/  /'
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "could not run: ${failed[*]}" >&2
    exit 1
fi
exit 0
