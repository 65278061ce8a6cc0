# Shared helpers for the end-to-end tests: sourced by tests/e2e/test-*.sh.
#
# Each test file gets a fresh temporary directory ($E2E_DIR) holding HOME, BACKBEAT_HOME
# ($E2E_DIR/home), the fake agents' log and a work directory (the cwd). A trap stops every daemon
# the file started (with --kill-tasks), ends the fake agents it recorded and removes the
# directory. Waits poll a condition with a deadline; nothing sleeps hoping an event happened.
#
# Needs: BEAT (the built binary) and BEAT_SRC (the repository root) in the environment; python3.

set -u

if [ -z "${BEAT:-}" ] || [ -z "${BEAT_SRC:-}" ]; then
    echo "FAIL setup: BEAT and BEAT_SRC must be set (BEAT=<build>/beat BEAT_SRC=<repo root>)"
    exit 1
fi
BEAT=$(cd "$(dirname "$BEAT")" && pwd)/$(basename "$BEAT")
BEAT_SRC=$(cd "$BEAT_SRC" && pwd)
if [ ! -x "$BEAT" ]; then
    echo "FAIL setup: $BEAT is not an executable"
    exit 1
fi

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/beat-e2e.XXXXXXXX")
E2E_NAME=$(basename "$0" .sh)
FAKE_DIR=$BEAT_SRC/tests/fake-agents
E2E_HOMES=""        # every BACKBEAT_HOME used, for cleanup
E2E_FAILS=0
E2E_PASSES=0
CASE_ERR=""
E2E_PYTHON=$(python3 -c 'import sys; print(sys.executable)')

export HOME=$E2E_DIR
export PATH="$FAKE_DIR:$PATH"
export FAKE_AGENT_LOG=$E2E_DIR/fake-agent.log
export TMPDIR=$E2E_DIR/tmp
# The test decides the agent and the daemon's settings: nothing leaks in from the caller.
unset BACKBEAT_DEFAULT_AGENT MAX_WORKERS PROCESS_KILL_GRACE_PERIOD_MS BACKBEAT_LOG_STDERR
# Tests run side by side (ctest -j) on small machines: admission by CPU load and free memory
# would make them wait on each other, so only the worker count limits the pool here.
export CPU_THRESHOLD=100 MEMORY_RESERVE=0
mkdir -p "$E2E_DIR/work" "$TMPDIR"
WORK=$E2E_DIR/work
cd "$WORK" || exit 1

# use_home NAME: switch to a fresh state dir $E2E_DIR/NAME (its own daemon).
use_home() {
    export BACKBEAT_HOME=$E2E_DIR/$1
    case " $E2E_HOMES " in
        *" $BACKBEAT_HOME "*) ;;
        *) E2E_HOMES="$E2E_HOMES $BACKBEAT_HOME" ;;
    esac
}
use_home home

# ---- cleanup ---------------------------------------------------------------------------------

# proc_is PID WORD: PID is alive (not a zombie) and its command line contains WORD.
proc_is() {
    local pid=$1 word=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"
}

e2e_cleanup() {
    local h pid
    for h in $E2E_HOMES; do
        [ -d "$h" ] || continue
        BACKBEAT_HOME=$h timeout 15 "$BEAT" daemon stop --kill-tasks >/dev/null 2>&1
        pid=$(cat "$h/daemon.lock" 2>/dev/null | tr -dc 0-9)
        if proc_is "$pid" beat; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    # Fake agents (and their `sleep` children) this file started that are still around.
    if [ -f "$FAKE_AGENT_LOG" ]; then
        for pid in $(python3 - "$FAKE_AGENT_LOG" <<'EOF'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    for k in ("pid", "child_pid"):
        if r.get(k):
            print(r[k])
EOF
        ); do
            if proc_is "$pid" fake-agents || proc_is "$pid" "sleep 3600"; then
                kill -KILL "$pid" 2>/dev/null
            fi
        done
    fi
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "kept $E2E_DIR"
    else
        rm -rf "$E2E_DIR"
    fi
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# ---- reporting -------------------------------------------------------------------------------

# set_err TEXT: remember why the case fails (in a file too, so $(...) subshells can tell).
set_err() {
    CASE_ERR=$1
    printf '%s' "$1" >"$E2E_DIR/case.err"
}

# ck DESCRIPTION CMD...: run CMD; on failure remember DESCRIPTION and return 1.
ck() {
    local desc=$1
    shift
    if "$@"; then
        return 0
    fi
    set_err "$desc"
    return 1
}

# bad DESCRIPTION: record a failure reason and return 1 (for `... || { bad "x"; return 1; }`).
bad() {
    set_err "$1"
    return 1
}

# run_case NAME FUNCTION: run one case in this shell; print PASS or FAIL with the reason.
run_case() {
    local name=$1 fn=$2 t0 ms
    CASE_ERR=""
    rm -f "$E2E_DIR/case.err"
    use_home home # a case that uses another state dir switches itself
    t0=$(now_ms)
    if "$fn"; then
        ms=$(($(now_ms) - t0))
        echo "PASS $name (${ms} ms)"
        E2E_PASSES=$((E2E_PASSES + 1))
    else
        [ -n "$CASE_ERR" ] || CASE_ERR=$(cat "$E2E_DIR/case.err" 2>/dev/null)
        echo "FAIL $name: ${CASE_ERR:-returned non-zero}"
        E2E_FAILS=$((E2E_FAILS + 1))
    fi
}

# dump_logs: what helps diagnose a failure (printed only when a case failed).
dump_logs() {
    local h f g
    echo "---- diagnostics ($E2E_NAME) ----"
    for h in $E2E_HOMES; do
        if [ -f "$h/daemon.log" ]; then
            echo "== $h/daemon.log (last 40 lines)"
            tail -n 40 "$h/daemon.log"
        fi
        for f in $(ls -t "$h/output" 2>/dev/null | head -n 3); do
            for g in supervisor.log exit.json stderr.log; do
                if [ -s "$h/output/$f/$g" ]; then
                    echo "== $h/output/$f/$g"
                    head -c 600 "$h/output/$f/$g"
                    echo
                fi
            done
        done
    done
    if [ -f "$FAKE_AGENT_LOG" ]; then
        echo "== fake agent log (last 10 runs, env omitted)"
        tail -n 10 "$FAKE_AGENT_LOG" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        print(line.rstrip()[:300]); continue
    r.pop("env", None)
    print(json.dumps(r)[:300])'
    fi
    if [ -f "$E2E_DIR/last.out" ]; then
        echo "== last command stdout (first 40 lines)"
        head -n 40 "$E2E_DIR/last.out"
    fi
    if [ -f "$E2E_DIR/last.err" ]; then
        echo "== last command stderr (first 40 lines)"
        head -n 40 "$E2E_DIR/last.err"
    fi
}

# finish: summary line; diagnostics on failure; the exit status of the file.
finish() {
    echo "$E2E_NAME: $E2E_PASSES passed, $E2E_FAILS failed"
    if [ "$E2E_FAILS" -ne 0 ]; then
        dump_logs
        exit 1
    fi
    exit 0
}

# ---- time and waiting ------------------------------------------------------------------------

now_ms() {
    date +%s%3N
}

# wait_for [--timeout SECONDS] CMD...: poll CMD every 50 ms until it succeeds (0) or the
# deadline passes (1).
wait_for() {
    local timeout=10
    if [ "${1:-}" = "--timeout" ]; then
        timeout=$2
        shift 2
    fi
    local deadline=$(($(now_ms) + ${timeout%.*} * 1000))
    while :; do
        if "$@"; then
            return 0
        fi
        if [ "$(now_ms)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ "$pid" -gt 0 ] 2>/dev/null || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

pid_dead() {
    ! pid_alive "$1"
}

# ---- JSON ------------------------------------------------------------------------------------

# jget PATH: read JSON on stdin, print the value at a dotted PATH (a.b.0.c); strings raw,
# others as JSON, null or missing as nothing. Exit 1 if stdin is not JSON.
jget() {
    python3 -c '
import json, sys
try:
    v = json.loads(sys.stdin.buffer.read())
except ValueError as e:
    sys.stderr.write("jget: not JSON: %s\n" % e); sys.exit(1)
for k in [p for p in sys.argv[1].split(".") if p]:
    if isinstance(v, list):
        v = v[int(k)] if k.lstrip("-").isdigit() and -len(v) <= int(k) < len(v) else None
    elif isinstance(v, dict):
        v = v.get(k)
    else:
        v = None
    if v is None:
        break
if v is None:
    pass
elif isinstance(v, str):
    print(v)
elif isinstance(v, bool):
    print("true" if v else "false")
else:
    print(json.dumps(v))
' "$1"
}

# jpy EXPR: evaluate a python expression over the JSON on stdin (bound to d); print the result
# (strings raw, booleans true/false, others JSON).
jpy() {
    python3 -c '
import json, sys
d = json.loads(sys.stdin.buffer.read())
v = eval(sys.argv[1])
if isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, str):
    print(v)
else:
    print(json.dumps(v))
' "$1"
}

# is_json FILE: FILE holds exactly one valid JSON document (strict: no NaN, valid UTF-8).
is_json() {
    python3 -c '
import json, sys
data = open(sys.argv[1], "rb").read()
def bad(x):
    raise ValueError(x)
json.loads(data.decode("utf-8"), parse_constant=bad)
' "$1" 2>/dev/null
}

# ---- running beat ----------------------------------------------------------------------------

# bt ARGS...: run beat; stdout in $E2E_DIR/last.out, stderr in last.err; sets RC.
bt() {
    "$BEAT" "$@" >"$E2E_DIR/last.out" 2>"$E2E_DIR/last.err"
    RC=$?
    return 0
}
out() { cat "$E2E_DIR/last.out"; }
err() { cat "$E2E_DIR/last.err"; }

# submit ARGS...: `beat run ARGS` that must succeed; prints the task id.
submit() {
    local id rc
    id=$("$BEAT" run "$@" 2>"$E2E_DIR/submit.err")
    rc=$?
    if [ "$rc" -ne 0 ] || ! [[ "$id" =~ ^task-[0-9a-f-]{36}$ ]]; then
        set_err "beat run $* -> exit $rc, stdout '$id', stderr '$(head -c 300 "$E2E_DIR/submit.err")'"
        echo "$id"
        return 1
    fi
    echo "$id"
}

# tjson ID: the task's `status --json`.
tjson() {
    "$BEAT" status "$1" --json 2>/dev/null
}

# tf ID FIELD: one field of the task's status (dotted path).
tf() {
    tjson "$1" | jget "$2"
}

# tstatus ID: the task's state.
tstatus() {
    tf "$1" status
}

is_status() {
    [ "$(tstatus "$1")" = "$2" ]
}

is_terminal() {
    case "$(tstatus "$1")" in
        completed | failed | cancelled) return 0 ;;
    esac
    return 1
}

# wait_status ID STATUS [SECONDS]: poll until the task is in STATUS.
wait_status() {
    local id=$1 want=$2 t=${3:-15}
    if wait_for --timeout "$t" is_status "$id" "$want"; then
        return 0
    fi
    set_err "task $id: wanted status $want within ${t}s, is '$(tstatus "$id")' (reason: $(tf "$id" reason))"
    return 1
}

# wait_terminal ID [SECONDS]: poll until the task ended.
wait_terminal() {
    local id=$1 t=${2:-15}
    if wait_for --timeout "$t" is_terminal "$id"; then
        return 0
    fi
    set_err "task $id did not end within ${t}s (status '$(tstatus "$id")')"
    return 1
}

# task_total: how many tasks the daemon holds.
task_total() {
    "$BEAT" status --json --limit 1000 2>/dev/null | jget total
}

# daemon_pid: the pid in daemon.lock when that process lives, else nothing.
daemon_pid() {
    local pid
    pid=$(cat "$BACKBEAT_HOME/daemon.lock" 2>/dev/null | tr -dc 0-9)
    if pid_alive "$pid"; then
        echo "$pid"
    fi
}

daemon_up() {
    [ -n "$(daemon_pid)" ] && [ -S "$BACKBEAT_HOME/daemon.sock" ]
}

daemon_down() {
    [ -z "$(daemon_pid)" ]
}

# ---- fake agent log --------------------------------------------------------------------------

# fake_rec MARKER [FIELD]: the fake-agent log record whose prompt contains MARKER (the last
# one); the whole record as JSON, or one dotted FIELD.
fake_rec() {
    python3 - "$FAKE_AGENT_LOG" "$1" "${2:-}" <<'EOF'
import json, sys
path, marker, field = sys.argv[1:4]
rec = None
try:
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if marker in (r.get("prompt") or ""):
            rec = r
except FileNotFoundError:
    pass
if rec is None:
    sys.exit(1)
v = rec
for k in [p for p in field.split(".") if p]:
    v = v.get(k) if isinstance(v, dict) else None
if v is None:
    sys.exit(0 if not field else 1)
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# fake_started MARKER: a fake agent with MARKER in its prompt has started (signals installed).
fake_started() {
    fake_rec "$1" >/dev/null
}

# fake_order MARKER...: the markers in the order their agents started (one a line).
fake_order() {
    python3 - "$FAKE_AGENT_LOG" "$@" <<'EOF'
import json, sys
path, markers = sys.argv[1], sys.argv[2:]
for line in open(path, encoding="utf-8", errors="replace"):
    try:
        p = json.loads(line).get("prompt") or ""
    except ValueError:
        continue
    for m in markers:
        if m in p:
            print(m)
EOF
}

# uniq_marker: a word unlikely to appear anywhere else.
uniq_marker() {
    echo "mk$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
}

# rss_kb PID: resident memory of PID in kB.
rss_kb() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null
}

# not CMD...: succeeds when CMD fails (for ck, which runs a command, not a pipeline).
not() {
    ! "$@"
}

# matches STRING REGEX: STRING matches the extended REGEX.
matches() {
    [[ "$1" =~ $2 ]]
}

file_has() {
    grep -q -- "$2" "$1" 2>/dev/null
}
