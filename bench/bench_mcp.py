"""MCP round trips: initialize through `beat mcp start`, tools/list and DelegateTask through the
relay and directly on the socket, and 1,000 pipelined DelegateTask calls on one connection.

The queue is held (maxWorkers 1 and a first task waiting on a file), so the DelegateTask calls
only store tasks: no agent starts while we time requests.
"""

import json
import os
import time

from benchlib import (Bench, build_dir, call_msg, line, log, median, ms, percentile, report)

RELAYS = 100        # relays spawned for each initialize figure
ITER = 1000         # timed requests per request figure
WARMUP = 50
PIPELINED = 1000


def time_requests(client, msg_for, n):
    """Latencies (ns) of n sequential requests on one client."""
    out = []
    for i in range(WARMUP + n):
        data = line(msg_for(i))
        t0 = time.perf_counter_ns()
        client.send(data)
        raw = client.lines.next()  # timed to the answer's newline; parsed after
        t1 = time.perf_counter_ns()
        r = json.loads(raw)
        while "id" not in r:  # a notification came first
            raw = client.lines.next()
            t1 = time.perf_counter_ns()
            r = json.loads(raw)
        if "error" in r or r["result"].get("isError"):
            raise RuntimeError(f"request failed: {r}")
        if i >= WARMUP:
            out.append(t1 - t0)
    return out


def bench_initialize(b):
    warm, spawn_init = [], []
    for i in range(RELAYS + 5):
        # Spawn + initialize, as a client starting its MCP server sees it.
        r = b.relay()
        t0 = time.perf_counter_ns()
        r.request({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "beat-bench", "version": "1"}}})
        t1 = time.perf_counter_ns()
        r.close()
        if i >= 5:
            spawn_init.append(t1 - r.spawned_ns)
        # initialize alone, on a relay that has started and connected to the daemon.
        r = b.relay()
        time.sleep(0.03)
        t0 = time.perf_counter_ns()
        r.initialize()
        t1 = time.perf_counter_ns()
        r.close()
        if i >= 5:
            warm.append(t1 - t0)
    report("mcp-initialize-relay-p50", ms(median(warm)), "ms", "< 10 ms", median(warm) < 10e6,
           f"on a started relay, {RELAYS} relays")
    report("mcp-initialize-relay-p99", ms(percentile(warm, 99)), "ms", "none", None)
    report("mcp-spawn-relay-initialize-p50", ms(median(spawn_init)), "ms", "< 10 ms",
           median(spawn_init) < 10e6, "fork/exec of `beat mcp start` + connect + initialize")
    report("mcp-spawn-relay-initialize-p99", ms(percentile(spawn_init, 99)), "ms", "none", None)


def bench_requests(b):
    relay = b.relay()
    relay.initialize()
    sock = b.connect()
    tools_list = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    figures = {}
    for via, client in (("relay", relay), ("socket", sock)):
        figures[("tools/list", via)] = time_requests(client, lambda i: tools_list, ITER)
        figures[("DelegateTask", via)] = time_requests(
            client, lambda i: call_msg(i + 10, "DelegateTask",
                                       {"prompt": f"bench task {i}"}), ITER)
    relay.close()
    sock.close()
    for what, slug in (("tools/list", "tools-list"), ("DelegateTask", "delegate")):
        r, s = figures[(what, "relay")], figures[(what, "socket")]
        report(f"{slug}-relay-p50", ms(median(r)), "ms", "< 2 ms", median(r) < 2e6)
        report(f"{slug}-relay-p99", ms(percentile(r, 99)), "ms", "none", None)
        report(f"{slug}-socket-p50", ms(median(s)), "ms", "< 2 ms", median(s) < 2e6)
        report(f"{slug}-socket-p99", ms(percentile(s, 99)), "ms", "none", None)
        d = median(r) - median(s)
        report(f"{slug}-relay-overhead-p50", ms(d), "ms", "< 0.5 ms", d < 0.5e6,
               "relay p50 minus socket p50")


def pipelined(client, n, base):
    """Sends n DelegateTask calls at once, then reads every answer; returns the total ns."""
    data = b"".join(line(call_msg(base + i, "DelegateTask", {"prompt": f"pipelined {i}"}))
                    for i in range(n))
    t0 = time.perf_counter_ns()
    client.send(data)
    seen = 0
    while seen < n:
        r = client.lines.response()
        if "error" in r or r["result"].get("isError"):
            raise RuntimeError(f"pipelined call failed: {r}")
        seen += 1
    return time.perf_counter_ns() - t0


def bench_pipelined(b):
    totals = {}
    for via in ("socket", "relay"):
        runs = []
        for k in range(4):  # the first is a warm-up
            client = b.connect() if via == "socket" else b.relay()
            if via == "relay":
                client.initialize()
            t = pipelined(client, PIPELINED, 100000 * (k + 1))
            client.close()
            if k > 0:
                runs.append(t)
        totals[via] = runs
    s = median(totals["socket"])
    report("pipelined-1000-delegate-socket", ms(s), "ms", "< 1000 ms", s < 1e9,
           f"median of {len(totals['socket'])} runs, send all then read all")
    r = median(totals["relay"])
    report("pipelined-1000-delegate-relay", ms(r), "ms", "< 1000 ms", r < 1e9,
           "the same through `beat mcp start`")


def main():
    with Bench(build_dir(), {"MAX_WORKERS": "1"}, name="mcp") as b:
        b.use_bench_agent()
        hold = os.path.join(b.tmp, "release")
        c = b.connect()
        c.call("DelegateTask", {"prompt": f"hold the queue [wait-file={hold}]"})
        c.close()
        log("mcp: initialize through the relay")
        bench_initialize(b)
        log("mcp: tools/list and DelegateTask, relay and socket")
        bench_requests(b)
        log("mcp: pipelined DelegateTask")
        bench_pipelined(b)


if __name__ == "__main__":
    main()
