#!/usr/bin/env bash
# Bad input through the CLI: each case checks the exit status (2 invalid input, 3 not found,
# 4 invalid state, 5 daemon unavailable), a message on stderr naming the field, and that
# nothing was half-created (the task count is unchanged).
. "$(dirname "$0")/lib.sh"

UNKNOWN_ID=task-00000000-0000-4000-8000-000000000000

# expect WANT_RC MESSAGE_REGEX ARGS...: run beat ARGS; check the exit status, that stderr
# matches MESSAGE_REGEX (grep -E, case-insensitive), that stdout is empty and that the task
# count did not change.
expect() {
    local want=$1 re=$2 n0 n1
    shift 2
    n0=$(task_total)
    bt "$@"
    n1=$(task_total)
    ck "beat $*: exit $want (got $RC; stderr: $(head -c 300 "$E2E_DIR/last.err"))" [ "$RC" = "$want" ] || return 1
    ck "beat $*: stderr matches /$re/ (got: $(head -c 300 "$E2E_DIR/last.err"))" \
        grep -qiE -- "$re" "$E2E_DIR/last.err" || return 1
    ck "beat $*: nothing on stdout (got: $(head -c 200 "$E2E_DIR/last.out"))" [ ! -s "$E2E_DIR/last.out" ] || return 1
    ck "beat $*: task count unchanged ($n0 -> $n1)" [ -n "$n0" ] && [ "$n0" = "$n1" ] || return 1
}

setup_tasks() {
    DONE_ID=$(submit -a claude "finished") || return 1
    wait_status "$DONE_ID" completed || return 1
    RUNNING_ID=$(submit -a claude "held [wait-file=$E2E_DIR/release]") || return 1
    wait_status "$RUNNING_ID" running || return 1
}

case_run_input() {
    expect 2 '^beat run: priority: .*P0' run -a claude -p P9 "x" || return 1
    expect 2 '^beat run: timeout: .*1000' run -a claude -t 5 "x" || return 1
    expect 2 '^beat run: timeout: ' run -a claude -t 90000000 "x" || return 1
    expect 2 '^beat run: (timeout|-t): ' run -a claude -t soon "x" || return 1
    expect 2 '^beat run: .*--bogus' run -a claude --bogus "x" || return 1
    expect 2 '^beat run: prompt: ' run -a claude "" || return 1
    expect 2 '^beat run: prompt: ' run -a claude || return 1
    expect 2 '^beat run: prompt: .*100000' run -a claude "$(head -c 100001 /dev/zero | tr '\0' a)" || return 1
    expect 2 '^beat run: maxOutputBuffer: .*1024' run -a claude -b 100 "x" || return 1
    expect 2 '^beat run: agent: .*claude' run -a nosuchagent "x" || return 1
    expect 2 '^beat run: workingDirectory: ' run -a claude -w "$E2E_DIR/nowhere" "x" || return 1
    expect 2 '^beat run: workingDirectory: ' run -a claude -w "$E2E_DIR/fake-agent.log" "x" || return 1
    expect 2 '^beat run: dependsOn(\[[0-9]+\])?: ' run -a claude --deps not-a-task-id "x" || return 1
    expect 2 '^beat run: dependsOn: ' run -a claude --deps "$UNKNOWN_ID" "x" || return 1
    expect 2 '^beat run: .*-p' run -p || return 1
    expect 2 '^beat run: agent: .*claude' run "no agent configured" || return 1
}

case_prompt_limit() {
    local n0 id
    n0=$(task_total)
    id=$(submit -a claude "$(head -c 100000 /dev/zero | tr '\0' a)") || return 1
    ck "a 100000-byte prompt is accepted: one task more" [ "$(task_total)" = $((n0 + 1)) ] || return 1
    ck "prompt kept whole" [ "$(tf "$id" prompt | tr -d '\n' | wc -c)" = 100000 ] || return 1
    wait_terminal "$id" || return 1
}

case_read_input() {
    expect 3 'not found|does not exist|no such' status "$UNKNOWN_ID" || return 1
    expect 2 '^beat status: taskId: ' status not-a-task || return 1
    expect 2 '^beat status: status: ' status --status bogus || return 1
    expect 2 '^beat status: limit: ' status --limit 0 || return 1
    expect 2 '^beat status: limit: ' status --limit 1001 || return 1
    expect 2 '^beat status: offset: ' status --offset -1 || return 1
    expect 3 'not found|does not exist|no such' logs "$UNKNOWN_ID" || return 1
    expect 2 '^beat logs: tail: ' logs "$DONE_ID" --tail 0 || return 1
    expect 2 '^beat logs: tail: ' logs "$DONE_ID" --tail 10001 || return 1
    expect 2 '^beat logs: taskId: ' logs || return 1
    expect 3 'not found|does not exist|no such' wait "$UNKNOWN_ID" --timeout 0 || return 1
    expect 2 '^beat wait: timeout(Ms)?: ' wait "$DONE_ID" --timeout 700000 || return 1
    expect 2 '^beat wait: until: ' wait "$DONE_ID" --until never || return 1
}

case_state_errors() {
    expect 3 'not found|does not exist|no such' cancel "$UNKNOWN_ID" || return 1
    expect 2 '^beat cancel: taskId: ' cancel || return 1
    expect 4 'complete|state|ended|cannot' cancel "$DONE_ID" || return 1
    ck "completed task still completed" is_status "$DONE_ID" completed || return 1
    expect 3 'not found|does not exist|no such' retry "$UNKNOWN_ID" || return 1
    expect 4 'running|state|cannot' retry "$RUNNING_ID" || return 1
    ck "running task still running" is_status "$RUNNING_ID" running || return 1
}

case_commands() {
    expect 2 'frobnicate' frobnicate || return 1
    expect 2 '--nope' status --nope || return 1
    expect 2 'nokey' config set nokey 1 || return 1
    expect 2 'maxWorkers' config set maxWorkers abc || return 1
}

case_help() {
    local c
    bt --help
    ck "--help exit 0" [ "$RC" = 0 ] || return 1
    ck "--help lists run" grep -q '^  run ' "$E2E_DIR/last.out" || return 1
    for c in run status logs cancel retry wait system; do
        bt "$c" --help
        ck "$c --help exit 0 (got $RC)" [ "$RC" = 0 ] || return 1
        ck "$c --help shows usage" grep -q "^usage: beat $c" "$E2E_DIR/last.out" || return 1
    done
    bt version
    ck "version exit 0 and a version" [ "$RC" = 0 ] && grep -qE '[0-9]+\.[0-9]+\.[0-9]+' "$E2E_DIR/last.out" || return 1
}

case_daemon_unavailable() {
    local blocker=$E2E_DIR/not-a-dir
    : >"$blocker"
    BACKBEAT_HOME=$blocker/home bt status
    ck "state dir impossible: exit 5 (got $RC: $(err))" [ "$RC" = 5 ] || return 1
    ck "message says the daemon is unavailable ($(err))" grep -qi 'daemon' "$E2E_DIR/last.err" || return 1
}

run_case "setup: a completed and a running task" setup_tasks
run_case "run: invalid input exits 2" case_run_input
run_case "run: prompt of exactly 100000 bytes" case_prompt_limit
run_case "status, logs, wait: invalid input and unknown ids" case_read_input
run_case "cancel and retry: not found and invalid state" case_state_errors
run_case "unknown commands, options and config keys" case_commands
run_case "help and version" case_help
run_case "daemon unavailable exits 5" case_daemon_unavailable
touch "$E2E_DIR/release"
finish
