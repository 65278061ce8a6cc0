#!/usr/bin/env bash
# Schedules and pipelines against the real daemon and the fake agents. "Now" is pinned with
# BACKBEAT_CLOCK_FILE (a file the daemon reads its wall clock from, watching it for jumps), so
# fires happen exactly when a case moves the clock: cron fires, missed fires under each policy
# across a daemon restart, overlap, maxRuns, expiry, pause/resume, cancel with its tasks,
# afterSchedule, one-time fires, the clock going back, pipelines (a failing middle step, a
# delayed step), "exactly once" when the daemon dies right before or right after claiming a
# fire, a real-clock fire within a second of its time, and `beat schedule preview`.
# Each case has its own BACKBEAT_HOME and clock file.
. "$(dirname "$0")/lib.sh"

export CPU_THRESHOLD=100 # agents start whatever the machine's load
export TZDIR=$BEAT_SRC/tests/fixtures/zones/compiled
unset BACKBEAT_SCHED_CRASH BACKBEAT_MISSED_RUN_GRACE_MS

T0=2026-03-11T12:00:00Z

# ---- helpers -----------------------------------------------------------------------------------

# not CMD...: succeeds when CMD fails (for ck, which runs a command, not a shell keyword).
not() {
    ! "$@"
}

# fresh NAME: a new state dir and clock file for this case, the clock at $T0.
fresh() {
    use_home "h-$1"
    CLOCK_DIR=$E2E_DIR/clock-$1
    mkdir -p "$CLOCK_DIR"
    export BACKBEAT_CLOCK_FILE=$CLOCK_DIR/now
    set_clock "$T0"
}

# iso_ms ISO: epoch milliseconds.
iso_ms() {
    echo $(($(date -u -d "$1" +%s) * 1000))
}

# set_clock ISO: moves the daemon's "now" (atomically: the daemon never reads half a file).
set_clock() {
    iso_ms "$1" >"$CLOCK_DIR/now.tmp" && mv "$CLOCK_DIR/now.tmp" "$CLOCK_DIR/now"
}

# sched_new ARGS...: `beat schedule create ARGS` that must succeed; prints the schedule id.
sched_new() {
    local id rc
    id=$("$BEAT" schedule create "$@" 2>"$E2E_DIR/sched.err")
    rc=$?
    if [ "$rc" -ne 0 ] || ! [[ "$id" =~ ^schedule-[0-9a-f-]{36}$ ]]; then
        CASE_ERR="beat schedule create $* -> exit $rc, stdout '$id', stderr '$(head -c 300 "$E2E_DIR/sched.err")'"
        return 1
    fi
    echo "$id"
}

# sget ID: `schedule get ID --history --json`.
sget() {
    "$BEAT" schedule get "$1" --history --history-limit 100 --json 2>/dev/null
}

# sfield ID PATH: one field of the schedule (schedule.PATH).
sfield() {
    sget "$1" | jget "schedule.$2"
}

# hist_count ID STATUS: how many executions have STATUS.
hist_count() {
    sget "$1" | jpy "sum(1 for h in d.get('history', []) if h['status'] == '$2')"
}

# hist_ge ID STATUS N: at least N executions with STATUS.
hist_ge() {
    local n
    n=$(hist_count "$1" "$2")
    [ -n "$n" ] && [ "$n" -ge "$3" ]
}

# wait_hist ID STATUS N [SECONDS]: poll until at least N executions have STATUS.
wait_hist() {
    local t=${4:-15}
    if wait_for --timeout "$t" hist_ge "$1" "$2" "$3"; then
        return 0
    fi
    CASE_ERR="schedule $1: wanted $3 '$2' executions within ${t}s; history: $(sget "$1" | jget history | head -c 600)"
    return 1
}

# latest_task ID: the last task of the newest run.
latest_task() {
    sget "$1" | jpy "[h for h in d['history'] if h.get('taskId')][0]['taskId']"
}

# hist_any ID: the schedule has at least one execution.
hist_any() {
    [ "$(sget "$1" | jpy 'len(d.get("history", []))')" -ge 1 ] 2>/dev/null
}

sfield_is() {
    [ "$(sfield "$1" "$2")" = "$3" ]
}

# wait_sfield ID PATH VALUE [SECONDS]
wait_sfield() {
    local t=${4:-15}
    if wait_for --timeout "$t" sfield_is "$1" "$2" "$3"; then
        return 0
    fi
    CASE_ERR="schedule $1: wanted $2 = '$3', is '$(sfield "$1" "$2")'"
    return 1
}

# ---- cases -------------------------------------------------------------------------------------

case_cron_fires() {
    local m id task
    fresh cron
    m=$(uniq_marker)
    id=$(sched_new "cron $m" --cron "*/5 * * * *" --timezone America/New_York -a claude) || return 1
    ck "nextRunAt is the next 5 minutes (got $(sfield "$id" nextRunAt))" \
        sfield_is "$id" nextRunAt 2026-03-11T12:05:00.000Z || return 1
    ck "nextRunAtLocal in New York" sfield_is "$id" nextRunAtLocal 2026-03-11T08:05:00-04:00 || return 1
    set_clock 2026-03-11T12:04:59Z
    set_clock 2026-03-11T12:05:00Z
    wait_hist "$id" completed 1 || return 1
    task=$(latest_task "$id")
    ck "the fake agent ran the prompt" fake_started "$m" || return 1
    ck "task completed" is_status "$task" completed || return 1
    ck "task got the default timeout (got $(tf "$task" timeout))" [ "$(tf "$task" timeout)" = 1800000 ] || return 1
    ck "runCount 1" sfield_is "$id" runCount 1 || return 1
    ck "next run 12:10" sfield_is "$id" nextRunAt 2026-03-11T12:10:00.000Z || return 1
    ck "exactly one execution" [ "$(sget "$id" | jpy 'len(d["history"])')" = 1 ] || return 1
    bt schedule list
    ck "list shows it" grep -q "$id" "$E2E_DIR/last.out" || return 1
}

case_missed_across_restart() {
    local skip catchup fail once
    fresh missed
    skip=$(sched_new "skip $(uniq_marker)" --cron "*/10 * * * *" -a claude) || return 1
    catchup=$(sched_new "catchup $(uniq_marker)" --cron "*/10 * * * *" --missed-run-policy catchup -a claude) || return 1
    fail=$(sched_new "fail $(uniq_marker)" --cron "*/10 * * * *" --missed-run-policy fail -a claude) || return 1
    once=$(sched_new "once $(uniq_marker)" --at 2026-03-11T12:30:00Z -a claude) || return 1
    bt daemon stop
    ck "daemon stopped" wait_for daemon_down || return 1
    set_clock 2026-03-11T13:05:00Z # 12:10 .. 13:00 passed while it was down
    bt daemon start
    ck "daemon started again (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "skip: six fires recorded missed" [ "$(hist_count "$skip" missed)" = 6 ] || return 1
    ck "skip: nothing ran" [ "$(hist_count "$skip" triggered)$(hist_count "$skip" completed)" = 00 ] || return 1
    ck "skip: still active" sfield_is "$skip" status active || return 1
    ck "skip: next 13:10" sfield_is "$skip" nextRunAt 2026-03-11T13:10:00.000Z || return 1
    wait_hist "$catchup" completed 1 || return 1
    ck "catchup: one run covering six fires ($(sget "$catchup" | jget history.0.covers))" \
        [ "$(sget "$catchup" | jpy 'len(d["history"]) == 1 and len(d["history"][0]["covers"]) == 6')" = true ] || return 1
    ck "fail: six missed" [ "$(hist_count "$fail" missed)" = 6 ] || return 1
    ck "fail: cancelled" sfield_is "$fail" status cancelled || return 1
    ck "fail: says why ($(sfield "$fail" reason))" matches "$(sfield "$fail" reason)" 'missedRunPolicy fail' || return 1
    ck "one-time missed under skip: completed, not run" \
        [ "$(sfield "$once" status)/$(hist_count "$once" missed)" = completed/1 ] || return 1
}

case_overlap() {
    local m id task rel
    fresh overlap
    m=$(uniq_marker)
    rel=$E2E_DIR/release-$m
    id=$(sched_new "hold $m [wait-file=$rel]" --cron "*/5 * * * *" -a claude) || return 1
    set_clock 2026-03-11T12:05:00Z
    wait_hist "$id" triggered 1 || return 1
    task=$(latest_task "$id")
    wait_status "$task" running || return 1
    set_clock 2026-03-11T12:10:00Z
    wait_hist "$id" skipped 1 || return 1
    ck "skip names the running task ($(sget "$id" | jget history.0.errorMessage))" \
        matches "$(sget "$id" | jget history.0.errorMessage)" "$task" || return 1
    touch "$rel"
    wait_hist "$id" completed 1 || return 1
    set_clock 2026-03-11T12:15:00Z
    wait_hist "$id" completed 2 || return 1
    ck "runCount 2 (one skipped)" sfield_is "$id" runCount 2 || return 1
}

case_max_runs_and_expiry() {
    local a b
    fresh maxruns
    a=$(sched_new "twice $(uniq_marker)" --cron "0 * * * *" --max-runs 2 -a claude) || return 1
    b=$(sched_new "until $(uniq_marker)" --cron "0 * * * *" --expires-at 2026-03-11T13:30:00Z -a claude) || return 1
    set_clock 2026-03-11T13:00:00Z
    wait_hist "$a" completed 1 || return 1
    wait_hist "$b" completed 1 || return 1
    ck "b expired after its last fire before expiresAt" sfield_is "$b" status expired || return 1
    ck "expired has no next run" [ -z "$(sfield "$b" nextRunAt)" ] || return 1
    set_clock 2026-03-11T14:00:00Z
    wait_hist "$a" completed 2 || return 1
    ck "a completed after maxRuns" wait_sfield "$a" status completed || return 1
    set_clock 2026-03-11T15:00:00Z
    set_clock 2026-03-11T16:00:00Z
    ck "no third run" [ "$(sget "$a" | jpy 'len(d["history"])')" = 2 ] || return 1
    ck "b ran once" [ "$(sget "$b" | jpy 'len(d["history"])')" = 1 ] || return 1
}

case_pause_resume() {
    local id
    fresh pause
    id=$(sched_new "paused $(uniq_marker)" --cron "0 * * * *" -a claude) || return 1
    bt schedule pause "$id"
    ck "pause exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    ck "paused" sfield_is "$id" status paused || return 1
    bt schedule pause "$id"
    ck "pausing twice is an error (exit $RC)" [ "$RC" = 4 ] || return 1
    ck "says it is not active" grep -q "not active" "$E2E_DIR/last.err" || return 1
    set_clock 2026-03-11T15:30:00Z
    bt schedule resume "$id"
    ck "resume exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    ck "resumed: next is after now, the paused fires are not missed" \
        sfield_is "$id" nextRunAt 2026-03-11T16:00:00.000Z || return 1
    ck "no execution during the pause" [ "$(sget "$id" | jpy 'len(d["history"])')" = 0 ] || return 1
    set_clock 2026-03-11T16:00:00Z
    wait_hist "$id" completed 1 || return 1
}

case_cancel_with_tasks() {
    local m id task
    fresh cancel
    m=$(uniq_marker)
    id=$(sched_new "hold $m [wait-file=$E2E_DIR/never-$m]" --cron "0 * * * *" -a claude) || return 1
    set_clock 2026-03-11T13:00:00Z
    wait_hist "$id" triggered 1 || return 1
    task=$(latest_task "$id")
    wait_status "$task" running || return 1
    bt schedule cancel "$id" no longer needed --cancel-tasks
    ck "cancel exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    ck "names the cancelled task" grep -q "$task" "$E2E_DIR/last.err" || return 1
    wait_status "$task" cancelled || return 1
    ck "schedule cancelled with the reason" \
        [ "$(sfield "$id" status)/$(sfield "$id" reason)" = "cancelled/no longer needed" ] || return 1
    wait_hist "$id" cancelled 1 || return 1
    set_clock 2026-03-11T14:00:00Z
    ck "never fires again" [ "$(sget "$id" | jpy 'len(d["history"])')" = 1 ] || return 1
}

case_after_schedule() {
    local ma mb a b ta tb
    fresh after
    ma=$(uniq_marker)
    mb=$(uniq_marker)
    a=$(sched_new "build $ma [wait-file=$E2E_DIR/rel-$ma]" --cron "0 * * * *" -a claude) || return 1
    b=$(sched_new "deploy $mb" --cron "30 * * * *" --after "$a" -a claude) || return 1
    set_clock 2026-03-11T13:00:00Z
    wait_hist "$a" triggered 1 || return 1
    ta=$(latest_task "$a")
    set_clock 2026-03-11T13:30:00Z
    wait_hist "$b" triggered 1 || return 1
    tb=$(latest_task "$b")
    wait_status "$tb" blocked || return 1
    ck "b's run depends on a's ($(tf "$tb" dependsOn))" [ "$(tf "$tb" dependsOn.0)" = "$ta" ] || return 1
    touch "$E2E_DIR/rel-$ma"
    wait_status "$tb" completed || return 1
    ck "b ran after a" [ "$(fake_order "$ma" "$mb" | tr '\n' ' ')" = "$ma $mb " ] || return 1
}

case_one_time_and_clock_back() {
    local m id c
    fresh onetime
    m=$(uniq_marker)
    id=$(sched_new "deploy $m" --at 2026-03-11T14:30:00+02:00 -a claude) || return 1
    ck "one_time type" sfield_is "$id" scheduleType one_time || return 1
    ck "next run is the given time in UTC" sfield_is "$id" nextRunAt 2026-03-11T12:30:00.000Z || return 1
    set_clock 2026-03-11T12:30:00Z
    wait_hist "$id" completed 1 || return 1
    ck "one-time completed" sfield_is "$id" status completed || return 1
    c=$(sched_new "hourly $(uniq_marker)" --cron "0 * * * *" -a claude) || return 1
    set_clock 2026-03-11T13:00:00Z
    wait_hist "$c" completed 1 || return 1
    set_clock 2026-03-11T12:40:00Z # the clock goes back ...
    ck "next fire moved back to 13:00" wait_sfield "$c" nextRunAt 2026-03-11T13:00:00.000Z || return 1
    set_clock 2026-03-11T13:00:00Z # ... and reaches 13:00 again: not run twice
    ck "13:00 handled again, next 14:00" wait_sfield "$c" nextRunAt 2026-03-11T14:00:00.000Z || return 1
    ck "still one run" [ "$(sget "$c" | jpy 'len(d["history"])')/$(sfield "$c" runCount)" = 1/1 ] || return 1
}

case_pipeline_failing_middle() {
    local m id j t1 t2 t3
    fresh pipefail
    m=$(uniq_marker)
    bt pipeline "lint $m" "test $m [exit=3]" "summarise $m" -a claude --json
    ck "pipeline exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    j=$(out)
    id=$(echo "$j" | jget pipelineId)
    t1=$(echo "$j" | jget taskIds.0)
    t2=$(echo "$j" | jget taskIds.1)
    t3=$(echo "$j" | jget taskIds.2)
    ck "three tasks at once" [ -n "$t3" ] || return 1
    wait_status "$t1" completed || return 1
    wait_status "$t2" failed || return 1
    wait_status "$t3" cancelled || return 1
    ck "the last step never ran" not fake_started "summarise $m" || return 1
    wait_hist "$id" failed 1 || return 1
    ck "the record is a completed one-time pipeline" \
        [ "$(sfield "$id" status)/$(sfield "$id" isPipeline)" = completed/true ] || return 1
}

case_pipeline_delay() {
    local m id t1 at
    fresh pipedelay
    m=$(uniq_marker)
    bt pipeline "first $m" --delay 5m "second $m" -a claude --json
    ck "pipeline exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    id=$(out | jget pipelineId)
    t1=$(out | jget taskIds.0)
    ck "only the first step exists yet" [ "$(out | jpy 'len(d["taskIds"])')" = 1 ] || return 1
    wait_status "$t1" completed || return 1
    # Its clock starts when step 1 completed (at the pinned 12:00).
    at=""
    wait_for sh -c "\"$BEAT\" schedule get $id --history --json | grep -q nextStepAt" || {
        bad "no nextStepAt"
        return 1
    }
    at=$(sget "$id" | jget history.0.nextStepAt)
    ck "step 2 due 5 minutes later (got $at)" [ "$at" = 2026-03-11T12:05:00.000Z ] || return 1
    set_clock 2026-03-11T12:04:00Z
    ck "not before its time" not fake_started "second $m" || return 1
    set_clock 2026-03-11T12:05:00Z
    wait_hist "$id" completed 1 || return 1
    ck "second step ran" fake_started "second $m" || return 1
}

case_scheduled_pipeline_cli() {
    local id
    fresh schedpipe
    bt schedule create --pipeline --step "one $(uniq_marker)" --step "two $(uniq_marker)" \
        --cron "0 9 * * 1-5" --timezone America/New_York -a claude
    ck "create --pipeline exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    id=$(out)
    ck "isPipeline with 2 steps" [ "$(sfield "$id" isPipeline)/$(sget "$id" | jpy 'len(d["schedule"]["pipelineSteps"])')" = true/2 ] || return 1
    ck "next: 09:00 New York today (08:00 there now)" sfield_is "$id" nextRunAt 2026-03-11T13:00:00.000Z || return 1
    set_clock 2026-03-11T13:00:00Z
    wait_hist "$id" completed 1 || return 1
    ck "both steps ran" [ "$(sget "$id" | jpy 'len(d["history"][0]["taskIds"])')" = 2 ] || return 1
    bt schedule create --step "x" --cron "0 9 * * *" -a claude
    ck "--step without --pipeline is refused (exit $RC)" [ "$RC" = 2 ] || return 1
}

# The daemon dies right after a fire's transaction commits: after a restart that fire's run
# goes on, and the fire does not run again.
case_exactly_once_after_claim() {
    local m id n
    fresh crash1
    m=$(uniq_marker)
    BACKBEAT_SCHED_CRASH=after-claim "$BEAT" daemon start >/dev/null 2>&1 || { bad "daemon start"; return 1; }
    id=$(sched_new "crash $m" --cron "*/5 * * * *" -a claude) || return 1
    set_clock 2026-03-11T12:05:00Z
    ck "the daemon died after claiming" wait_for daemon_down || return 1
    bt daemon start
    ck "restarted ($(err))" [ "$RC" = 0 ] || return 1
    wait_hist "$id" completed 1 || return 1
    n=$(sget "$id" | jpy 'len(d["history"])')
    ck "exactly one execution (got $n)" [ "$n" = 1 ] || return 1
    ck "the agent ran once" [ "$(grep -c "crash $m" "$FAKE_AGENT_LOG")" = 1 ] || return 1
    ck "one task in all" [ "$(task_total)" = 1 ] || return 1
}

# The daemon dies inside the fire's transaction: nothing of it was kept, so after a restart
# the fire (still within its grace) runs, once.
case_exactly_once_before_commit() {
    local m id
    fresh crash2
    m=$(uniq_marker)
    BACKBEAT_SCHED_CRASH=before-commit "$BEAT" daemon start >/dev/null 2>&1 || { bad "daemon start"; return 1; }
    id=$(sched_new "crash $m" --cron "*/5 * * * *" -a claude) || return 1
    set_clock 2026-03-11T12:05:00Z
    ck "the daemon died before committing" wait_for daemon_down || return 1
    if command -v sqlite3 >/dev/null; then
        ck "nothing was kept" [ "$(sqlite3 "$BACKBEAT_HOME/backbeat.db" 'SELECT COUNT(*) FROM schedule_executions')" = 0 ] || return 1
    fi
    bt daemon start
    wait_hist "$id" completed 1 || return 1
    ck "exactly one execution" [ "$(sget "$id" | jpy 'len(d["history"])')" = 1 ] || return 1
    ck "one task in all" [ "$(task_total)" = 1 ] || return 1
}

# The real clock: a one-time fire 2 s ahead starts within a second of its time.
case_real_clock_fire() {
    local id at lateness
    use_home h-realclock
    unset BACKBEAT_CLOCK_FILE
    "$BEAT" daemon start >/dev/null 2>&1 || { bad "daemon start"; return 1; }
    at=$(date -u -d "@$(($(date +%s) + 2))" +%Y-%m-%dT%H:%M:%SZ)
    id=$(sched_new "real $(uniq_marker)" --at "$at" -a claude) || return 1
    ck "it fired" wait_for --timeout 6 hist_any "$id" || return 1
    lateness=$(sget "$id" | jpy '__import__("datetime").datetime.fromisoformat(d["history"][0]["executedAt"].replace("Z","+00:00")).timestamp() * 1000 - __import__("datetime").datetime.fromisoformat(d["history"][0]["scheduledFor"].replace("Z","+00:00")).timestamp() * 1000')
    ck "fired within 1 s of its time (late by $lateness ms)" \
        [ "$(echo "$lateness" | jpy '0 <= d < 1000')" = true ] || return 1
}

case_preview_and_errors() {
    fresh preview
    bt schedule preview "0 9 * * 1-5" --timezone America/New_York --from 2026-03-06T15:00:00Z --count 3
    ck "preview exit 0 ($(err))" [ "$RC" = 0 ] || return 1
    ck "Monday after the DST change, 09:00 EDT" grep -q "Mon 2026-03-09T09:00:00-04:00   2026-03-09T13:00:00.000Z" "$E2E_DIR/last.out" || return 1
    ck "three lines" [ "$(grep -c '^  ' "$E2E_DIR/last.out")" = 3 ] || return 1
    bt schedule preview 30 2 8 3 '*' --timezone America/New_York --from 2026-01-01T00:00:00Z --count 1 --json
    ck "spring-forward gap fires at 03:30 ($(out | jget fires.0.local))" \
        [ "$(out | jget fires.0.local)" = 2026-03-08T03:30:00-04:00 ] || return 1
    bt schedule preview "* 24 * * *"
    ck "bad hour: exit 2 ($RC)" [ "$RC" = 2 ] || return 1
    ck "names the field ($(err))" grep -q "cronExpression: field 2 (hour)" "$E2E_DIR/last.err" || return 1
    bt schedule preview "@reboot"
    ck "@reboot refused" [ "$RC" = 2 ] || return 1
    bt schedule preview "0 9 * * *" --timezone Mars/Base
    ck "unknown zone refused ($(err))" grep -q "timezone:" "$E2E_DIR/last.err" || return 1
    bt schedule create x --cron "0 9 * * *" --timezone Mars/Base -a claude
    ck "create with an unknown zone: exit 2 ($RC)" [ "$RC" = 2 ] || return 1
    bt schedule create x --at 2026-03-11T11:00:00Z -a claude
    ck "past --at refused ($(err))" grep -q "must be in the future" "$E2E_DIR/last.err" || return 1
    bt schedule get schedule-00000000-0000-4000-8000-000000000000
    ck "unknown schedule: exit 3 ($RC)" [ "$RC" = 3 ] || return 1
    bt schedule
    ck "no subcommand: usage, exit 2" [ "$RC" = 2 ] || return 1
}

run_case cron_fires case_cron_fires
run_case missed_across_restart case_missed_across_restart
run_case overlap case_overlap
run_case max_runs_and_expiry case_max_runs_and_expiry
run_case pause_resume case_pause_resume
run_case cancel_with_tasks case_cancel_with_tasks
run_case after_schedule case_after_schedule
run_case one_time_and_clock_back case_one_time_and_clock_back
run_case pipeline_failing_middle case_pipeline_failing_middle
run_case pipeline_delay case_pipeline_delay
run_case scheduled_pipeline_cli case_scheduled_pipeline_cli
run_case exactly_once_after_claim case_exactly_once_after_claim
run_case exactly_once_before_commit case_exactly_once_before_commit
run_case real_clock_fire case_real_clock_fire
run_case preview_and_errors case_preview_and_errors
finish
