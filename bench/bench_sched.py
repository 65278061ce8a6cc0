"""10,000 active schedules: how long the daemon takes to load them and arm its timer at start-up
(budget 50 ms, read from the daemon's own "sched: started in X ms" log line), the daemon's start
time and memory with them, and how late fires start (budget 1 s) while they are all loaded.

The schedules are cron schedules in a mix of zones whose fires all fall in other months, so none
fires during the run; the lateness probe uses one-time schedules 1.5 to 3.5 s ahead.
"""

import datetime
import os
import re
import time

from benchlib import (Bench, build_dir, call_msg, log, median, ms, percentile, pipeline, report,
                      wait_for)

SCHEDULES = 10000
LOAD_BUDGET_MS = 50
RSS_BUDGET_KIB = 32 * 1024
PROBES = 20
ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kathmandu", "Australia/Lord_Howe",
         "Pacific/Apia", "Asia/Tokyo", "America/Los_Angeles"]


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def expression(i, month_now):
    """A cron expression that never fires in the current month (nor the next one)."""
    month = (month_now + 1 + i % 10) % 12 + 1
    return f"{i % 60} {(i // 60) % 24} {1 + i % 28} {month} *"


def started_ms(home):
    """The last "sched: started in X ms" figure of the daemon log."""
    found = None
    with open(os.path.join(home, "daemon.log")) as f:
        for line in f:
            m = re.search(r"sched: started in ([0-9.]+) ms: ([0-9]+) active", line)
            if m:
                found = (float(m.group(1)), int(m.group(2)))
    return found


def main():
    with Bench(build_dir(), name="sched") as b:
        c = b.connect()
        month_now = datetime.datetime.now(datetime.timezone.utc).month
        log(f"sched: creating {SCHEDULES} schedules")
        msgs = [call_msg(i + 10, "ScheduleTask", {
            "prompt": f"bench schedule {i}",
            "cronExpression": expression(i, month_now),
            "timezone": ZONES[i % len(ZONES)],
        }) for i in range(SCHEDULES)]
        t0 = time.perf_counter_ns()
        rs = pipeline(c, msgs)
        t1 = time.perf_counter_ns()
        bad = [r for r in rs.values() if "error" in r or r["result"].get("isError")]
        if bad:
            raise RuntimeError(f"ScheduleTask failed: {bad[0]}")
        report("sched-create-10k", ms(t1 - t0), "ms", "none", None,
               f"{SCHEDULES} ScheduleTask pipelined on one connection")
        c.close()

        log("sched: restarting the daemon")
        b.run("daemon", "stop")
        t0 = time.perf_counter_ns()
        b.run("daemon", "start")
        t1 = time.perf_counter_ns()
        took, active = started_ms(b.home)
        if active != SCHEDULES:
            raise RuntimeError(f"the daemon loaded {active} active schedules, not {SCHEDULES}")
        report("sched-load-arm-10k", took, "ms", f"< {LOAD_BUDGET_MS} ms",
               took < LOAD_BUDGET_MS, "sched_start: settle runs, missed fires, arm the timer")
        report("daemon-start-10k-schedules", ms(t1 - t0), "ms", "none", None,
               "`beat daemon start` until the socket answers")
        mem = b.proc_status()
        report("daemon-rss-10k-schedules", mem["VmRSS"] / 1024, "MiB", "< 32 MiB",
               mem["VmRSS"] < RSS_BUDGET_KIB, f"VmHWM {mem['VmHWM'] / 1024:.1f} MiB")

        log(f"sched: {PROBES} one-time fires for lateness")
        c = b.connect()
        base = time.time() + 1.5
        ids = []
        for k in range(PROBES):
            r = c.call("ScheduleTask", {"prompt": f"lateness probe {k}",
                                        "scheduledAt": iso(base + k * 0.1)})
            ids.append(r["scheduleId"])

        def fired():
            out = []
            for sid in ids:
                h = c.call("GetSchedule", {"scheduleId": sid, "includeHistory": True})
                hist = h.get("history") or []
                if not hist:
                    return None
                out.append(parse_iso(hist[0]["executedAt"]) - parse_iso(hist[0]["scheduledFor"]))
            return out

        late = wait_for(fired, 30, "every probe to fire", interval=0.2)
        late_ms = [x * 1000 for x in late]
        report("sched-fire-lateness-p50", median(late_ms), "ms", "< 1000 ms",
               median(late_ms) < 1000, f"{PROBES} one-time fires, {SCHEDULES} schedules loaded")
        report("sched-fire-lateness-max", max(late_ms), "ms", "< 1000 ms", max(late_ms) < 1000)
        report("sched-fire-lateness-p99", percentile(late_ms, 99), "ms", "none", None)
        mem = b.proc_status()
        report("daemon-rss-after-fires", mem["VmRSS"] / 1024, "MiB", "< 32 MiB",
               mem["VmRSS"] < RSS_BUDGET_KIB, f"VmHWM {mem['VmHWM'] / 1024:.1f} MiB")
        c.close()


if __name__ == "__main__":
    main()
