"""10,000 tasks: `beat status` (the CLI process, list view) and the daemon's memory, first with
10,000 tasks queued behind one held task, then after all 10,000 have run to completion.

The tasks run bench-agent (a C stand-in for claude that exits at once), so the run measures
Backbeat's own cost per task: supervisor, store, output files.
"""

import json
import os
import time

from benchlib import (Bench, build_dir, call_msg, count_status, log, median, ms, percentile,
                      pipeline, report, wait_for)

TASKS = int(os.environ.get("BENCH_TASKS", "10000"))  # smaller for a quick look
K = f"{TASKS // 1000}k" if TASKS >= 1000 else str(TASKS)  # in the figure names
STATUS_RUNS = 50
RSS_BUDGET_KIB = 16 * 1024


def true_ns():
    """Wall time (ns) of spawning /bin/true the same way: what any process costs here."""
    t0 = time.perf_counter_ns()
    os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ), 0)
    return time.perf_counter_ns() - t0


def time_status(b, *args):
    """Wall times (ns) of the `beat status` process (list view, 50 newest tasks by default),
    and of /bin/true spawned between them, so both see the same machine load."""
    r = b.run("status", *args)
    if not args and len(r.stdout.splitlines()) < 51:
        raise RuntimeError(f"beat status listed too little:\n{r.stdout}")
    status, floor = [], []
    for i in range(5 + STATUS_RUNS):
        s, f = b.spawn_ns("status", *args), true_ns()
        if i >= 5:
            status.append(s)
            floor.append(f)
    return status, floor


def time_list_call(c):
    """Wall times (ns) of the list view's TaskStatus call on the socket: the daemon's part."""
    out = []
    for i in range(5 + STATUS_RUNS):
        t0 = time.perf_counter_ns()
        c.call("TaskStatus", {})
        if i >= 5:
            out.append(time.perf_counter_ns() - t0)
    return out


def main():
    with Bench(build_dir(), name="status") as b:
        b.use_bench_agent()
        # maxWorkers comes from config.json (not the environment) so it can be raised live.
        b.run("config", "set", "maxWorkers", "1")
        c = b.connect()
        hold = os.path.join(b.tmp, "release")
        c.call("DelegateTask", {"prompt": f"hold the queue [wait-file={hold}]"})
        log(f"status: storing {TASKS} tasks")
        msgs = [call_msg(i + 10, "DelegateTask", {"prompt": f"bench task {i}"})
                for i in range(TASKS - 1)]
        t0 = time.perf_counter_ns()
        rs = pipeline(c, msgs)
        t1 = time.perf_counter_ns()
        bad = [r for r in rs.values() if "error" in r or r["result"].get("isError")]
        if bad:
            raise RuntimeError(f"DelegateTask failed: {bad[0]}")
        report(f"store-{K}-delegate", ms(t1 - t0), "ms", "none", None,
               f"{TASKS - 1} DelegateTask pipelined on one connection")

        del rs, msgs
        st, floor = time_status(b)
        report("spawn-floor-p50", ms(median(floor)), "ms", "none", None,
               "posix_spawn + wait of /bin/true between the runs: the floor under `beat status`")
        report(f"status-{K}-queued-p50", ms(median(st)), "ms", "< 5 ms", median(st) < 5e6,
               f"`beat status` list view, 1 running + {TASKS - 1} queued")
        report(f"status-{K}-queued-p99", ms(percentile(st, 99)), "ms", "none", None)
        lc = time_list_call(c)
        report(f"status-{K}-queued-socket-p50", ms(median(lc)), "ms", "none", None,
               "the same TaskStatus call on the socket, without the CLI process")
        mem = b.proc_status()
        report(f"daemon-rss-{K}-queued", mem["VmRSS"] / 1024, "MiB", "< 16 MiB",
               mem["VmRSS"] < RSS_BUDGET_KIB, f"VmHWM {mem['VmHWM'] / 1024:.1f} MiB")

        log(f"status: running the {TASKS} tasks (maxWorkers 8)")
        b.run("config", "set", "maxWorkers", "8")
        t0 = time.perf_counter_ns()
        open(hold, "w").close()
        wait_for(lambda: count_status(c)["completed"] >= TASKS, 600, "every task to complete",
                 interval=0.25)
        t1 = time.perf_counter_ns()
        counts = count_status(c)
        if counts["failed"] or counts["cancelled"]:
            raise RuntimeError(f"some tasks did not complete: {json.dumps(counts)}")
        report(f"run-{K}-throughput", TASKS / ((t1 - t0) / 1e9), "tasks/s", "none", None,
               "bench-agent, maxWorkers 8")
        lc = time_list_call(c)
        c.close()

        st, _ = time_status(b)
        report(f"status-{K}-done-p50", ms(median(st)), "ms", "< 5 ms", median(st) < 5e6,
               f"`beat status` list view, {TASKS} completed tasks")
        report(f"status-{K}-done-p99", ms(percentile(st, 99)), "ms", "none", None)
        report(f"status-{K}-done-socket-p50", ms(median(lc)), "ms", "none", None,
               "the same TaskStatus call on the socket, without the CLI process")
        one, _ = time_status(b, "--limit", "1")
        report(f"status-{K}-done-limit1-p50", ms(median(one)), "ms", "none", None,
               "`beat status --limit 1`: the fixed part of the list view's cost")
        mem = b.proc_status()
        report(f"daemon-rss-after-{K}", mem["VmRSS"] / 1024, "MiB", "< 16 MiB",
               mem["VmRSS"] < RSS_BUDGET_KIB, f"VmHWM {mem['VmHWM'] / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
