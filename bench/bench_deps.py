"""Dependencies (issue 4): creating and running a 1,000-task chain and a 1,000-task
fan-out/fan-in, and the time from a dependency's exit to its dependent's exec.

Every task runs bench-agent, which stamps CLOCK_MONOTONIC first thing in main() ("start") and
again just before it returns ("exit"). A hop is a dependent's start minus the exit of its last
dependency: the agent's exit, the supervisor noticing it and writing exit.json (fsynced), the
daemon recording the end and unblocking the dependent in one transaction, and the dependent's
supervisor and agent being started.

chain:   t1 <- t2 <- ... <- t1000 (each depends on the previous). t1 waits on a file until the
         whole chain is stored, so creation and the run are timed apart. Creation is sequential
         (each call needs the previous id). The run is at idle: one task at a time.
fan:     root <- 988 leaves; the leaves in 10 groups of 98-99 <- 10 joins (dependsOn is at most
         100 ids); the 10 joins <- 1 sink: 1 + 988 + 10 + 1 = 1,000 tasks. The leaves are
         created pipelined (they need only the root's id), then the joins, then the sink.
git:     a short chain in a small git work tree, where the supervisor also runs git for the
         checkpoint before writing exit.json: what a hop costs in a real repository.
"""

import os
import subprocess
import time

from benchlib import (Bench, build_dir, call_msg, log, median, ms, percentile, pipeline, report,
                      tool_result)

CHAIN = 1000
LEAVES = 988
JOINS = 10
GIT_CHAIN = 30


def delegate(c, prompt, deps=None, cwd=None):
    args = {"prompt": prompt}
    if deps:
        args["dependsOn"] = deps
    if cwd:
        args["workingDirectory"] = cwd
    return c.call("DelegateTask", args)["taskId"]


def wait_task(c, task, timeout_s):
    w = c.call("WaitForTask", {"taskId": task, "timeoutMs": timeout_s * 1000})
    if w.get("timedOut"):
        raise RuntimeError(f"task {task} did not end within {timeout_s}s")
    st = c.call("TaskStatus", {"taskId": task})
    if st["status"] != "completed":
        raise RuntimeError(f"task {task} ended {st['status']}: {st.get('reason')}")


def hops(stamps, pairs):
    """Dependent start minus its last dependency's exit, for (dependencies, dependent) pairs."""
    out = []
    for deps, task in pairs:
        last_exit = max(stamps[("exit", d)] for d in deps)
        out.append(stamps[("start", task)] - last_exit)
    return out


def run_chain(b, c, n, cwd=None):
    """Creates an n-task chain held at its head; returns (ids, per-call ns, release ns)."""
    hold = os.path.join(b.tmp, f"release-{n}-{cwd is not None}")
    ids = [delegate(c, f"chain 0 [wait-file={hold}]", cwd=cwd)]
    calls = []
    for i in range(1, n):
        t0 = time.perf_counter_ns()
        ids.append(delegate(c, f"chain {i}", [ids[-1]], cwd))
        calls.append(time.perf_counter_ns() - t0)
    t0 = time.perf_counter_ns()
    open(hold, "w").close()
    wait_task(c, ids[-1], 600)
    return ids, calls, time.perf_counter_ns() - t0


def bench_chain(b, c):
    ids, calls, run_ns = run_chain(b, c, CHAIN)
    report("chain-1000-create", ms(sum(calls)), "ms", "none", None,
           f"{CHAIN - 1} sequential DelegateTask, each dependsOn the previous")
    first, last = calls[:100], calls[-100:]
    report("chain-create-call-p50", ms(median(calls)), "ms", "< 2 ms", median(calls) < 2e6,
           f"first 100 p50 {ms(median(first)):.3f} ms, last 100 p50 {ms(median(last)):.3f} ms")
    report("chain-1000-run", ms(run_ns), "ms", "none", None, "head released -> tail completed")
    h = hops(b.stamps(), [([ids[i - 1]], ids[i]) for i in range(1, CHAIN)])
    report("dep-exit-to-exec-p50", ms(median(h)), "ms", "< 10 ms", median(h) < 10e6,
           f"chain at idle, {len(h)} hops")
    report("dep-exit-to-exec-p99", ms(percentile(h, 99)), "ms", "none", None)


def bench_fan(b, c):
    hold = os.path.join(b.tmp, "release-fan")
    t0 = time.perf_counter_ns()
    root = delegate(c, f"root [wait-file={hold}]")
    rs = pipeline(c, [call_msg(10 + i, "DelegateTask",
                               {"prompt": f"leaf {i}", "dependsOn": [root]})
                      for i in range(LEAVES)])
    leaves = [tool_result(rs[10 + i])["taskId"] for i in range(LEAVES)]
    groups = [leaves[g::JOINS] for g in range(JOINS)]
    rs = pipeline(c, [call_msg(10 + g, "DelegateTask",
                               {"prompt": f"join {g}", "dependsOn": groups[g]})
                      for g in range(JOINS)])
    joins = [tool_result(rs[10 + g])["taskId"] for g in range(JOINS)]
    sink = delegate(c, "sink", joins)
    t1 = time.perf_counter_ns()
    report("fan-1000-create", ms(t1 - t0), "ms", "none", None,
           f"1 root, {LEAVES} leaves, {JOINS} joins, 1 sink")

    t0 = time.perf_counter_ns()
    open(hold, "w").close()
    wait_task(c, sink, 600)
    t1 = time.perf_counter_ns()
    report("fan-1000-run", ms(t1 - t0), "ms", "none", None,
           "root released -> sink completed, maxWorkers 4")
    stamps = b.stamps()
    root_exit = stamps[("exit", root)]
    starts = sorted(stamps[("start", leaf)] for leaf in leaves)
    report("fan-out-exit-to-first-exec", ms(starts[0] - root_exit), "ms", "< 10 ms",
           starts[0] - root_exit < 10e6, f"root exit -> first of {LEAVES} dependents")
    report("fan-out-release-all", ms(starts[-1] - root_exit), "ms", "none", None,
           f"root exit -> last of {LEAVES} dependents started (maxWorkers 4)")
    j = hops(stamps, [(groups[g], joins[g]) for g in range(JOINS)])
    # Not at idle: a join is queued behind the leaves still waiting for a worker (FIFO), so
    # this is queueing time more than dependency handling. No budget of its own.
    report("fan-in-join-exit-to-exec-p50", ms(median(j)), "ms", "none", None,
           f"last of its ~99 leaves exit -> join exec, {JOINS} joins, queued behind leaves")
    s = hops(stamps, [(joins, sink)])[0]
    report("fan-in-sink-exit-to-exec", ms(s), "ms", "< 10 ms", s < 10e6,
           f"last of {JOINS} joins exit -> sink exec")


def bench_git(b, c):
    repo = os.path.join(b.tmp, "repo")
    os.makedirs(repo)
    git = ["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "bench"]):
        subprocess.run(git + args, check=True, stdout=subprocess.DEVNULL)
    ids, _, _ = run_chain(b, c, GIT_CHAIN, cwd=repo)
    h = hops(b.stamps(), [([ids[i - 1]], ids[i]) for i in range(1, GIT_CHAIN)])
    report("dep-exit-to-exec-git-p50", ms(median(h)), "ms", "none", None,
           f"chain in a git work tree (checkpoint runs git), {len(h)} hops")


def main():
    with Bench(build_dir(), name="deps") as b:
        b.use_bench_agent()
        c = b.connect()
        log("deps: 1,000-task chain")
        bench_chain(b, c)
        log("deps: 1,000-task fan-out/fan-in")
        bench_fan(b, c)
        log("deps: chain in a git work tree")
        bench_git(b, c)
        c.close()


if __name__ == "__main__":
    main()
