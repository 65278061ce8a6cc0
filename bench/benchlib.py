"""Shared helpers for the benchmarks: a throwaway daemon, MCP clients over the socket and
through `beat mcp start`, timing statistics and the one-line report format.

Every benchmark runs against its own BACKBEAT_HOME (mktemp) with tests/fake-agents first on
PATH and BACKBEAT_DEFAULT_AGENT=claude, and stops its daemon at the end.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FAKE_AGENTS = os.path.join(REPO, "tests", "fake-agents")
PROTOCOL = "2025-06-18"
# Environment variables that override config.json (docs/configuration.md).
CONFIG_ENV = ("TASK_TIMEOUT", "MAX_OUTPUT_BUFFER", "PROCESS_KILL_GRACE_PERIOD_MS", "LOG_LEVEL",
              "TASK_RETENTION_DAYS", "MAX_WORKERS", "CPU_THRESHOLD", "MEMORY_RESERVE",
              "CPU_CORES_RESERVED")


def mono_ns():
    """CLOCK_MONOTONIC in ns: the clock bench-agent stamps with (perf_counter_ns is the same
    clock on Linux, but say so explicitly where times cross processes)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def ms(ns):
    return ns / 1e6


def report(name, value, unit, budget, ok, note=None):
    """Prints one figure: `<name>: <value> <unit> (budget <budget>) ok|OVER|info`.

    ok is True, False, or None for a figure that has no budget of its own (info)."""
    verdict = "info" if ok is None else ("ok" if ok else "OVER")
    if isinstance(value, float):
        value = f"{value:.3f}" if value < 100 else f"{value:.1f}"
    line = f"{name}: {value} {unit} (budget {budget}) {verdict}"
    if note:
        line += f"  # {note}"
    print(line, flush=True)


def log(msg):
    """Progress on stderr, so stdout holds figures only."""
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    """A throwaway state directory and its daemon. Use as a context manager."""

    def __init__(self, build, daemon_env=None, name="bench"):
        self.build = os.path.abspath(build)
        self.beat = os.path.join(self.build, "beat")
        self.tmp = tempfile.mkdtemp(prefix=f"beat-{name}-")
        self.home = os.path.join(self.tmp, "home")
        self.bin = os.path.join(self.tmp, "bin")  # holds `claude` -> bench-agent when asked
        os.makedirs(self.bin)
        self.stamp_file = os.path.join(self.tmp, "stamps")
        # Tasks work in a plain scratch directory: in a git work tree the supervisor also runs
        # git for the checkpoint, which bench_deps measures on its own.
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        env = dict(os.environ)
        for k in list(env):
            # The daemon takes its settings from its environment: keep the caller's out.
            if k.startswith("BACKBEAT_") or k in CONFIG_ENV or k == "FAKE_AGENT_LOG":
                del env[k]
        env.update({
            "BACKBEAT_HOME": self.home,
            "BACKBEAT_DEFAULT_AGENT": "claude",
            "PATH": FAKE_AGENTS + os.pathsep + env.get("PATH", ""),
            "BENCH_STAMP_FILE": self.stamp_file,
            # "When resources allow": the CPU check off and no memory reserve, so the figures
            # measure Backbeat's own overhead, not a busy benchmark machine's neighbours.
            "CPU_THRESHOLD": "100",
            "MEMORY_RESERVE": "0",
        })
        env.update(daemon_env or {})
        self.env = env

    def use_bench_agent(self):
        """Makes `claude` on the client PATH the C stand-in (bench-agent) instead of the fake."""
        agent = os.path.join(self.build, "bench-agent")
        if not os.access(agent, os.X_OK):
            raise SystemExit(f"{agent} is missing: build it with `ninja -C {self.build} "
                             "bench-agent`")
        os.symlink(agent, os.path.join(self.bin, "claude"))
        self.env["PATH"] = self.bin + os.pathsep + self.env["PATH"]

    def __enter__(self):
        try:
            self.run("daemon", "start")
        except subprocess.CalledProcessError as e:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise SystemExit(f"beat daemon start failed: {e.stderr.strip()}")
        return self

    def __exit__(self, *exc):
        subprocess.run([self.beat, "daemon", "stop", "--kill-tasks"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def run(self, *args, check=True):
        return subprocess.run([self.beat, *args], env=self.env, check=check, cwd=self.work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def spawn_ns(self, *args):
        """Runs beat with args (stdout to /dev/null) and returns its wall time in ns; the
        timing includes process creation, as a shell user sees it."""
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            argv = [self.beat, *args]
            t0 = time.perf_counter_ns()
            pid = os.posix_spawn(self.beat, argv, self.env,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
            _, status = os.waitpid(pid, 0)
            t1 = time.perf_counter_ns()
        finally:
            os.close(null)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"beat {' '.join(args)} failed with status {status}")
        return t1 - t0

    def daemon_pid(self):
        with open(os.path.join(self.home, "daemon.lock")) as f:
            return int(f.read().split()[0])

    def proc_status(self, keys=("VmRSS", "VmHWM")):
        """VmRSS / VmHWM of the daemon in KiB."""
        out = {}
        with open(f"/proc/{self.daemon_pid()}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    out[k] = int(v.split()[0])
        return out

    def connect(self):
        return Conn(os.path.join(self.home, "daemon.sock"), self.env, self.work)

    def relay(self):
        return Relay(self.beat, self.env, self.work)

    def stamps(self):
        """bench-agent's records: {(kind, task_id): ns}."""
        out = {}
        try:
            with open(self.stamp_file) as f:
                for line in f:
                    kind, ns, task, _pid = line.split()
                    out[(kind, task)] = int(ns)
        except FileNotFoundError:
            pass
        return out


def initialize_msg(rid, env=None, cwd=None):
    params = {"protocolVersion": PROTOCOL, "capabilities": {},
              "clientInfo": {"name": "beat-bench", "version": "1"}}
    if env is not None:
        # What the relay and the CLI add: the client's working directory and environment.
        params["_meta"] = {"backbeat/client": {"cwd": cwd, "env": dict(env),
                                               "version": "bench"}}
    return {"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": params}


def call_msg(rid, name, arguments):
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}


def line(msg):
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


def tool_result(resp):
    """structuredContent of a tools/call response; raises on an error."""
    if "error" in resp:
        raise RuntimeError(f"JSON-RPC error: {resp['error']}")
    r = resp["result"]
    if r.get("isError"):
        raise RuntimeError(f"tool error: {r.get('content')}")
    return r.get("structuredContent") or json.loads(r["content"][0]["text"])


class Lines:
    """Newline framing over a byte source (recv or read)."""

    def __init__(self, read):
        self.read = read
        self.buf = b""

    def next(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 1:]
                return out
            chunk = self.read(1 << 16)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def response(self):
        """The next JSON-RPC response (notifications skipped)."""
        while True:
            m = json.loads(self.next())
            if "id" in m:
                return m


class Conn:
    """An MCP session directly on the daemon's socket."""

    def __init__(self, path, env, cwd):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.lines = Lines(self.sock.recv)
        self.next_id = 1
        self.request(initialize_msg(0, env, cwd))
        self.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')

    def send(self, data):
        self.sock.sendall(data)

    def request(self, msg):
        self.send(line(msg))
        return self.lines.response()

    def call(self, name, arguments):
        self.next_id += 1
        return tool_result(self.request(call_msg(self.next_id, name, arguments)))

    def close(self):
        self.sock.close()


class Relay:
    """`beat mcp start` on pipes: the way an MCP client talks to Backbeat."""

    def __init__(self, beat, env, cwd):
        self.spawned_ns = time.perf_counter_ns()
        self.p = subprocess.Popen([beat, "mcp", "start"], env=env, cwd=cwd,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=0)
        self.lines = Lines(lambda n: os.read(self.p.stdout.fileno(), n))
        self.next_id = 1

    def send(self, data):
        self.p.stdin.write(data)

    def request(self, msg):
        self.send(line(msg))
        return self.lines.response()

    def initialize(self):
        # The relay adds the client context (its own cwd and environment) itself.
        r = self.request(initialize_msg(0))
        self.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        return r

    def call(self, name, arguments):
        self.next_id += 1
        return tool_result(self.request(call_msg(self.next_id, name, arguments)))

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def pipeline(conn, msgs, window=900):
    """Sends msgs on one connection keeping at most `window` unanswered (the daemon caps calls
    in flight per connection at 1000); returns the responses by id."""
    out = {}
    sent = 0
    pending = 0
    while sent < len(msgs) or pending:
        if sent < len(msgs) and pending < window:
            batch = msgs[sent:sent + (window - pending)]
            conn.send(b"".join(line(m) for m in batch))
            sent += len(batch)
            pending += len(batch)
            continue
        r = conn.lines.response()
        out[r["id"]] = r
        pending -= 1
    return out


def wait_for(pred, timeout, what, interval=0.01):
    """Polls pred() until it is true, up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def count_status(conn):
    """Counts of tasks by status, from SystemStatus."""
    return conn.call("SystemStatus", {})["tasks"]


def build_dir():
    if len(sys.argv) < 2:
        raise SystemExit(f"usage: {sys.argv[0]} BUILD_DIR")
    return sys.argv[1]
