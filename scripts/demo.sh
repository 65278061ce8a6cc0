#!/usr/bin/env bash
# The demo: a throwaway state directory, the daemon, several tasks of different priorities,
# a live status view until they finish, then their logs. Uses a real agent CLI when one is on
# PATH, otherwise the project's stand-in agent (speaks claude's stream format).
set -euo pipefail
beat=$(realpath "${1:-build/beat}")
root=$(cd "$(dirname "$0")/.." && pwd)
home=$(mktemp -d "${TMPDIR:-/tmp}/backbeat-demo.XXXXXX")
export BACKBEAT_HOME="$home"
cleanup() { "$beat" daemon stop >/dev/null 2>&1 || true; rm -rf "$home"; }
trap cleanup EXIT

agent=""
for a in claude codex gemini; do
    if command -v "$a" >/dev/null 2>&1; then agent=$a; break; fi
done
if [ -n "$agent" ] && [ "${BACKBEAT_DEMO_STANDIN:-}" = "" ]; then
    echo "demo: using the real '$agent' CLI found on PATH ($(command -v "$agent"))"
    prompts=("Reply with one short sentence about the number 7."
             "Reply with the word 'ready' and nothing else."
             "List three prime numbers, comma separated."
             "Reply with one short sentence about the colour blue.")
else
    agent=claude
    export PATH="$root/tests/fake-agents:$PATH"
    echo "demo: no agent CLI on PATH: using the project's stand-in agent (tests/fake-agents/claude,"
    echo "      which speaks claude's stream-json format); install claude, codex or gemini to use a real one"
    prompts=("Survey the repository layout [sleep=3] [lines=4]"
             "Check the build configuration [sleep=2] [lines=3]"
             "Fix the flaky test [sleep=1] [lines=2]"
             "Write the release notes [sleep=2] [lines=5]")
fi
export BACKBEAT_DEFAULT_AGENT=$agent
# Two workers, so the queue and the priorities are visible.
export MAX_WORKERS=2

echo "demo: state directory $home"
"$beat" daemon start
priorities=(P2 P2 P0 P1)
ids=()
for i in "${!prompts[@]}"; do
    id=$("$beat" run -p "${priorities[$i]}" -w "$root" "${prompts[$i]}" 2>/dev/null)
    echo "demo: delegated ${priorities[$i]} $id: ${prompts[$i]}"
    ids+=("$id")
done

# Live status view until every task has ended.
deadline=$((SECONDS + 300))
while :; do
    table=$("$beat" list)
    if [ -t 1 ]; then printf '\033[H\033[2J'; fi
    echo "backbeat demo: live status (refreshing each second)"
    echo
    echo "$table"
    echo
    "$beat" daemon status | sed -n '3p'
    # Task rows only: the pool line under the table says "N running of M" too.
    pending=$(echo "$table" | grep -E '^task-' | grep -cE ' (queued|blocked|running) ' || true)
    [ "$pending" -eq 0 ] && break
    [ $SECONDS -ge $deadline ] && { echo "demo: tasks still running after 300 s"; break; }
    sleep 1
done

for id in "${ids[@]}"; do
    echo
    echo "=== beat status $id"
    "$beat" status "$id" | grep -vE '^  (created|updated|pid|session|directory) '
    echo "=== beat logs $id"
    "$beat" logs --tail 3 "$id" 2>&1 | cut -c1-160
done
echo
echo "demo: done; stopping the daemon and removing $home"
