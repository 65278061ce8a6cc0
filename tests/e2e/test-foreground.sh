#!/usr/bin/env bash
# Attached commands: `beat run -f` streams the agent's output while it runs and exits with the
# task's outcome (0, the agent's status, 1 for timeout or cancel, 130 after Ctrl-C, which
# cancels the task); `beat logs -f` follows a running task with low latency and ends with it.
. "$(dirname "$0")/lib.sh"

export PROCESS_KILL_GRACE_PERIOD_MS=1000

# task_of MARKER: the task id of the fake agent run whose prompt holds MARKER.
task_of() {
    fake_rec "$1" env.BACKBEAT_TASK_ID
}

case_streams() {
    local m=$(uniq_marker) go bg rc
    go=$E2E_DIR/$m.go
    "$BEAT" run -f -a claude "stream $m [lines=1] [wait-file=$go] [lines=2] [result=end-$m]" \
        >"$E2E_DIR/fg.out" 2>"$E2E_DIR/fg.err" &
    bg=$!
    ck "the first line arrives while the agent is held" \
        wait_for --timeout 10 file_has "$E2E_DIR/fg.out" '"text":"line 1"' || { touch "$go"; return 1; }
    ck "run -f still attached while the agent runs" pid_alive "$bg" || { touch "$go"; return 1; }
    ck "nothing after the hold yet" not file_has "$E2E_DIR/fg.out" "end-$m" || { touch "$go"; return 1; }
    ck "the task is running" is_status "$(task_of "$m")" running || { touch "$go"; return 1; }
    touch "$go"
    wait "$bg"
    rc=$?
    ck "run -f of a completed task exits 0 (got $rc; $(head -c 300 "$E2E_DIR/fg.err"))" [ "$rc" = 0 ] || return 1
    ck "the rest of the output was streamed" file_has "$E2E_DIR/fg.out" '"text":"line 2"' \
        && file_has "$E2E_DIR/fg.out" "end-$m" || return 1
    ck "stdout carries only the agent's output, not the id" \
        not grep -q "^task-" "$E2E_DIR/fg.out" || return 1
    ck "task completed" is_status "$(task_of "$m")" completed || return 1
}

case_exit_codes() {
    local rc m bg id
    timeout 30 "$BEAT" run -f -a claude "exit 42 [exit=42]" >/dev/null 2>&1
    rc=$?
    ck "failing agent: run -f exits with its status 42 (got $rc)" [ "$rc" = 42 ] || return 1
    timeout 30 "$BEAT" run -f -a claude -t 1000 "too slow [sleep=30]" >/dev/null 2>&1
    rc=$?
    ck "timeout: run -f exits 1 (got $rc)" [ "$rc" = 1 ] || return 1
    m=$(uniq_marker)
    "$BEAT" run -f -a claude "cancelled elsewhere $m [wait-file=$E2E_DIR/never]" >/dev/null 2>&1 &
    bg=$!
    ck "agent started" wait_for fake_started "$m" || return 1
    id=$(task_of "$m")
    bt cancel "$id"
    ck "cancel from another client exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    wait "$bg"
    rc=$?
    ck "cancelled: run -f exits 1 (got $rc)" [ "$rc" = 1 ] || return 1
}

# The Ctrl-C case runs beat in its own session with SIGINT at its default disposition (a
# background job of a non-interactive shell would ignore SIGINT), and signals its process group
# as a terminal would.
case_ctrl_c() {
    local m=$(uniq_marker) rc id pid
    python3 - "$BEAT" "$m" "$E2E_DIR" "$FAKE_AGENT_LOG" >"$E2E_DIR/ctrlc.out" 2>&1 <<'EOF'
import json, os, signal, subprocess, sys, time
beat, marker, d, log = sys.argv[1:5]
def started():
    try:
        return any(marker in (json.loads(l).get("prompt") or "") for l in open(log))
    except (OSError, ValueError):
        return False
p = subprocess.Popen([beat, "run", "-f", "-a", "claude", f"ctrl-c {marker} [wait-file={d}/never]"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
deadline = time.monotonic() + 10
while not started() and time.monotonic() < deadline:
    time.sleep(0.02)
if not started():
    p.kill(); print("agent never started"); sys.exit(0)
os.killpg(p.pid, signal.SIGINT)
try:
    print(p.wait(timeout=10))
except subprocess.TimeoutExpired:
    p.kill(); print("run -f did not exit within 10 s of SIGINT")
EOF
    rc=$(cat "$E2E_DIR/ctrlc.out")
    ck "Ctrl-C: run -f exits 130 (got $rc)" [ "$rc" = 130 ] || return 1
    id=$(task_of "$m")
    wait_status "$id" cancelled 10 || return 1
    pid=$(fake_rec "$m" pid)
    ck "the agent $pid was stopped" wait_for --timeout 5 pid_dead "$pid" || return 1
}

case_logs_follow() {
    local m=$(uniq_marker) id res lat
    id=$(submit -a claude "follow $m [wait-file=$E2E_DIR/$m.1] [lines=2] [wait-file=$E2E_DIR/$m.2] [lines=3] [wait-file=$E2E_DIR/$m.3] [result=end-$m]") || return 1
    ck "agent started" wait_for fake_started "$m" || return 1
    # Follow, release the agent three times, and time how long each new line takes to show.
    res=$(python3 - "$BEAT" "$id" "$E2E_DIR/$m" <<'EOF'
import os, select, subprocess, sys, time
beat, task, base = sys.argv[1:4]
p = subprocess.Popen([beat, "logs", "-f", task], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
buf = b""
def read_until(needle, secs):
    global buf
    deadline = time.monotonic() + secs
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return needle in buf
            buf += chunk
    return True
if not read_until(b'"subtype":"init"', 10):
    print("FAIL the init line never shown"); p.kill(); sys.exit(0)
lat = []
for n, needle in ((1, b'"text":"line 2"'), (2, b'"text":"line 3"'), (3, b"end-")):
    t0 = time.monotonic()
    open(f"{base}.{n}", "w").close()
    if not read_until(needle, 10):
        print(f"FAIL release {n}: {needle!r} never shown"); p.kill(); sys.exit(0)
    lat.append((time.monotonic() - t0) * 1000)
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    print("FAIL logs -f still running 5 s after the task ended"); p.kill(); sys.exit(0)
rest = p.stdout.read()
print("OK %d %d %s" % (rc, min(lat), " ".join("%d" % x for x in lat)))
EOF
)
    ck "logs -f: $res" matches "$res" '^OK ' || return 1
    ck "logs -f exits 0 when the task ends ($res)" [ "$(echo "$res" | cut -d' ' -f2)" = 0 ] || return 1
    lat=$(echo "$res" | cut -d' ' -f3)
    echo "  logs -f latency in ms: $(echo "$res" | cut -d' ' -f4-)"
    ck "logs -f shows a new line within 250 ms (best of 3: $lat ms; all: $(echo "$res" | cut -d' ' -f4-))" \
        [ "$lat" -lt 250 ] || return 1
    wait_status "$id" completed || return 1
    bt logs -f "$id"
    ck "logs -f of an ended task prints and exits 0 (got $RC)" [ "$RC" = 0 ] && file_has "$E2E_DIR/last.out" "end-$m" || return 1
}

run_case "run -f streams lines as they are written" case_streams
run_case "run -f exit codes" case_exit_codes
run_case "Ctrl-C on run -f cancels the task and exits 130" case_ctrl_c
run_case "logs -f follows and ends with the task" case_logs_follow
finish
