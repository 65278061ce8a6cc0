#!/usr/bin/env bash
# Checkpoints, continuation and resume through the CLI: a continueFrom chain carries context
# forward, resume in session mode continues the agent's own session, prompt mode carries the
# checkpoint, bad resumes are refused, and a checkpoint records a real repository's git state.
. "$(dirname "$0")/lib.sh"

case_continue_chain() {
    local m=$(uniq_marker) a b c p
    a=$(submit -a claude "step one $m-a [result=built-$m]") || return 1
    b=$(submit -a claude --continue-from "$a" "step two $m-b") || return 1
    c=$(submit -a claude --continue-from "$b" "step three $m-c") || return 1
    wait_status "$c" completed 20 || return 1
    ck "continueFrom is also a dependency" [ "$(tjson "$b" | jpy "d.get('dependsOn') == ['$a']")" = true ] || return 1
    p=$(fake_rec "$m-c" prompt) || { bad "no record of C's run"; return 1; }
    ck "C's prompt opens with the context block" matches "$p" '^<<<BACKBEAT CONTEXT:' || return 1
    ck "C's prompt names B" matches "$p" "Earlier task: $b" || return 1
    ck "C's prompt carries A's context through B (A's answer built-$m)" matches "$p" "built-$m" || return 1
    ck "C's own prompt is last and intact" [ "$(printf '%s' "$p" | tail -n 2)" = "$(printf 'YOUR TASK:\nstep three %s-c' "$m")" ] || return 1
    ck "B's context shows A's status" matches "$(fake_rec "$m-b" prompt)" "Its status: completed, exit code 0" || return 1
}

case_resume_session() {
    local m=$(uniq_marker) a r sid args
    a=$(submit -a claude "first try $m [exit=2]") || return 1
    wait_status "$a" failed || return 1
    sid=$(tf "$a" sessionId)
    ck "the failed task reported a session id" [ -n "$sid" ] || return 1
    bt resume "$a" --context "now fix it $m-r" --json
    ck "resume exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    r=$(out | jget newTaskId)
    ck "auto picked session mode (got $(out | jget resumeMode))" [ "$(out | jget resumeMode)" = session ] || return 1
    wait_status "$r" completed || return 1
    ck "the agent was run with --resume $sid" [ "$(fake_rec "$m-r" resume)" = "$sid" ] || return 1
    ck "the additional context is the next message" [ "$(fake_rec "$m-r" prompt)" = "now fix it $m-r" ] || return 1
    ck "lineage: retryOf" [ "$(tf "$r" retryOf)" = "$a" ] || return 1
    ck "lineage: parentTaskId" [ "$(tf "$r" parentTaskId)" = "$a" ] || return 1
    ck "lineage: retryCount 1" [ "$(tf "$r" retryCount)" = 1 ] || return 1
    ck "TaskStatus says session mode" [ "$(tf "$r" resumeMode)" = session ] || return 1
    args=$(fake_rec "$m-r" argv)
    ck "argv has --resume (got $args)" matches "$args" '"--resume"' || return 1
}

case_resume_prompt() {
    local m=$(uniq_marker) a r p
    a=$(submit -a codex "original work $m [stderr=boom-$m] [exit=3]") || return 1
    wait_status "$a" failed || return 1
    bt resume "$a" --mode prompt -c "extra $m-x" --json
    ck "resume exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    r=$(out | jget newTaskId)
    # The original prompt is part of the new one, so its directives run again: it fails too.
    wait_terminal "$r" || return 1
    p=$(fake_rec "$m-x" prompt) || { bad "no record of the resumed run"; return 1; }
    ck "not run as a session resume" [ -z "$(fake_rec "$m-x" resume)" ] || return 1
    ck "the checkpoint's errors are in the prompt" matches "$p" "boom-$m" || return 1
    ck "the exit code is in the prompt" matches "$p" "exit code 3" || return 1
    ck "the additional context is in the prompt" matches "$p" "ADDITIONAL CONTEXT:" || return 1
    ck "the original prompt comes last" [ "$(printf '%s' "$p" | tail -n 1)" = "original work $m [stderr=boom-$m] [exit=3]" ] || return 1
    ck "TaskStatus says prompt mode" [ "$(tf "$r" resumeMode)" = prompt ] || return 1
}

case_bad_resumes() {
    local m=$(uniq_marker) a big before
    a=$(submit -a claude "still running $m [wait-file=$E2E_DIR/$m.go]") || return 1
    wait_status "$a" running || return 1
    before=$(task_total)
    bt resume "$a"
    ck "resume of a running task: exit 4 (got $RC)" [ "$RC" = 4 ] || return 1
    ck "the error says why (got $(err))" matches "$(err)" "cannot be resumed while it is running" || return 1
    touch "$E2E_DIR/$m.go"
    wait_status "$a" completed || return 1
    big=$(head -c 16001 /dev/zero | tr '\0' 'x')
    bt resume "$a" --context "$big"
    ck "context over 16000 characters: exit 2 (got $RC)" [ "$RC" = 2 ] || return 1
    ck "the error names additionalContext (got $(err))" matches "$(err)" "additionalContext: must be at most 16000 characters" || return 1
    bt resume "$a" --mode bogus
    ck "unknown mode: exit 2 (got $RC)" [ "$RC" = 2 ] || return 1
    bt resume task-123e4567-e89b-42d3-a456-426614174000
    ck "unknown task: exit 3 (got $RC)" [ "$RC" = 3 ] || return 1
    ck "nothing was created by the refused resumes" [ "$(task_total)" = "$before" ] || return 1
}

# A user-defined agent resumes its session when its template takes {session}; one whose
# template does not is refused in session mode and falls back to prompt mode in auto.
case_resume_user_agent() {
    local m=$(uniq_marker) a r sid
    bt config set agents.mine '{"command": ["claude", "-p", "--output-format", "stream-json", "--verbose", "--resume={session}", "--", "{prompt}"], "parser": "claude"}'
    ck "define mine (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    bt config set agents.once '{"command": ["claude", "-p", "--output-format", "stream-json", "--verbose", "--", "{prompt}"], "parser": "claude"}'
    ck "define once (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    a=$(submit -a mine "user first $m [exit=2]") || return 1
    wait_status "$a" failed || return 1
    ck "a run that does not resume leaves the {session} argument out" \
        not matches "$(fake_rec "user first $m" argv)" '--resume' || return 1
    sid=$(tf "$a" sessionId)
    ck "the user agent reported a session id" [ -n "$sid" ] || return 1
    bt resume "$a" --context "go on $m-r" --json
    ck "resume exit 0 (got $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "auto picked session mode (got $(out | jget resumeMode))" [ "$(out | jget resumeMode)" = session ] || return 1
    r=$(out | jget newTaskId)
    wait_status "$r" completed || return 1
    ck "the agent was run with --resume=$sid (got $(fake_rec "$m-r" argv))" [ "$(fake_rec "$m-r" resume)" = "$sid" ] || return 1
    a=$(submit -a once "once first $m [exit=2]") || return 1
    wait_status "$a" failed || return 1
    bt resume "$a" --mode session
    ck "session mode without {session}: exit 2 (got $RC)" [ "$RC" = 2 ] || return 1
    ck "the error says what is missing ($(err))" matches "$(err)" 'agent once cannot resume a session \(a user-defined agent needs \{session\} in its command\)' || return 1
    bt resume "$a" --json
    ck "auto falls back to prompt mode (got $(out | jget resumeMode))" [ "$RC" = 0 ] && [ "$(out | jget resumeMode)" = prompt ] || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_git_checkpoint() {
    local m=$(uniq_marker) repo=$E2E_DIR/repo a j
    mkdir -p "$repo"
    git -C "$repo" init -q -b trunk 2>/dev/null || git -C "$repo" init -q
    git -C "$repo" checkout -q -b trunk 2>/dev/null
    echo one >"$repo/a.txt"
    git -C "$repo" add a.txt
    git -C "$repo" -c user.email=t@example.invalid -c user.name=t commit -q -m first
    a=$(submit -a claude -w "$repo" "edit files $m [wait-file=$E2E_DIR/$m.go]") || return 1
    wait_status "$a" running || return 1
    # What the agent would have done: change a tracked file and add a new one.
    echo two >>"$repo/a.txt"
    echo new >"$repo/b.txt"
    touch "$E2E_DIR/$m.go"
    wait_status "$a" completed || return 1
    j=$(tjson "$a")
    ck "checkpoint branch trunk (got $(echo "$j" | jget checkpoint.gitBranch))" [ "$(echo "$j" | jget checkpoint.gitBranch)" = trunk ] || return 1
    ck "checkpoint commit is HEAD" [ "$(echo "$j" | jget checkpoint.gitCommit)" = "$(git -C "$repo" rev-parse HEAD)" ] || return 1
    ck "changed files a.txt and b.txt (got $(echo "$j" | jget checkpoint.gitChangedFiles))" \
        [ "$(echo "$j" | jpy "sorted(d['checkpoint']['gitChangedFiles']) == ['a.txt', 'b.txt']")" = true ] || return 1
    ck "checkpoint output tail holds the agent's answer" matches "$(echo "$j" | jget checkpoint.outputTail)" "Hello from fake claude" || return 1
    # Outside a repository there is no git state.
    a=$(submit -a claude "no repo $m") || return 1
    wait_status "$a" completed || return 1
    ck "no git state outside a repository" [ -z "$(tf "$a" checkpoint.gitBranch)" ] || return 1
}

run_case "continueFrom chain A -> B -> C carries context" case_continue_chain
run_case "resume in session mode continues the agent's session" case_resume_session
run_case "resume in prompt mode carries the checkpoint" case_resume_prompt
run_case "bad resumes are refused, nothing created" case_bad_resumes
run_case "a user-defined agent resumes its session through {session}" case_resume_user_agent
run_case "checkpoint records the git state of a real repository" case_git_checkpoint
finish
