"""Starting an agent at idle, and the daemon's memory while an agent prints 200 MB.

queue-to-exec: from sending DelegateTask on an initialized connection to the first instruction
of the agent's main(), stamped by bench-agent (C, so no interpreter start-up is counted) with
CLOCK_MONOTONIC, the clock the benchmark reads too. Each task ends (WaitForTask) before the
next is sent, so the daemon is idle every time.

200 MB: the fake claude prints 209,715,200 bytes as 100-byte lines with maxOutputBuffer 1 GiB;
the daemon's VmRSS and VmHWM are sampled after a warm-up task and again after the big one.
"""

import os
import time

from benchlib import (Bench, build_dir, call_msg, line, log, median, mono_ns, ms, percentile,
                      report)

RUNS = 100
WARMUP = 5
BIG = 200 * 1024 * 1024
GROWTH_BUDGET_KIB = 4 * 1024


def bench_queue_to_exec(b):
    c = b.connect()
    lat, start_to_exit = [], []
    for i in range(WARMUP + RUNS):
        msg = line(call_msg(100 + i, "DelegateTask", {"prompt": f"exec {i}"}))
        t0 = mono_ns()
        c.send(msg)
        r = c.lines.response()
        task = r["result"]["structuredContent"]["taskId"]
        w = c.call("WaitForTask", {"taskId": task, "timeoutMs": 30000})
        if w.get("timedOut"):
            raise RuntimeError(f"task {task} did not end: {w}")
        stamps = b.stamps()
        if ("start", task) not in stamps:
            raise RuntimeError(f"bench-agent did not stamp task {task}: {w}")
        if i >= WARMUP:
            lat.append(stamps[("start", task)] - t0)
    c.close()
    report("queue-to-exec-p50", ms(median(lat)), "ms", "< 10 ms", median(lat) < 10e6,
           f"DelegateTask sent -> agent main(), idle daemon, {RUNS} runs")
    report("queue-to-exec-p99", ms(percentile(lat, 99)), "ms", "none", None)


def bench_big_output(build):
    with Bench(build, name="output") as b:  # the fake claude (python) prints the output
        c = b.connect()
        warm = c.call("DelegateTask", {"prompt": "warm-up [lines=100]"})["taskId"]
        c.call("WaitForTask", {"taskId": warm, "timeoutMs": 60000})
        time.sleep(0.2)  # let the loop settle (inotify, timers) before sampling
        before = b.proc_status()
        t0 = time.perf_counter_ns()
        task = c.call("DelegateTask", {"prompt": f"big [bytes={BIG}]",
                                       "maxOutputBuffer": 1073741824})["taskId"]
        w = c.call("WaitForTask", {"taskId": task, "timeoutMs": 300000})
        t1 = time.perf_counter_ns()
        after = b.proc_status()
        st = c.call("TaskStatus", {"taskId": task})
        c.close()
        if st["status"] != "completed" or w.get("timedOut"):
            raise RuntimeError(f"the 200 MB task did not complete: {st}")
        size = os.path.getsize(os.path.join(b.home, "output", task, "stdout.log"))
        if size < BIG:
            raise RuntimeError(f"stdout.log holds {size} bytes, expected at least {BIG}")
        hwm = after["VmHWM"] - before["VmHWM"]
        rss = after["VmRSS"] - before["VmRSS"]
        report("big-output-rss-growth", rss / 1024, "MiB", "< 4 MiB", rss < GROWTH_BUDGET_KIB,
               f"VmRSS {before['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MiB")
        report("big-output-hwm-growth", hwm / 1024, "MiB", "< 4 MiB", hwm < GROWTH_BUDGET_KIB,
               f"VmHWM {before['VmHWM'] / 1024:.1f} -> {after['VmHWM'] / 1024:.1f} MiB")
        report("big-output-run", ms(t1 - t0), "ms", "none", None,
               "200 MB printed by the fake claude, captured to stdout.log")


def main():
    build = build_dir()
    with Bench(build, name="exec") as b:
        b.use_bench_agent()
        log("exec: queue-to-exec at idle")
        bench_queue_to_exec(b)
    log("exec: 200 MB of output")
    bench_big_output(build)


if __name__ == "__main__":
    main()
