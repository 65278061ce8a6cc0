#!/usr/bin/env bash
# Pressure: agents that really allocate memory (a small `claude` stand-in that holds N MiB of
# touched pages) against a memory reserve set so that exactly two fit: two run, the others wait
# with a "memory:" reason (TaskStatus, SystemStatus, beat top), and start as memory comes back.
# Then a locked database: a write fails with a clear message and the daemon keeps serving reads.
. "$(dirname "$0")/lib.sh"

HOG_MIB=1024
HOGBIN=$E2E_DIR/hogbin
export HOG_LOG=$E2E_DIR/hog.log
mkdir -p "$HOGBIN"
cat >"$HOGBIN/claude" <<'PYEOF'
#!/usr/bin/env python3
"""A claude stand-in that holds memory: [mem=MiB] touched pages, until [wait-file=PATH]."""
import fcntl
import json
import os
import re
import sys
import time
import uuid

prompt = sys.argv[-1]
d = dict(re.findall(r"\[([a-z-]+)=([^\]]*)\]", prompt))
sid = str(uuid.uuid4())


def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def log(what):
    fd = os.open(os.environ["HOG_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{what} {os.environ.get('BACKBEAT_TASK_ID')}\n".encode())
    os.close(fd)


emit({"type": "system", "subtype": "init", "session_id": sid})
hog = b"\x01" * (int(d.get("mem", "0")) << 20)  # written, so every page is resident
log("start")
while d.get("wait-file") and not os.path.exists(d["wait-file"]):
    time.sleep(0.01)
log("end")
emit({"type": "assistant", "message": {"content": [{"type": "text", "text": "done"}]},
      "session_id": sid})
emit({"type": "result", "subtype": "success", "is_error": False, "result": "done",
      "session_id": sid})
PYEOF
chmod +x "$HOGBIN/claude"

# A hog allocates for real: the CPU check is someone else's test and the machine may be busy.
# The memory reserve is set through config.json, which MEMORY_RESERVE would override.
export MAX_WORKERS=8 CPU_THRESHOLD=100 BACKBEAT_DEFAULT_AGENT=claude
unset MEMORY_RESERVE

# pool EXPR: evaluate a python expression over SystemStatus's pool (bound to d).
pool() {
    "$BEAT" system --json 2>/dev/null | jpy "(lambda p: $1)(d['pool'])"
}

mem_available_kb() {
    sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo
}

learned() {
    [ "$(pool "p['resources']['costs'].get('claude', {}).get('samples', 0) >= 1")" = true ]
}

two_run_two_wait() {
    [ "$(pool "p['running'] == 2 and p['queued']['P2'] == 2 and (p['limitedBy'] or '').startswith('memory:')")" = true ]
}

reserve_is() {
    [ "$(pool "p['limits']['memoryReserve']")" = "$1" ]
}

all_settled() {
    [ "$(pool "len(p['tasks']) == 2 and not any(t['settling'] for t in p['tasks'])")" = true ]
}

case_memory_reserve() {
    local learn gate cost avail reserve ids=() id i
    if [ "$(mem_available_kb)" -lt $((4 * 1024 * 1024)) ]; then
        echo "  skipped: less than 4 GiB available ($(mem_available_kb) kB)"
        return 0
    fi
    export PATH="$HOGBIN:$PATH"
    use_home memory
    learn=$E2E_DIR/learn
    gate=$E2E_DIR/gate
    # What one agent costs is learned from agents measured here: let one settle first.
    id=$(submit "[mem=$HOG_MIB] [wait-file=$learn] learn") || return 1
    ck "the daemon learned what a hog costs" wait_for --timeout 30 learned || return 1
    cost=$(pool "p['resources']['costs']['claude']['rss']")
    ck "learned cost $cost is about $HOG_MIB MiB" \
        [ "$cost" -ge $((HOG_MIB * 900 * 1024)) ] || return 1
    touch "$learn"
    wait_status "$id" completed 30 || return 1
    # Room for two more with half a hog to spare either way.
    avail=$(pool "p['resources']['memory']['available']")
    reserve=$((avail - 2 * cost - cost / 2))
    bt config set memoryReserve "$reserve"
    ck "config set memoryReserve (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "the daemon uses the new reserve" wait_for --timeout 10 reserve_is "$reserve" || return 1
    for i in 1 2 3 4; do
        id=$(submit "[mem=$HOG_MIB] [wait-file=$gate] hog $i") || return 1
        ids+=("$id")
    done
    ck "two hogs run and two wait for memory ($(pool p))" \
        wait_for --timeout 30 two_run_two_wait || return 1
    # Measured, settled footprints (not just the projection) still leave room for no third.
    ck "the running hogs settle" wait_for --timeout 30 all_settled || return 1
    ck "still two running, two waiting ($(pool p))" two_run_two_wait || return 1
    local waiting=()
    for id in "${ids[@]}"; do
        [ "$(tstatus "$id")" = queued ] && waiting+=("$id")
    done
    ck "two queued hogs (${#waiting[@]})" [ "${#waiting[@]}" = 2 ] || return 1
    local why
    why=$(tf "${waiting[0]}" waitingReason)
    ck "waitingReason names memory and the reserve: '$why'" \
        matches "$why" '^memory: .* available, .* reserve, .* per claude agent' || return 1
    bt top --once
    ck "beat top --once exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "beat top shows the memory limit" grep -q '^limit     memory: ' "$E2E_DIR/last.out" || return 1
    ck "beat top lists the two running hogs" \
        [ "$(grep -c '^task-.* claude ' "$E2E_DIR/last.out")" = 2 ] || return 1
    touch "$gate"
    for id in "${ids[@]}"; do
        wait_status "$id" completed 60 || return 1
    done
    local most
    most=$(awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m }' \
        "$HOG_LOG")
    ck "at most two hogs at once (the log says $most)" [ "$most" = 2 ] || return 1
    ck "every hog ran once" [ "$(grep -c '^start ' "$HOG_LOG")" = 5 ] || return 1
}
run_case "memory reserve: exactly two fit, the rest wait with a reason" case_memory_reserve

case_locked_db() {
    use_home locked
    local id release=$E2E_DIR/lock-release locked=$E2E_DIR/lock-held
    id=$(submit -a claude "[lines=1]") || return 1
    wait_status "$id" completed || return 1
    # Another process holds the write lock of the database.
    python3 - "$BACKBEAT_HOME/backbeat.db" "$locked" "$release" <<'EOF' &
import os, sqlite3, sys, time
db, locked, release = sys.argv[1:4]
c = sqlite3.connect(db, isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(locked, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.01)
c.execute("ROLLBACK")
EOF
    local holder=$!
    ck "the lock is held" wait_for --timeout 10 [ -f "$locked" ] || return 1
    bt run -a claude "[lines=1] while locked"
    ck "a write while locked fails as a database error (exit $RC, want 7: $(err))" \
        [ "$RC" = 7 ] || return 1
    ck "the message says the database is locked: $(err)" grep -qi 'locked' "$E2E_DIR/last.err" || return 1
    bt status "$id" --json
    ck "reads still work while it is locked (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "and answer" [ "$(out | jget status)" = completed ] || return 1
    bt system --json
    ck "SystemStatus still works (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    touch "$release"
    wait "$holder"
    id=$(submit -a claude "[lines=1] after the lock") || return 1
    wait_status "$id" completed || return 1
}
run_case "locked database: writes fail clearly, reads go on" case_locked_db

finish
