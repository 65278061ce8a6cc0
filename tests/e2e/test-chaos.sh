#!/usr/bin/env bash
# Chaos: rounds of fake agents (exit codes, signals, dependencies, a priority queue held behind
# two running agents) during which the daemon is SIGKILLed at a random moment (sometimes twice,
# sometimes stopped cleanly instead), left down until an agent has ended, and started again.
# Every task must end in its expected state with its complete output and real exit code; none
# may be lost or run twice; tasks must start in queue order; no agent may outlive its task.
# Then the windows a crash can hit between `running` being committed and the supervisor being
# recorded, and retention. CHAOS_ROUNDS (default 20) and CHAOS_SEED make a run repeatable;
# `make chaos` runs many more rounds.
. "$(dirname "$0")/lib.sh"

ROUNDS=${CHAOS_ROUNDS:-20}
SEED=${CHAOS_SEED:-$RANDOM$RANDOM}
echo "chaos: $ROUNDS rounds, seed $SEED (CHAOS_SEED=$SEED repeats them)"

# Two agents at a time; the CPU and memory checks are someone else's test (test-pressure.sh)
# and must not make this one depend on how busy the machine is.
export MAX_WORKERS=2 CPU_THRESHOLD=100 MEMORY_RESERVE=0 BACKBEAT_DEFAULT_AGENT=claude
export PROCESS_KILL_GRACE_PERIOD_MS=1000
export E2E_DIR BEAT
for i in $(seq 1 "$ROUNDS"); do
    use_home "chaos-$i" # registered for the cleanup trap
done

cat >"$E2E_DIR/chaos.py" <<'PYEOF'
"""One chaos round, or one of the crash-window cases; raises Fail with the reason."""
import fcntl
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

BEAT = os.environ["BEAT"]
E2E = os.environ["E2E_DIR"]
LOG = os.environ["FAKE_AGENT_LOG"]
FAKE = os.path.join(os.environ["BEAT_SRC"], "tests", "fake-agents")


class Fail(Exception):
    pass


def home():
    return os.environ["BACKBEAT_HOME"]


def beat(*args, timeout=60):
    return subprocess.run([BEAT, *args], capture_output=True, text=True, timeout=timeout)


def beat_json(*args):
    p = beat(*args, "--json")
    if p.returncode != 0:
        raise Fail(f"beat {' '.join(args)} --json: exit {p.returncode}: {p.stderr.strip()[:300]}")
    return json.loads(p.stdout)


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def lock_held():
    try:
        fd = os.open(os.path.join(home(), "daemon.lock"), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def daemon_pid():
    with open(os.path.join(home(), "daemon.lock")) as f:
        return int(f.read().split()[0])


def start_daemon():
    p = beat("daemon", "start")
    if p.returncode != 0:
        raise Fail(f"daemon start: exit {p.returncode}: {p.stderr.strip()[:300]}")


def sigkill_daemon():
    os.kill(daemon_pid(), signal.SIGKILL)
    wait(lambda: not lock_held(), 10, "the killed daemon to let go of its lock")


def stop_daemon():
    p = beat("daemon", "stop")
    if p.returncode != 0:
        raise Fail(f"daemon stop: exit {p.returncode}: {p.stderr.strip()[:300]}")


def submit(prompt, prio="P2", deps=()):
    args = ["run", "--json", "-p", prio]
    for d in deps:
        args += ["--depends-on", d]
    r = beat_json(*args, prompt)
    return r["taskId"]


def tasks():
    return {t["taskId"]: t for t in beat_json("status", "--limit", "1000")["tasks"]}


def runs_by_task():
    out = {}
    try:
        with open(LOG, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                tid = r.get("env", {}).get("BACKBEAT_TASK_ID")
                out.setdefault(tid, []).append(r)
    except FileNotFoundError:
        pass
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return False


def running_dirs():
    """Task directories whose agent runs (agent.json, no exit.json yet)."""
    out = os.path.join(home(), "output")
    found = []
    for d in os.listdir(out) if os.path.isdir(out) else []:
        p = os.path.join(out, d)
        if os.path.exists(os.path.join(p, "agent.json")) and \
                not os.path.exists(os.path.join(p, "exit.json")):
            found.append(p)
    return found


def check_task(t, want, runs):
    """want: (status, exit code or None, lines, stderr text or None, ran)."""
    tid = t["taskId"]
    status, code, lines, stderr_text, ran = want
    if t["status"] != status:
        raise Fail(f"{tid} ({t['prompt']}): status {t['status']} ({t.get('reason')}), "
                   f"want {status}")
    if code is not None and t.get("exitCode") != code:
        raise Fail(f"{tid} ({t['prompt']}): exit code {t.get('exitCode')}, want {code}")
    n = len(runs.get(tid, []))
    if n != (1 if ran else 0):
        raise Fail(f"{tid} ({t['prompt']}): ran {n} times, want {1 if ran else 0}")
    if not ran:
        return
    logs = beat_json("logs", tid, "--tail", "10000")
    got = [int(m) for m in re.findall(r'"text":"line (\d+)"', logs.get("output") or "")]
    if got != list(range(1, lines + 1)):
        raise Fail(f"{tid} ({t['prompt']}): output lines {got[:5]}...{got[-3:]} ({len(got)}), "
                   f"want 1..{lines}")
    if '"type":"result"' not in (logs.get("output") or ""):
        raise Fail(f"{tid} ({t['prompt']}): no result line in its output")
    if stderr_text and stderr_text not in (logs.get("errors") or ""):
        raise Fail(f"{tid} ({t['prompt']}): stderr lacks {stderr_text!r}")


def chaos_round(n, seed):
    rnd = random.Random(f"{seed}-{n}")
    gate = os.path.join(E2E, f"gate-{n}")
    start_daemon()
    # Two blockers fill both workers, so what follows queues up in priority order.
    b1 = submit(f"[wait-file={gate}] [lines=5]")
    b2 = submit(f"[wait-file={gate}] [lines=7] [stderr=b2 done]")
    wait(lambda: sum(1 for t in tasks().values() if t["status"] == "running") == 2, 20,
         "both blockers running")
    q = {}
    q["q1"] = submit("[sleep=0.3] [lines=10]", "P2")
    q["q2"] = submit("[lines=20] [sleep=0.4] [stderr=q2 done] [exit=3]", "P1")
    q["q3"] = submit("[sleep=0.5] [lines=5]", "P0")
    q["q4"] = submit("[lines=3] [sleep=0.2] [kill=TERM]", "P2")
    q["q5"] = submit("[sleep=0.2] [lines=2] [exit=7]", "P1")
    q["q6"] = submit("[lines=50] [sleep=0.3]", "P0")
    d = submit("[lines=4]", "P2", [q["q3"]])
    e = submit("[lines=4]", "P2", [q["q2"]])
    want = {
        b1: ("completed", 0, 5, None, True),
        b2: ("completed", 0, 7, "b2 done", True),
        q["q1"]: ("completed", 0, 10, None, True),
        q["q2"]: ("failed", 3, 20, "q2 done", True),
        q["q3"]: ("completed", 0, 5, None, True),
        q["q4"]: ("failed", None, 3, None, True),
        q["q5"]: ("failed", 7, 2, None, True),
        q["q6"]: ("completed", 0, 50, None, True),
        d: ("completed", 0, 4, None, True),
        e: ("cancelled", None, 0, None, False),
    }
    open(gate, "w").close()
    # The chaos itself: a random moment while the queue drains, not a wait for an event.
    time.sleep(rnd.uniform(0, 1.5))
    how = "stop" if n % 4 == 0 else "kill"
    if how == "stop":
        stop_daemon()
    else:
        sigkill_daemon()
    # Stay down until an agent that was running has ended, so its end is found at start-up.
    ended_down = 0
    was_running = running_dirs()
    if was_running:
        wait(lambda: any(os.path.exists(os.path.join(p, "exit.json")) for p in was_running),
             20, "an agent to end while the daemon is down")
        ended_down = 1
    start_daemon()
    if rnd.random() < 0.4:
        # A second crash soon after the restart, in the middle of reconciliation or dispatch.
        time.sleep(rnd.uniform(0, 0.3))
        sigkill_daemon()
        how += "+kill"
        start_daemon()

    def all_ended():
        ts = tasks()
        return all(ts[i]["status"] in ("completed", "failed", "cancelled") for i in want)
    wait(all_ended, 90, "every task to end")
    ts = tasks()
    runs = runs_by_task()
    for tid, w in want.items():
        check_task(ts[tid], w, runs)
    t = ts[q["q4"]]
    if t.get("endReason") != "signaled" or "signal 15" not in (t.get("reason") or ""):
        raise Fail(f"q4 ended {t.get('endReason')}: {t.get('reason')}, want killed by signal 15")
    # Queue order: P0 (q3, q6), then P1 (q2, q5), then P2 (q1, q4), FIFO within a priority.
    order = ["q3", "q6", "q2", "q5", "q1", "q4"]
    started = [ts[q[k]]["startedAt"] for k in order]
    if started != sorted(started):
        raise Fail("start order " + ", ".join(f"{k}@{s}" for k, s in zip(order, started)) +
                   " breaks the queue order")
    # No agent outlives its task, and the pool is empty.
    for tid in want:
        for r in runs.get(tid, []):
            if alive(r["pid"]):
                raise Fail(f"agent pid {r['pid']} of ended task {tid} still runs")
    pool = beat_json("system")["pool"]
    if pool["running"] != 0:
        raise Fail(f"pool says {pool['running']} running after every task ended")
    stop_daemon()
    with open(os.path.join(E2E, "ended-while-down"), "a") as f:
        f.write(f"{ended_down}\n")
    print(f"round {n}: {how} after the gate, {ended_down} ended while down")


# ---- the windows between committing `running` and recording the supervisor ----------------

def db():
    c = sqlite3.connect(os.path.join(home(), "backbeat.db"), timeout=10)
    return c


def hold_and_crash(prompt):
    """A task stored `running` with no supervisor recorded, as if the daemon died right after
    committing it; returns (id, its directory, the spec it would have been given)."""
    gate = os.path.join(E2E, f"hold-{os.getpid()}")
    start_daemon()
    blockers = [submit(f"[wait-file={gate}]") for _ in range(2)]  # both workers busy
    tid = submit(prompt)
    wait(lambda: tasks()[tid]["status"] == "queued", 10, "the task to queue")
    stop_daemon()  # the blocker goes on under its supervisor
    tdir = os.path.join(home(), "output", tid)
    os.makedirs(tdir, mode=0o700, exist_ok=True)
    env = [f"PATH={FAKE}:/usr/bin:/bin", f"HOME={os.environ['HOME']}", f"BACKBEAT_TASK_ID={tid}",
           f"FAKE_AGENT_LOG={LOG}"]
    spec = {"argv": [os.path.join(FAKE, "claude"), "-p", "--output-format", "stream-json",
                     "--verbose", "--", prompt],
            "env": env, "cwd": os.getcwd(), "timeoutMs": 60000, "maxOutput": 1 << 20,
            "graceMs": 1000}
    with open(os.path.join(tdir, "spec.json"), "w") as f:
        json.dump(spec, f)
    now = int(time.time() * 1000)
    with db() as c:
        c.execute("UPDATE tasks SET status = 'running', started_at = ?, updated_at = ?, "
                  "supervisor_pid = NULL, supervisor_start = NULL WHERE id = ?", (now, now, tid))
    return tid, tdir, gate, blockers


def finish_held(tid, gate, blockers, lines):
    open(gate, "w").close()
    wait(lambda: all(tasks()[i]["status"] in ("completed", "failed", "cancelled")
                     for i in [tid] + blockers), 30, "the tasks to end")
    runs = runs_by_task()
    check_task(tasks()[tid], ("completed", 0, lines, None, True), runs)
    for b in blockers:
        check_task(tasks()[b], ("completed", 0, 0, None, True), runs)
    stop_daemon()


def case_respawn():
    """Died before the supervisor started: spec.json is unread; start-up starts it, once."""
    tid, tdir, gate, blockers = hold_and_crash("[lines=6]")
    start_daemon()
    finish_held(tid, gate, blockers, 6)
    with open(os.path.join(home(), "daemon.log")) as f:
        if f"task {tid} was running: respawn" not in f.read():
            raise Fail("daemon.log does not say the task was respawned")


def case_found_by_cmdline():
    """Died after spawning the supervisor, before recording it (and before agent.json): the
    supervisor is found by its command line and adopted; the agent runs once."""
    hold = os.path.join(E2E, "hold-agent")
    tid, tdir, gate, blockers = hold_and_crash(f"[wait-file={hold}] [lines=3]")
    sup = subprocess.Popen([BEAT, "__supervise", tdir], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait(lambda: os.path.exists(os.path.join(tdir, "agent.json")), 10, "the agent to start")
    os.unlink(os.path.join(tdir, "agent.json"))  # as if the crash came before it was written
    start_daemon()
    with open(os.path.join(home(), "daemon.log")) as f:
        log = f.read()
    if f"task {tid} was running: adopt" not in log or f"supervisor {sup.pid}" not in log:
        raise Fail(f"the supervisor {sup.pid} was not found and adopted:\n{log[-800:]}")
    open(hold, "w").close()
    finish_held(tid, gate, blockers, 3)
    sup.wait(timeout=10)


def case_lost():
    """Nothing left to tell the end (no spec, no supervisor, no exit.json): failed, lost."""
    tid, tdir, gate, blockers = hold_and_crash("[lines=1]")
    os.unlink(os.path.join(tdir, "spec.json"))
    start_daemon()
    t = wait(lambda: (lambda x: x if x["status"] != "running" else None)(tasks()[tid]), 10,
             "the lost task to be settled")
    if t["status"] != "failed" or not (t.get("reason") or "").startswith("lost:"):
        raise Fail(f"lost task: {t['status']}: {t.get('reason')}")
    open(gate, "w").close()
    wait(lambda: all(tasks()[b]["status"] == "completed" for b in blockers), 30,
         "the blockers to complete")
    if runs_by_task().get(tid):
        raise Fail("the lost task ran")
    stop_daemon()


# ---- retention ---------------------------------------------------------------------------------

def case_retention():
    start_daemon()
    gate = os.path.join(E2E, "retention-gate")
    old = submit("[lines=1]")
    kept = submit("[lines=1]")
    recent = submit("[lines=1]")
    wait(lambda: all(tasks()[i]["status"] == "completed" for i in (old, kept, recent)), 30,
         "three tasks to complete")
    w = submit(f"[wait-file={gate}]")
    dep = submit("[lines=2]", "P2", [kept, w])  # blocked: w has not ended
    wait(lambda: tasks()[w]["status"] == "running", 10, "the waiting task to run")
    stop_daemon()
    forty_days_ago = int(time.time() * 1000) - 40 * 86400 * 1000
    with db() as c:
        c.executemany("UPDATE tasks SET completed_at = ?, updated_at = ? WHERE id = ?",
                      [(forty_days_ago, forty_days_ago, i) for i in (old, kept)])
    start_daemon()  # the first sweep runs a moment after start-up
    wait(lambda: old not in tasks(), 10, "the old task to be removed")
    if os.path.exists(os.path.join(home(), "output", old)):
        raise Fail("the old task's output directory is still there")
    ts = tasks()
    if kept not in ts:
        raise Fail("a task that a blocked task depends on was removed")
    if recent not in ts or not os.path.isdir(os.path.join(home(), "output", recent)):
        raise Fail("a recent task (or its output) was removed")
    open(gate, "w").close()
    wait(lambda: tasks()[dep]["status"] == "completed", 30, "the dependent to complete")
    stop_daemon()


def main():
    what = sys.argv[1]
    try:
        if what == "round":
            chaos_round(int(sys.argv[2]), sys.argv[3])
        else:
            globals()["case_" + what]()
    except Fail as e:
        print(f"FAILED: {e}")
        sys.exit(1)


main()
PYEOF

# py CASE ARGS...: run a case of chaos.py; its last line becomes the failure reason.
py() {
    python3 "$E2E_DIR/chaos.py" "$@" >"$E2E_DIR/py.out" 2>&1
    local rc=$?
    grep -v '^FAILED' "$E2E_DIR/py.out" | sed 's/^/  /'
    if [ "$rc" -ne 0 ]; then
        set_err "$(grep '^FAILED' "$E2E_DIR/py.out" | head -c 1500)$(tail -n 5 "$E2E_DIR/py.out" | grep -v '^FAILED')"
        return 1
    fi
}

round_case() {
    use_home "chaos-$ROUND"
    if py round "$ROUND" "$SEED"; then
        rm -rf "$BACKBEAT_HOME" # passed: nothing to keep for diagnostics
        return 0
    fi
    return 1
}

for ROUND in $(seq 1 "$ROUNDS"); do
    run_case "chaos round $ROUND" round_case
done

case_ended_while_down() {
    local n
    n=$(grep -c '^1$' "$E2E_DIR/ended-while-down" 2>/dev/null)
    ck "some agent ended while the daemon was down (in ${n:-0} of $ROUNDS rounds)" \
        [ "${n:-0}" -ge 1 ]
}
run_case "agents ended while the daemon was down" case_ended_while_down

case_respawn() {
    use_home window-respawn
    py respawn
}
case_found() {
    use_home window-found
    py found_by_cmdline
}
case_lost() {
    use_home window-lost
    py lost
}
case_retention() {
    use_home retention
    py retention
}
run_case "crash before the supervisor started: respawned, runs once" case_respawn
run_case "crash before the supervisor was recorded: found and adopted" case_found
run_case "crash with nothing left to tell the end: lost" case_lost
run_case "retention removes old tasks, keeps depended-on ones" case_retention

finish
