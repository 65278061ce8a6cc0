#!/usr/bin/env bash
# The everyday CLI against the real daemon and the fake agents: run, status, logs, list, --json,
# priorities, failures, timeouts, cancel (with a SIGTERM-ignoring agent and a child process),
# retry, a missing agent CLI, working directories, huge and binary output.
. "$(dirname "$0")/lib.sh"

export PROCESS_KILL_GRACE_PERIOD_MS=1000

case_complete() {
    local m id j
    m=$(uniq_marker)
    id=$(submit -a claude "basic $m [lines=3]") || return 1
    BASIC_ID=$id
    wait_status "$id" completed || return 1
    j=$(tjson "$id")
    ck "exitCode 0 (got $(echo "$j" | jget exitCode))" [ "$(echo "$j" | jget exitCode)" = 0 ] || return 1
    ck "endReason exited (got $(echo "$j" | jget endReason))" \
        [ "$(echo "$j" | jget endReason)" = exited ] || return 1
    ck "sessionId present" [ -n "$(echo "$j" | jget sessionId)" ] || return 1
    ck "sessionId is a UUID ($(echo "$j" | jget sessionId))" \
        matches "$(echo "$j" | jget sessionId)" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' || return 1
    ck "result text (got '$(echo "$j" | jget result)')" \
        [ "$(echo "$j" | jget result)" = "Hello from fake claude." ] || return 1
    ck "agent claude" [ "$(echo "$j" | jget agent)" = claude ] || return 1
    ck "priority P2 by default" [ "$(echo "$j" | jget priority)" = P2 ] || return 1
    ck "prompt kept" [ "$(echo "$j" | jget prompt)" = "basic $m [lines=3]" ] || return 1
    ck "workingDirectory is the cwd (got $(echo "$j" | jget workingDirectory))" \
        [ "$(echo "$j" | jget workingDirectory)" = "$WORK" ] || return 1
    ck "usage tokens 12/8 (got $(echo "$j" | jget usage))" \
        [ "$(echo "$j" | jget usage.inputTokens)/$(echo "$j" | jget usage.outputTokens)" = 12/8 ] || return 1
    ck "costUsd > 0" [ "$(echo "$j" | jpy 'd["usage"]["costUsd"] > 0')" = true ] || return 1
    ck "createdAt <= startedAt <= completedAt" [ "$(echo "$j" | jpy \
        'd["createdAt"] <= d["startedAt"] <= d["completedAt"] and d["duration"] >= 0')" = true ] || return 1
    ck "fake agent ran in the cwd" [ "$(fake_rec "$m" cwd)" = "$WORK" ] || return 1
    ck "fake agent got BACKBEAT_TASK_ID" [ "$(fake_rec "$m" env.BACKBEAT_TASK_ID)" = "$id" ] || return 1
    bt status "$id"
    ck "status ID exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    ck "human status names the state" grep -q completed "$E2E_DIR/last.out" || return 1
}

case_logs() {
    local id=${BASIC_ID:-} j
    [ -n "$id" ] || { bad "needs the completed task"; return 1; }
    bt logs "$id"
    ck "logs exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    for n in 1 2 3; do
        ck "logs has 'line $n'" grep -q "line $n" "$E2E_DIR/last.out" || return 1
    done
    ck "logs has the result" grep -q "Hello from fake claude." "$E2E_DIR/last.out" || return 1
    bt logs "$id" --json
    ck "logs --json exit 0" [ "$RC" = 0 ] || return 1
    ck "logs --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    j=$(out)
    ck "lineCount.output >= 3 (got $(echo "$j" | jget lineCount))" \
        [ "$(echo "$j" | jpy 'd["lineCount"]["output"] >= 3')" = true ] || return 1
    ck "output has line 3" [ "$(echo "$j" | jpy '"line 3" in d["output"]')" = true ] || return 1
    ck "errors empty" [ "$(echo "$j" | jpy 'd["errors"] == "" and d["lineCount"]["errors"] == 0')" = true ] || return 1
    ck "logs status completed" [ "$(echo "$j" | jget status)" = completed ] || return 1
    bt logs "$id" --tail 1 --json
    j=$(out)
    ck "--tail 1 gives one line (got $(echo "$j" | jget output | wc -l))" \
        [ "$(echo "$j" | jpy 'len(d["output"].rstrip("\n").split("\n"))')" = 1 ] || return 1
    ck "--tail 1 is the last line" [ "$(echo "$j" | jpy '"Hello from fake claude." in d["output"] and "line 1" not in d["output"]')" = true ] || return 1
}

case_list() {
    local id=${BASIC_ID:-} c
    [ -n "$id" ] || { bad "needs the completed task"; return 1; }
    for c in list ls status; do
        bt "$c"
        ck "$c exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
        ck "$c shows the task" grep -q "$id" "$E2E_DIR/last.out" || return 1
    done
    bt status --json
    ck "status --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    ck "status --json lists the task with total" [ "$(out | jpy \
        "any(t['taskId'] == '$id' for t in d['tasks']) and d['total'] >= 1")" = true ] || return 1
    bt status --status completed --json
    ck "--status completed filters" [ "$(out | jpy \
        'len(d["tasks"]) >= 1 and all(t["status"] == "completed" for t in d["tasks"])')" = true ] || return 1
    bt status --status failed --json
    ck "--status failed lists no completed task" [ "$(out | jpy \
        'all(t["status"] == "failed" for t in d["tasks"])')" = true ] || return 1
    submit -a claude "second for paging" >/dev/null || return 1
    bt status --limit 1 --json
    ck "--limit 1 gives one task (total >= 2)" [ "$(out | jpy \
        'len(d["tasks"]) == 1 and d["total"] >= 2')" = true ] || return 1
    local first second
    first=$(out | jget tasks.0.taskId)
    bt status --limit 1 --offset 1 --json
    second=$(out | jget tasks.0.taskId)
    ck "--offset 1 pages on ($first vs $second)" [ -n "$second" ] && [ "$first" != "$second" ] || return 1
}

case_json() {
    local id
    bt run -a claude --json "json output [lines=1]"
    ck "run --json exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    ck "run --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    ck "run --json fields" [ "$(out | jpy \
        'd["success"] is True and d["taskId"].startswith("task-") and d["agent"] == "claude" and d["priority"] == "P2" and d["status"] in ("queued", "running") and d["workingDirectory"] != ""')" = true ] || return 1
    id=$(out | jget taskId)
    bt wait "$id" --json --timeout 20000
    ck "wait --json exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    ck "wait --json: done, one completed task" [ "$(out | jpy \
        'd["done"] is True and d["timedOut"] is False and d["tasks"][0]["status"] == "completed"')" = true ] || return 1
    bt system --json
    ck "system --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    ck "system --json fields" [ "$(out | jpy \
        'd["daemon"]["pid"] > 0 and d["daemon"]["version"] != "" and d["daemon"]["home"] != "" and d["daemon"]["uptimeMs"] >= 0 and d["pool"]["capacity"] >= 1 and set(d["pool"]["queued"]) >= {"P0","P1","P2"} and d["tasks"]["completed"] >= 1')" = true ] || return 1
    ck "system daemon.home is BACKBEAT_HOME" [ "$(out | jget daemon.home)" = "$BACKBEAT_HOME" ] || return 1
    bt status "$id" --json
    ck "status ID --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    ck "status ID --json has the id at top level" [ "$(out | jget taskId)" = "$id" ] || return 1
}

case_wait() {
    local m=$(uniq_marker) a b
    a=$(submit -a claude "wait held $m [wait-file=$E2E_DIR/$m.go]") || return 1
    b=$(submit -a claude "wait other $m") || return 1
    bt wait "$a" --until running --timeout 20000 --json
    ck "wait --until running exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "wait --until running returns a running task ($(out | jget tasks.0.status))" [ "$(out | jpy \
        'd["done"] is True and d["tasks"][0]["status"] == "running"')" = true ] || return 1
    bt wait "$a" --timeout 100 --json
    ck "wait --timeout 100 on a held task times out (got $(out | head -c 200))" [ "$(out | jpy \
        'd["done"] is False and d["timedOut"] is True and d["tasks"][0]["status"] == "running"')" = true ] || return 1
    touch "$E2E_DIR/$m.go"
    bt wait --tasks "$a,$b" --timeout 20000 --json
    ck "wait --tasks a,b exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "wait --tasks: both completed" [ "$(out | jpy \
        'd["done"] is True and sorted(t["status"] for t in d["tasks"]) == ["completed", "completed"]')" = true ] || return 1
}

case_priorities() {
    local go=$E2E_DIR/prio.go blk m a b c d ids=() id order
    use_home prio
    export MAX_WORKERS=1
    blk=$(submit -a claude "prio blocker [wait-file=$go]") || { unset MAX_WORKERS; return 1; }
    unset MAX_WORKERS
    bt system --json
    ck "MAX_WORKERS=1 gives capacity 1 (got $(out | jget pool.capacity))" \
        [ "$(out | jget pool.capacity)" = 1 ] || return 1
    wait_status "$blk" running || return 1
    m=$(uniq_marker)
    a=$(submit -a claude -p P2 "prio ${m}a") || return 1
    b=$(submit -a claude -p P2 "prio ${m}b") || return 1
    c=$(submit -a claude -p P0 "prio ${m}c") || return 1
    d=$(submit -a claude --priority P1 "prio ${m}d") || return 1
    for id in $a $b $c $d; do
        ck "$id queued behind the blocker (is $(tstatus "$id"))" is_status "$id" queued || return 1
    done
    bt system --json
    ck "queued counts P0 1, P1 1, P2 2 (got $(out | jget pool.queued))" [ "$(out | jpy \
        'd["pool"]["queued"] == {"P0": 1, "P1": 1, "P2": 2}')" = true ] || return 1
    touch "$go"
    for id in $a $b $c $d; do
        wait_status "$id" completed 20 || return 1
    done
    order=$(fake_order "${m}a" "${m}b" "${m}c" "${m}d" | tr '\n' ' ')
    ck "start order P0, P1, P2, P2 (got: $order)" [ "$order" = "${m}c ${m}d ${m}a ${m}b " ] || return 1
    ck "startedAt order c < d < a < b" [ "$(tf "$c" startedAt) $(tf "$d" startedAt) $(tf "$a" startedAt) $(tf "$b" startedAt)" \
        = "$(printf '%s\n' "$(tf "$c" startedAt)" "$(tf "$d" startedAt)" "$(tf "$a" startedAt)" "$(tf "$b" startedAt)" | sort -n | tr '\n' ' ' | sed 's/ $//')" ] || return 1
    use_home home
}

case_failing_agent() {
    local id
    id=$(submit -a claude "fails [exit=3]") || return 1
    FAILED_ID=$id
    wait_status "$id" failed || return 1
    ck "exitCode 3 (got $(tf "$id" exitCode))" [ "$(tf "$id" exitCode)" = 3 ] || return 1
    ck "endReason exited (got $(tf "$id" endReason))" [ "$(tf "$id" endReason)" = exited ] || return 1
    timeout 30 "$BEAT" run -f -a claude "fails in the foreground [exit=3]" >"$E2E_DIR/last.out" 2>"$E2E_DIR/last.err"
    RC=$?
    ck "run -f exits with the agent's status 3 (got $RC)" [ "$RC" = 3 ] || return 1
}

case_timeout() {
    local id j
    id=$(submit -a claude -t 1000 "times out [sleep=30]") || return 1
    wait_terminal "$id" 15 || return 1
    j=$(tjson "$id")
    ck "timed-out task failed (got $(echo "$j" | jget status))" [ "$(echo "$j" | jget status)" = failed ] || return 1
    ck "endReason timeout (got $(echo "$j" | jget endReason))" [ "$(echo "$j" | jget endReason)" = timeout ] || return 1
    ck "timeout 1000 recorded" [ "$(echo "$j" | jget timeout)" = 1000 ] || return 1
    ck "stopped about 1 s after it started (duration $(echo "$j" | jget duration) ms)" \
        [ "$(echo "$j" | jpy '1000 <= d["duration"] < 10000')" = true ] || return 1
    bt run -a claude -t 2s "timeout with a unit"
    ck "-t 2s accepted (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "-t 2s is 2000 ms" [ "$(tf "$(out)" timeout)" = 2000 ] || return 1
    bt cancel "$(out)"
}

case_cancel_ignore_term() {
    local m id pid t0 ms j
    m=$(uniq_marker)
    id=$(submit -a claude "stubborn $m [ignore-term] [wait-file=$E2E_DIR/never]") || return 1
    wait_status "$id" running || return 1
    ck "the agent started" wait_for fake_started "$m" || return 1
    pid=$(fake_rec "$m" pid)
    ck "agent pid $pid alive" pid_alive "$pid" || return 1
    t0=$(now_ms)
    bt cancel "$id" e2e stop reason
    ms=$(($(now_ms) - t0))
    ck "cancel exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "agent gone when cancel returned (pid $pid)" pid_dead "$pid" || return 1
    ck "cancel waited for the 1 s grace ($ms ms)" [ "$ms" -ge 900 ] || return 1
    ck "cancel took under 8 s ($ms ms)" [ "$ms" -lt 8000 ] || return 1
    j=$(tjson "$id")
    ck "status cancelled (got $(echo "$j" | jget status))" [ "$(echo "$j" | jget status)" = cancelled ] || return 1
    ck "endReason cancelled (got $(echo "$j" | jget endReason))" [ "$(echo "$j" | jget endReason)" = cancelled ] || return 1
    ck "reason recorded (got '$(echo "$j" | jget reason)')" \
        [ "$(echo "$j" | jpy '"e2e stop reason" in (d.get("reason") or "")')" = true ] || return 1
    bt cancel "$id"
    ck "second cancel is an invalid state: exit 4 (got $RC)" [ "$RC" = 4 ] || return 1
}

case_cancel_child() {
    local m id pid child
    m=$(uniq_marker)
    id=$(submit -a claude "parent $m [spawn-child] [wait-file=$E2E_DIR/never]") || return 1
    ck "the agent started" wait_for fake_started "$m" || return 1
    pid=$(fake_rec "$m" pid)
    child=$(fake_rec "$m" child_pid)
    ck "child pid recorded" [ -n "$child" ] || return 1
    ck "child $child alive" pid_alive "$child" || return 1
    bt cancel "$id"
    ck "cancel exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "agent $pid gone" wait_for --timeout 5 pid_dead "$pid" || return 1
    ck "child $child killed with the agent" wait_for --timeout 5 pid_dead "$child" || return 1
    ck "status cancelled" is_status "$id" cancelled || return 1
}

case_retry() {
    local id=${FAILED_ID:-} j new new2
    [ -n "$id" ] || { bad "needs the failed task"; return 1; }
    bt retry "$id" --json
    ck "retry exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "retry --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    j=$(out)
    new=$(echo "$j" | jget newTaskId)
    ck "newTaskId is a new id ($new)" [ -n "$new" ] && [ "$new" != "$id" ] || return 1
    ck "parentTaskId is the failed task" [ "$(echo "$j" | jget parentTaskId)" = "$id" ] || return 1
    ck "retryCount 1 (got $(echo "$j" | jget retryCount))" [ "$(echo "$j" | jget retryCount)" = 1 ] || return 1
    wait_terminal "$new" || return 1
    j=$(tjson "$new")
    ck "retry has retryOf the original" [ "$(echo "$j" | jget retryOf)" = "$id" ] || return 1
    ck "retry keeps the prompt" [ "$(echo "$j" | jget prompt)" = "fails [exit=3]" ] || return 1
    ck "retry ran again and failed with 3" [ "$(echo "$j" | jget status)/$(echo "$j" | jget exitCode)" = failed/3 ] || return 1
    bt retry "$new" --json
    ck "retry of the retry exit 0" [ "$RC" = 0 ] || return 1
    new2=$(out | jget newTaskId)
    ck "second retry: retryCount 2, parent still the root" \
        [ "$(out | jget retryCount)/$(out | jget parentTaskId)" = "2/$id" ] || return 1
    ck "second retry: retryOf the first retry" [ "$(tf "$new2" retryOf)" = "$new" ] || return 1
    wait_terminal "$new2" || return 1
}

case_missing_agent() {
    local nodir=$E2E_DIR/no-codex p d path="" id id2
    mkdir -p "$nodir"
    for p in claude gemini; do
        ln -sf "$FAKE_DIR/$p" "$nodir/$p"
    done
    ln -sf "$E2E_PYTHON" "$nodir/python3"
    # PATH without any directory that has a codex in it.
    IFS=: read -ra dirs <<<"$PATH"
    for d in "${dirs[@]}"; do
        [ -n "$d" ] && [ "$d" != "$FAKE_DIR" ] && [ ! -x "$d/codex" ] && path="$path:$d"
    done
    path="$nodir$path"
    id=$(PATH=$path submit -a codex "no such agent") || return 1
    wait_terminal "$id" || return 1
    ck "task without its agent CLI failed (got $(tstatus "$id"))" is_status "$id" failed || return 1
    ck "reason names codex (got '$(tf "$id" reason)')" [ "$(tf "$id" reason | grep -ci codex)" -ge 1 ] || return 1
    id2=$(submit -a claude "next one still runs") || return 1
    wait_status "$id2" completed || return 1
}

case_workdir() {
    local m id
    mkdir -p "$WORK/sub/dir"
    m=$(uniq_marker)
    id=$(cd "$WORK/sub" && submit -a claude -w dir "relative $m") || return 1
    ck "relative -w resolves against the cwd (got $(tf "$id" workingDirectory))" \
        [ "$(tf "$id" workingDirectory)" = "$WORK/sub/dir" ] || return 1
    wait_status "$id" completed || return 1
    ck "agent ran there (cwd $(fake_rec "$m" cwd))" [ "$(fake_rec "$m" cwd)" = "$WORK/sub/dir" ] || return 1
    id=$(cd "$WORK/sub" && submit -a claude "default dir") || return 1
    ck "default working directory is the client's cwd" [ "$(tf "$id" workingDirectory)" = "$WORK/sub" ] || return 1
    local n0
    n0=$(task_total)
    bt run -a claude -w "$WORK/does-not-exist" "nowhere"
    ck "nonexistent -w exits 2 (got $RC)" [ "$RC" = 2 ] || return 1
    ck "message names workingDirectory ($(err))" grep -qi "workingDirectory\|working-directory" "$E2E_DIR/last.err" || return 1
    ck "no task created" [ "$(task_total)" = "$n0" ] || return 1
}

case_big_output() {
    local dpid rss0 rss1 id j
    dpid=$(daemon_pid)
    ck "daemon running" [ -n "$dpid" ] || return 1
    rss0=$(rss_kb "$dpid")
    id=$(submit -a claude -b 1048576 "big [bytes=20000000]") || return 1
    wait_terminal "$id" 60 || return 1
    rss1=$(rss_kb "$dpid")
    j=$(tjson "$id")
    ck "big output task completed with 0 (got $(echo "$j" | jget status)/$(echo "$j" | jget exitCode))" \
        [ "$(echo "$j" | jget status)/$(echo "$j" | jget exitCode)" = completed/0 ] || return 1
    ck "outputBytes capped at 1 MiB, truncated (got $(echo "$j" | jget outputBytes))" [ "$(echo "$j" | jpy \
        'd["outputBytes"]["truncated"] is True and d["outputBytes"]["stdout"] + d["outputBytes"]["stderr"] <= 1048576')" = true ] || return 1
    bt logs "$id" --json
    ck "logs --json says truncated" [ "$(out | jget truncated)" = true ] || return 1
    local f sz
    for f in "$BACKBEAT_HOME"/output/"$id"*/* "$BACKBEAT_HOME"/output/"$id"*; do
        [ -f "$f" ] || continue
        sz=$(stat -c %s "$f")
        ck "output file $f within the cap ($sz bytes)" [ "$sz" -le $((1048576 + 65536)) ] || return 1
    done
    # Under ASan freed memory sits in its quarantine, so RSS measures the polling around the
    # task, not the daemon; the plain run (and bench_exec.py's 200 MB case) hold the bound.
    if [ -n "${BEAT_SANITIZED:-}" ]; then
        echo "  daemon RSS $rss0 -> $rss1 kB (bound not applied under sanitizers)"
    else
        ck "daemon RSS grew < 8 MB ($rss0 -> $rss1 kB)" [ $((rss1 - rss0)) -lt 8192 ] || return 1
    fi
}

case_binary_output() {
    local id
    id=$(submit -a claude "binary [invalid-utf8] [nul] [lines=1] [stderr=err-line]") || return 1
    wait_status "$id" completed || return 1
    bt logs "$id"
    ck "logs exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    ck "logs shows the text around the bad bytes" grep -qa "bad utf8" "$E2E_DIR/last.out" || return 1
    ck "logs shows the NUL line" grep -qa "nul byte" "$E2E_DIR/last.out" || return 1
    ck "stderr on stderr" grep -q "err-line" "$E2E_DIR/last.err" || return 1
    bt logs "$id" --json
    ck "logs --json exit 0" [ "$RC" = 0 ] || return 1
    ck "logs --json is valid JSON" is_json "$E2E_DIR/last.out" || return 1
    ck "logs --json output holds both lines" [ "$(out | jpy \
        '"bad utf8" in d["output"] and "nul byte" in d["output"] and "line 1" in d["output"] and "err-line" in d["errors"]')" = true ] || return 1
    bt status "$id" --json
    ck "status --json valid" is_json "$E2E_DIR/last.out" || return 1
    bt status --json
    ck "list --json valid" is_json "$E2E_DIR/last.out" || return 1
}

case_default_agent() {
    local m id
    use_home cfg
    bt run "no agent anywhere"
    ck "no agent configured: exit 2 (got $RC)" [ "$RC" = 2 ] || return 1
    ck "message names agent and the installed ones ($(err))" grep -q "agent.*claude" "$E2E_DIR/last.err" || return 1
    m=$(uniq_marker)
    id=$(BACKBEAT_DEFAULT_AGENT=gemini submit "env default $m") || return 1
    ck "BACKBEAT_DEFAULT_AGENT picks gemini (got $(tf "$id" agent))" [ "$(tf "$id" agent)" = gemini ] || return 1
    wait_status "$id" completed || return 1
    ck "fake gemini ran" [ "$(fake_rec "$m" agent)" = gemini ] || return 1
    bt config set defaultAgent codex
    ck "config set defaultAgent exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    git init -q "$WORK/repo" 2>/dev/null || mkdir -p "$WORK/repo/.git"
    m=$(uniq_marker)
    id=$(cd "$WORK/repo" && submit "config default $m") || return 1
    ck "config defaultAgent picks codex (got $(tf "$id" agent))" [ "$(tf "$id" agent)" = codex ] || return 1
    wait_status "$id" completed || return 1
    use_home home
}

case_config_and_mcp() {
    use_home cfg2
    bt config path
    ck "config path is BACKBEAT_HOME/config.json (got $(out))" [ "$RC" = 0 ] && [ "$(out)" = "$BACKBEAT_HOME/config.json" ] || return 1
    bt config keys
    ck "config keys lists maxWorkers and defaultAgent" [ "$RC" = 0 ] && grep -q maxWorkers "$E2E_DIR/last.out" \
        && grep -q defaultAgent "$E2E_DIR/last.out" || return 1
    bt config set timeout 60000
    ck "config set timeout (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    bt config show
    ck "config show has the new timeout" [ "$RC" = 0 ] && grep -E "^timeout +60000" "$E2E_DIR/last.out" >/dev/null || return 1
    local id
    id=$(submit -a claude "config timeout applies") || return 1
    ck "a task without -t gets the configured timeout (got $(tf "$id" timeout))" [ "$(tf "$id" timeout)" = 60000 ] || return 1
    bt config reset timeout
    ck "config reset timeout (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    bt config show
    ck "timeout back to the default" grep -E "^timeout +1800000" "$E2E_DIR/last.out" >/dev/null || return 1
    bt mcp config
    ck "mcp config names this binary and 'mcp start'" [ "$RC" = 0 ] && grep -q "$BEAT" "$E2E_DIR/last.out" \
        && grep -q "mcp" "$E2E_DIR/last.out" || return 1
    bt mcp test
    ck "mcp test exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "mcp test reports the tools" grep -q DelegateTask "$E2E_DIR/last.out" "$E2E_DIR/last.err" || return 1
    wait_terminal "$id" || return 1
}

run_case "run to completion and status fields" case_complete
run_case "logs" case_logs
run_case "list, ls, status table and paging" case_list
run_case "--json outputs" case_json
run_case "wait: until running, timeout, several tasks" case_wait
run_case "priorities P0 > P1 > P2 with one worker" case_priorities
run_case "failing agent" case_failing_agent
run_case "timeout" case_timeout
run_case "cancel an agent that ignores SIGTERM" case_cancel_ignore_term
run_case "cancel kills the agent's child" case_cancel_child
run_case "retry" case_retry
run_case "missing agent CLI" case_missing_agent
run_case "working directories" case_workdir
run_case "big output is capped" case_big_output
run_case "invalid UTF-8 and NUL output" case_binary_output
run_case "default agent" case_default_agent
run_case "config and mcp commands" case_config_and_mcp
finish
