#!/usr/bin/env bash
# Task dependencies through the CLI: blocked until the dependency completes, immediate start
# when it already has, cancellation when it fails, a diamond, bad dependency lists, and a
# dependency that completes while the daemon is down.
. "$(dirname "$0")/lib.sh"

export PROCESS_KILL_GRACE_PERIOD_MS=1000

# ms ID FIELD: a time field of a task as an integer (0 when missing).
ms() {
    local v
    v=$(tf "$1" "$2")
    echo "${v:-0}"
}

case_blocked_then_runs() {
    local m=$(uniq_marker) a b j
    a=$(submit -a claude "dep a $m [wait-file=$E2E_DIR/$m.go]") || return 1
    wait_status "$a" running || return 1
    b=$(submit -a claude --deps "$a" "dep b $m") || return 1
    j=$(tjson "$b")
    ck "B blocked while A runs (is $(echo "$j" | jget status))" [ "$(echo "$j" | jget status)" = blocked ] || return 1
    ck "B dependsOn A" [ "$(echo "$j" | jpy "d.get('dependsOn') == ['$a']")" = true ] || return 1
    ck "B blockedBy A (got $(echo "$j" | jget blockedBy))" [ "$(echo "$j" | jpy "'$a' in (d.get('blockedBy') or [])")" = true ] || return 1
    ck "A lists B as a dependent (got $(tf "$a" dependents))" [ "$(tjson "$a" | jpy "'$b' in (d.get('dependents') or [])")" = true ] || return 1
    bt wait "$b" --timeout 200
    ck "B does not start by itself (wait timed out, exit $RC)" is_status "$b" blocked || return 1
    touch "$E2E_DIR/$m.go"
    wait_status "$a" completed || return 1
    wait_status "$b" completed || return 1
    ck "B started after A completed ($(ms "$b" startedAt) >= $(ms "$a" completedAt))" \
        [ "$(ms "$b" startedAt)" -ge "$(ms "$a" completedAt)" ] || return 1
    ck "B no longer blocked by anything" [ "$(tjson "$b" | jpy "not d.get('blockedBy')")" = true ] || return 1
}

case_dep_done() {
    local a b
    a=$(submit -a claude "already done") || return 1
    wait_status "$a" completed || return 1
    b=$(submit -a claude --depends-on "$a" "after a finished one") || return 1
    ck "B not blocked by a completed task (is $(tstatus "$b"))" not is_status "$b" blocked || return 1
    wait_status "$b" completed || return 1
}

case_dep_failed() {
    local m=$(uniq_marker) a b c reason
    a=$(submit -a claude "will fail $m [wait-file=$E2E_DIR/$m.go] [exit=2]") || return 1
    b=$(submit -a claude --deps "$a" "never runs $m-b") || return 1
    c=$(submit -a claude --deps "$b" "never runs either $m-c") || return 1
    ck "B blocked" is_status "$b" blocked || return 1
    touch "$E2E_DIR/$m.go"
    wait_status "$a" failed || return 1
    wait_status "$b" cancelled || return 1
    reason=$(tf "$b" reason)
    ck "B's reason names the dependency (got '$reason')" matches "$reason" "$a" || return 1
    ck "B endReason dependency (got $(tf "$b" endReason))" [ "$(tf "$b" endReason)" = dependency ] || return 1
    wait_status "$c" cancelled || return 1
    ck "C (depends on B) cancelled too, naming B (got '$(tf "$c" reason)')" matches "$(tf "$c" reason)" "$b" || return 1
    ck "B never ran" not fake_started "$m-b" || return 1
    ck "C never ran" not fake_started "$m-c" || return 1
}

case_dep_cancelled() {
    local m=$(uniq_marker) a b
    a=$(submit -a claude "to cancel $m [wait-file=$E2E_DIR/never]") || return 1
    b=$(submit -a claude --deps "$a" "after cancelled $m-b") || return 1
    wait_status "$a" running || return 1
    bt cancel "$a"
    ck "cancel A exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    wait_status "$b" cancelled || return 1
    ck "B's reason names A (got '$(tf "$b" reason)')" matches "$(tf "$b" reason)" "$a" || return 1
}

case_diamond() {
    local m=$(uniq_marker) a b c d order
    a=$(submit -a claude "diamond ${m}A [wait-file=$E2E_DIR/$m.go]") || return 1
    b=$(submit -a claude --deps "$a" "diamond ${m}B") || return 1
    c=$(submit -a claude --deps "$a" "diamond ${m}C") || return 1
    d=$(submit -a claude --deps "$b,$c" "diamond ${m}D") || return 1
    ck "D depends on B and C (got $(tf "$d" dependsOn))" [ "$(tjson "$d" | jpy "sorted(d.get('dependsOn') or []) == sorted(['$b', '$c'])")" = true ] || return 1
    for x in $b $c $d; do
        ck "$x blocked (is $(tstatus "$x"))" is_status "$x" blocked || return 1
    done
    touch "$E2E_DIR/$m.go"
    wait_status "$d" completed 20 || return 1
    order=$(fake_order "${m}A" "${m}B" "${m}C" "${m}D" | tr '\n' ' ')
    ck "A first, D last (got $order)" matches "$order" "^${m}A ${m}[BC] ${m}[BC] ${m}D $" || return 1
    ck "B and C started after A completed" [ "$(ms "$b" startedAt)" -ge "$(ms "$a" completedAt)" ] \
        && [ "$(ms "$c" startedAt)" -ge "$(ms "$a" completedAt)" ] || return 1
    ck "D started after B and C completed" [ "$(ms "$d" startedAt)" -ge "$(ms "$b" completedAt)" ] \
        && [ "$(ms "$d" startedAt)" -ge "$(ms "$c" completedAt)" ] || return 1
}

case_bad_deps() {
    local a n0 many i
    a=$(submit -a claude "a real dependency") || return 1
    n0=$(task_total)
    bt run -a claude --deps task-00000000-0000-4000-8000-000000000000 "unknown dep"
    ck "unknown dependency: exit 2 (got $RC: $(err))" [ "$RC" = 2 ] || return 1
    ck "message names dependsOn ($(err))" grep -q "dependsOn" "$E2E_DIR/last.err" || return 1
    ck "nothing created" [ "$(task_total)" = "$n0" ] || return 1
    bt run -a claude --deps "$a,task-00000000-0000-4000-8000-000000000000" "one good one unknown"
    ck "one unknown among good ones: exit 2 (got $RC)" [ "$RC" = 2 ] || return 1
    ck "nothing created" [ "$(task_total)" = "$n0" ] || return 1
    bt run -a claude --deps "$a,$a" "duplicate dep"
    ck "duplicate dependency: exit 2 (got $RC: $(err))" [ "$RC" = 2 ] || return 1
    ck "message names dependsOn ($(err))" grep -q "dependsOn" "$E2E_DIR/last.err" || return 1
    ck "nothing created" [ "$(task_total)" = "$n0" ] || return 1
    many=$a
    for i in $(seq 1 100); do
        many="$many,task-00000000-0000-4000-8000-$(printf '%012d' "$i")"
    done
    bt run -a claude --deps "$many" "too many deps"
    ck "101 dependencies: exit 2 (got $RC: $(err))" [ "$RC" = 2 ] || return 1
    ck "nothing created" [ "$(task_total)" = "$n0" ] || return 1
}

case_restart_dep_done() {
    local m=$(uniq_marker) a b pid dpid
    a=$(submit -a claude "dep across restart $m [wait-file=$E2E_DIR/$m.go]") || return 1
    b=$(submit -a claude --deps "$a" "blocked across restart $m-b") || return 1
    ck "agent A started" wait_for fake_started "$m" || return 1
    ck "B blocked" is_status "$b" blocked || return 1
    pid=$(fake_rec "$m" pid)
    dpid=$(daemon_pid)
    bt daemon stop
    ck "daemon stop exit 0 (got $RC)" [ "$RC" = 0 ] && wait_for pid_dead "$dpid" || return 1
    touch "$E2E_DIR/$m.go"
    ck "A's agent ended while the daemon was down" wait_for pid_dead "$pid" || return 1
    bt daemon start
    ck "daemon start exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    wait_status "$a" completed || return 1
    wait_status "$b" completed || return 1
    ck "B ran" fake_started "$m-b" || return 1
}

# wide_counts: "BLOCKED QUEUED RUNNING", the daemon's task counts.
wide_counts() {
    "$BEAT" system --json | jpy "' '.join(str(d['tasks'][k]) for k in ('blocked', 'queued', 'running'))"
}

# A task with 300 dependents (more than the engine releases in the end-of-task transaction
# and in the first batch after it): every one is released, and the one with the highest
# priority starts first although it was created last. maxWorkers 1 and a held agent keep the
# rest queued, so the test only waits for the release, not for 300 agents.
case_wide_fan_out() {
    local m=$(uniq_marker) root p0
    use_home widefan
    mkdir -p -m 700 "$BACKBEAT_HOME"
    printf '{"maxWorkers": 1}\n' >"$BACKBEAT_HOME/config.json"
    root=$(submit -a claude "wide root $m [wait-file=$E2E_DIR/$m.go]") || return 1
    p0=$(python3 - "$BEAT" "$root" "$m" "$E2E_DIR/$m.hold" <<'EOF2'
import json, subprocess, sys
beat, root, m, hold = sys.argv[1:5]
p = subprocess.Popen([beat, "mcp", "start"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def msg(o):
    return (json.dumps(o) + "\n").encode()
out = msg({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
out += msg({"jsonrpc": "2.0", "method": "notifications/initialized"})
for i in range(1, 301):
    args = {"prompt": f"wide {m} {i} [wait-file={hold}]", "agent": "claude",
            "dependsOn": [root], "priority": "P0" if i == 300 else "P2"}
    out += msg({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "DelegateTask", "arguments": args}})
p.stdin.write(out)
p.stdin.flush()
ids = {}
while len(ids) < 301:
    r = json.loads(p.stdout.readline())
    if "id" not in r:
        continue  # a notification
    if r["id"] == 0:
        ids[0] = None
        continue
    res = r["result"]
    if res.get("isError"):
        sys.exit(f"DelegateTask {r['id']}: {res['content'][0]['text']}")
    ids[r["id"]] = res["structuredContent"]["taskId"]
p.stdin.close()
p.wait(timeout=30)
print(ids[300])
EOF2
) || { set_err "creating 300 dependents failed: $p0"; return 1; }
    ck "300 dependents blocked (blocked queued running: $(wide_counts))" \
        wait_for eval '[ "$(wide_counts)" = "300 0 1" ]' || return 1
    touch "$E2E_DIR/$m.go"
    wait_status "$root" completed || return 1
    ck "every dependent released (blocked queued running: $(wide_counts))" \
        wait_for --timeout 30 eval '[ "$(wide_counts)" = "0 299 1" ]' || return 1
    wait_status "$p0" running || return 1
}

run_case "dependency on a running task: blocked, then runs" case_blocked_then_runs
run_case "dependency already completed: runs at once" case_dep_done
run_case "dependency failed: dependents cancelled" case_dep_failed
run_case "dependency cancelled: dependent cancelled" case_dep_cancelled
run_case "diamond A -> B, C -> D" case_diamond
run_case "unknown, duplicate and too many dependencies" case_bad_deps
run_case "dependency completes while the daemon is down" case_restart_dep_done
run_case "a task with 300 dependents releases them all, highest priority first" case_wide_fan_out
finish
