#!/usr/bin/env bash
# The daemon's life: autostart, one daemon per state dir under concurrent starts, file modes,
# agents that outlive `daemon stop` and SIGKILL and are re-adopted, agents that end while the
# daemon is down, stop --kill-tasks, SIGTERM, queued tasks across a restart, the foreground
# daemon, and the submitting client's environment reaching the agent.
. "$(dirname "$0")/lib.sh"

export PROCESS_KILL_GRACE_PERIOD_MS=1000

# daemon_procs HOME: pids of `beat daemon` processes (this binary) serving HOME.
daemon_procs() {
    local home=$1 p cmd
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$BEAT" ] || continue
        pid_alive "$p" || continue
        cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)
        case "$cmd" in
            *__supervise*) continue ;;
            *"daemon "*) ;;
            *) continue ;;
        esac
        case "$cmd" in
            *" start "* | *" stop "* | *" status "* | *" restart "*) continue ;;
        esac
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "BACKBEAT_HOME=$home" || continue
        echo "$p"
    done
}

one_daemon() {
    [ "$(daemon_procs "$BACKBEAT_HOME" | wc -l)" = 1 ]
}

case_autostart() {
    ck "no daemon before the first command" daemon_down || return 1
    bt daemon status
    ck "daemon status does not start one" daemon_down || return 1
    ck "daemon status when stopped says so ($(out)$(err))" grep -qi "not running" "$E2E_DIR/last.out" "$E2E_DIR/last.err" || return 1
    bt status
    ck "first command exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "the command started the daemon" daemon_up || return 1
    bt daemon status
    ck "daemon status exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
    ck "daemon status says running" grep -qi running "$E2E_DIR/last.out" || return 1
    bt daemon status --json
    ck "daemon status --json is JSON" is_json "$E2E_DIR/last.out" || return 1
    ck "daemon status pid is the lock's ($(out | jget daemon.pid) vs $(daemon_pid))" \
        [ "$(out | jget daemon.pid)" = "$(daemon_pid)" ] || return 1
    ck "one daemon process" one_daemon || return 1
}

case_modes() {
    ck "home is 0700 (got $(stat -c %a "$BACKBEAT_HOME"))" [ "$(stat -c %a "$BACKBEAT_HOME")" = 700 ] || return 1
    ck "daemon.sock is a socket" [ -S "$BACKBEAT_HOME/daemon.sock" ] || return 1
    ck "daemon.sock is 0600 (got $(stat -c %a "$BACKBEAT_HOME/daemon.sock"))" \
        [ "$(stat -c %a "$BACKBEAT_HOME/daemon.sock")" = 600 ] || return 1
    ck "daemon.lock holds the pid" [ -n "$(daemon_pid)" ] || return 1
    ck "daemon.log exists and has lines" [ -s "$BACKBEAT_HOME/daemon.log" ] || return 1
}

case_concurrent_start() {
    local pids=() i rc=0 p lockpid
    use_home conc
    for i in 1 2 3 4 5; do
        "$BEAT" daemon start >"$E2E_DIR/conc.$i.out" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || rc=$?
        ck "daemon start exit 0 (got $rc: $(cat "$E2E_DIR"/conc.*.out | head -c 400))" [ "$rc" = 0 ] || return 1
    done
    ck "exactly one daemon (got: $(daemon_procs "$BACKBEAT_HOME" | tr '\n' ' '))" wait_for --timeout 5 one_daemon || return 1
    lockpid=$(daemon_pid)
    ck "daemon.lock pid is the daemon ($lockpid vs $(daemon_procs "$BACKBEAT_HOME"))" \
        [ "$lockpid" = "$(daemon_procs "$BACKBEAT_HOME")" ] || return 1
    bt system --json
    ck "the daemon answers with that pid" [ "$(out | jget daemon.pid)" = "$lockpid" ] || return 1
    bt daemon start
    ck "a sixth start is fine (exit $RC)" [ "$RC" = 0 ] || return 1
    ck "still one daemon" one_daemon || return 1
    ck "same pid" [ "$(daemon_pid)" = "$lockpid" ] || return 1
}

# held_task MARKER DIRECTIVES: submit a task that prints two lines and holds on a wait-file
# named after MARKER; waits until its agent runs. Sets HELD_ID.
held_task() {
    local m=$1 extra=$2
    HELD_ID=$(submit -a claude "held $m [lines=2] [wait-file=$E2E_DIR/$m.go] [lines=1] $extra") || return 1
    wait_status "$HELD_ID" running || return 1
    ck "the agent of $HELD_ID started" wait_for fake_started "$m" || return 1
}

case_stop_readopt() {
    local m id pid dpid
    m=$(uniq_marker)
    held_task "$m" "[result=done-$m]" || return 1
    id=$HELD_ID
    pid=$(fake_rec "$m" pid)
    ck "status pid is the agent ($(tf "$id" pid) vs $pid)" [ "$(tf "$id" pid)" = "$pid" ] || return 1
    dpid=$(daemon_pid)
    bt daemon stop
    ck "daemon stop exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "daemon $dpid exited" wait_for --timeout 10 pid_dead "$dpid" || return 1
    ck "no socket left after stop" [ ! -e "$BACKBEAT_HOME/daemon.sock" ] || return 1
    ck "agent $pid still alive without the daemon" pid_alive "$pid" || return 1
    bt daemon start
    ck "daemon start exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "a new daemon" [ -n "$(daemon_pid)" ] && [ "$(daemon_pid)" != "$dpid" ] || return 1
    ck "task re-adopted as running (is $(tstatus "$id"))" is_status "$id" running || return 1
    ck "same agent pid after restart" [ "$(tf "$id" pid)" = "$pid" ] || return 1
    touch "$E2E_DIR/$m.go"
    wait_status "$id" completed || return 1
    ck "exitCode 0" [ "$(tf "$id" exitCode)" = 0 ] || return 1
    ck "result from after the restart (got $(tf "$id" result))" [ "$(tf "$id" result)" = "done-$m" ] || return 1
    bt logs "$id"
    ck "full output: lines before and after the restart" \
        [ "$(grep -c '"text":"line [12]"' "$E2E_DIR/last.out")" -ge 3 ] && grep -q "done-$m" "$E2E_DIR/last.out" || return 1
}

case_sigkill_readopt() {
    local m id pid dpid
    m=$(uniq_marker)
    held_task "$m" "[result=late-$m] [exit=6]" || return 1
    id=$HELD_ID
    pid=$(fake_rec "$m" pid)
    dpid=$(daemon_pid)
    kill -KILL "$dpid"
    ck "daemon $dpid killed" wait_for --timeout 10 pid_dead "$dpid" || return 1
    ck "agent $pid survived SIGKILL of the daemon" pid_alive "$pid" || return 1
    bt daemon start
    ck "daemon start after SIGKILL exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "task re-adopted as running (is $(tstatus "$id"))" is_status "$id" running || return 1
    touch "$E2E_DIR/$m.go"
    wait_status "$id" failed || return 1
    ck "real exit code 6 (got $(tf "$id" exitCode))" [ "$(tf "$id" exitCode)" = 6 ] || return 1
    ck "endReason exited (got $(tf "$id" endReason))" [ "$(tf "$id" endReason)" = exited ] || return 1
    bt logs "$id"
    ck "full output kept" grep -q '"text":"line 2"' "$E2E_DIR/last.out" && grep -q "late-$m" "$E2E_DIR/last.out" || return 1
}

case_ends_while_down() {
    local m id pid dpid
    m=$(uniq_marker)
    held_task "$m" "[exit=5]" || return 1
    id=$HELD_ID
    pid=$(fake_rec "$m" pid)
    dpid=$(daemon_pid)
    kill -KILL "$dpid"
    ck "daemon killed" wait_for --timeout 10 pid_dead "$dpid" || return 1
    touch "$E2E_DIR/$m.go"
    ck "agent $pid ended while the daemon was down" wait_for --timeout 10 pid_dead "$pid" || return 1
    ck "its supervisor recorded the end" wait_for --timeout 10 \
        test -f "$BACKBEAT_HOME/output/$id/exit.json" || return 1
    local restart_ms completed_ms
    restart_ms=$(now_ms)
    bt daemon start
    ck "daemon start exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    wait_terminal "$id" || return 1
    ck "recorded failed with exitCode 5 (got $(tstatus "$id")/$(tf "$id" exitCode))" \
        [ "$(tstatus "$id")/$(tf "$id" exitCode)" = failed/5 ] || return 1
    completed_ms=$(tf "$id" completedAt)
    ck "completedAt is when it ended, before the restart ($completed_ms <= $restart_ms)" \
        [ "${completed_ms:-0}" -gt 0 ] && [ "$completed_ms" -le "$restart_ms" ] || return 1
    bt logs "$id"
    ck "its output was kept" grep -q '"text":"line 2"' "$E2E_DIR/last.out" || return 1
}

case_stop_kill_tasks() {
    local m id pid dpid
    m=$(uniq_marker)
    held_task "$m" "" || return 1
    id=$HELD_ID
    pid=$(fake_rec "$m" pid)
    dpid=$(daemon_pid)
    bt daemon stop --kill-tasks
    ck "daemon stop --kill-tasks exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "agent $pid stopped" wait_for --timeout 10 pid_dead "$pid" || return 1
    ck "daemon exited" wait_for --timeout 10 pid_dead "$dpid" || return 1
    ck "task recorded cancelled (is $(tstatus "$id"))" is_status "$id" cancelled || return 1
}

case_sigterm() {
    local dpid
    bt status
    dpid=$(daemon_pid)
    ck "daemon running" [ -n "$dpid" ] || return 1
    kill -TERM "$dpid"
    ck "daemon exits on SIGTERM" wait_for --timeout 10 pid_dead "$dpid" || return 1
    ck "no socket left" [ ! -e "$BACKBEAT_HOME/daemon.sock" ] || return 1
    ck "daemon.log records the stop" [ "$(wc -l <"$BACKBEAT_HOME/daemon.log")" -ge 2 ] || return 1
    bt status
    ck "next command works again (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
}

case_queued_survive() {
    local go=$E2E_DIR/queue.go blk a b dpid
    use_home queue
    export MAX_WORKERS=1
    blk=$(submit -a claude "queue blocker [wait-file=$go]") || { unset MAX_WORKERS; return 1; }
    wait_status "$blk" running || { unset MAX_WORKERS; return 1; }
    a=$(submit -a claude -p P1 "queued a") || { unset MAX_WORKERS; return 1; }
    b=$(submit -a claude "queued b") || { unset MAX_WORKERS; return 1; }
    dpid=$(daemon_pid)
    bt daemon restart
    unset MAX_WORKERS
    ck "daemon restart exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "a new daemon after restart" [ -n "$(daemon_pid)" ] && [ "$(daemon_pid)" != "$dpid" ] || return 1
    ck "queued task a still queued (is $(tstatus "$a"))" is_status "$a" queued || return 1
    ck "queued task b still queued (is $(tstatus "$b"))" is_status "$b" queued || return 1
    ck "blocker still running" is_status "$blk" running || return 1
    touch "$go"
    wait_status "$blk" completed || return 1
    wait_status "$a" completed || return 1
    wait_status "$b" completed || return 1
}

case_foreground_daemon() {
    local fg rc
    use_home fg
    "$BEAT" daemon >"$E2E_DIR/fg.out" 2>&1 &
    fg=$!
    ck "foreground daemon serves" wait_for --timeout 10 daemon_up || return 1
    ck "it is the process we started ($fg vs $(daemon_pid))" [ "$(daemon_pid)" = "$fg" ] || return 1
    timeout 10 "$BEAT" daemon >"$E2E_DIR/fg2.out" 2>&1
    rc=$?
    ck "a second foreground daemon refuses to run (exit $rc: $(head -c 200 "$E2E_DIR/fg2.out"))" \
        [ "$rc" != 0 ] && [ "$rc" != 124 ] || return 1
    ck "the first one still serves" [ "$(daemon_pid)" = "$fg" ] || return 1
    kill -TERM "$fg"
    wait "$fg"
    rc=$?
    ck "SIGTERM: foreground daemon exits 0 (got $rc)" [ "$rc" = 0 ] || return 1
    ck "no socket left" [ ! -e "$BACKBEAT_HOME/daemon.sock" ] || return 1
}

case_client_env() {
    local m id
    use_home envh
    FAKE_E2E_MARKER=from-daemon bt daemon start
    ck "daemon start (exit $RC)" [ "$RC" = 0 ] || return 1
    m=$(uniq_marker)
    id=$(FAKE_E2E_MARKER=xyz FAKE_E2E_CLIENT_ONLY=yes submit -a claude "env $m") || return 1
    wait_status "$id" completed || return 1
    ck "agent sees the client's FAKE_E2E_MARKER=xyz (got '$(fake_rec "$m" env.FAKE_E2E_MARKER)')" \
        [ "$(fake_rec "$m" env.FAKE_E2E_MARKER)" = xyz ] || return 1
    ck "agent sees a variable only the client has" [ "$(fake_rec "$m" env.FAKE_E2E_CLIENT_ONLY)" = yes ] || return 1
    ck "agent runs with BACKBEAT_WORKER" [ "$(fake_rec "$m" env.BACKBEAT_WORKER)" = true ] || return 1
}

# An MCP client (the relay) stays connected while the user stops or restarts the daemon: the
# command must do what it says, promptly, and report the truth.
case_stop_with_relay() {
    local relay i t0 ms old
    use_home relay
    mkfifo "$E2E_DIR/relay.in"
    "$BEAT" mcp start <"$E2E_DIR/relay.in" >"$E2E_DIR/relay.out" 2>"$E2E_DIR/relay.err" &
    relay=$!
    exec 7>"$E2E_DIR/relay.in"
    printf '%s\n' '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}' >&7
    ck "relay answers initialize" wait_for --timeout 10 file_has "$E2E_DIR/relay.out" '"id":0' || { exec 7>&-; return 1; }
    for i in 1 2 3; do
        ck "daemon up before stop $i" wait_for --timeout 10 daemon_up || { exec 7>&-; return 1; }
        old=$(daemon_pid)
        t0=$(now_ms)
        timeout 8 "$BEAT" daemon stop >"$E2E_DIR/last.out" 2>"$E2E_DIR/last.err"
        RC=$?
        ms=$(($(now_ms) - t0))
        ck "daemon stop $i with a relay attached: exit 0 within 5 s (exit $RC after $ms ms: $(err))" \
            [ "$RC" = 0 ] && [ "$ms" -lt 5000 ] || { exec 7>&-; return 1; }
        ck "daemon $old gone" wait_for --timeout 5 pid_dead "$old" || { exec 7>&-; return 1; }
        bt daemon start
    done
    old=$(daemon_pid)
    t0=$(now_ms)
    timeout 8 "$BEAT" daemon restart >"$E2E_DIR/last.out" 2>"$E2E_DIR/last.err"
    RC=$?
    ms=$(($(now_ms) - t0))
    ck "daemon restart with a relay attached: exit 0 within 5 s (exit $RC after $ms ms: $(err))" \
        [ "$RC" = 0 ] && [ "$ms" -lt 5000 ] || { exec 7>&-; return 1; }
    ck "a new daemon after restart" [ -n "$(daemon_pid)" ] && [ "$(daemon_pid)" != "$old" ] || { exec 7>&-; return 1; }
    printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}' >&7
    ck "the relay still serves after the restart" wait_for --timeout 10 file_has "$E2E_DIR/relay.out" '"id":1,"result"' || { exec 7>&-; return 1; }
    exec 7>&-
    wait "$relay"
    i=$?
    ck "relay exits 0 on stdin EOF (got $i)" [ "$i" = 0 ] || return 1
}

case_log() {
    ck "daemon.log has lines" [ "$(wc -l <"$BACKBEAT_HOME/daemon.log")" -ge 3 ] || return 1
    ck "daemon.log names task events" grep -q "task-" "$BACKBEAT_HOME/daemon.log" || return 1
}

run_case "autostart and daemon status" case_autostart
run_case "state dir, socket and lock" case_modes
run_case "5 concurrent daemon starts give one daemon" case_concurrent_start
run_case "daemon stop leaves the agent; restart re-adopts it" case_stop_readopt
run_case "SIGKILL of the daemon; restart re-adopts the agent" case_sigkill_readopt
run_case "agent that ends while the daemon is down" case_ends_while_down
run_case "daemon stop --kill-tasks cancels" case_stop_kill_tasks
run_case "SIGTERM stops the daemon cleanly" case_sigterm
run_case "queued tasks survive daemon restart" case_queued_survive
run_case "foreground daemon" case_foreground_daemon
run_case "agent gets the submitting client's environment" case_client_env
run_case "daemon stop and restart with an MCP relay attached" case_stop_with_relay
run_case "daemon.log" case_log
finish
