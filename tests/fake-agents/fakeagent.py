#!/usr/bin/env python3
"""Fake agent CLIs for Backbeat's tests: claude, codex, gemini and textagent are symlinks here.

Each parses its argv like the real CLI (same flags, same refusal of unknown ones), prints the real
CLI's stream format and obeys [directives] in the prompt. See README.md for the directive list.
"""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

NAME = os.path.basename(sys.argv[0])
DIRECTIVE = re.compile(r"\[([a-z0-9-]+)(?:=([^\]]*))?\]")
LOGGED_ENV = ("HOME", "PATH", "TMPDIR")
LOGGED_PREFIXES = ("BACKBEAT_", "CLAUDE", "ANTHROPIC_", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_",
                   "FAKE_", "IS_SANDBOX")


class Usage(Exception):
    """A command-line error: message for stderr and the real CLI's exit status."""

    def __init__(self, msg, status):
        super().__init__(msg)
        self.status = status


def emit(obj):
    out = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if not isinstance(obj, str) \
        else obj
    sys.stdout.buffer.write(out.encode() + b"\n")
    sys.stdout.flush()


def raw(data):
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


# ---- argv parsing, one function per CLI: returns a dict of what was asked ----------------------

def take_value(args, i, opt, err):
    """Value of an option given as "--opt=v" (inline) or as the next element."""
    if "=" in args[i] and args[i].startswith("--"):
        return args[i].split("=", 1)[1], i + 1
    if i + 1 >= len(args):
        raise err(opt)
    return args[i + 1], i + 2


def parse_claude(args):
    flags = {"-p", "--print", "--verbose", "--dangerously-skip-permissions", "--bare",
             "--include-partial-messages", "--strict-mcp-config", "--no-session-persistence",
             "-c", "--continue", "--fork-session", "--replay-user-messages"}
    valued = {"--output-format", "--input-format", "--model", "--append-system-prompt",
              "--system-prompt", "-r", "--resume", "--session-id", "--permission-mode",
              "--settings", "--max-budget-usd", "--fallback-model", "--effort", "-n", "--name",
              "--agent", "--json-schema", "--setting-sources"}
    variadic = {"--allowedTools", "--allowed-tools", "--disallowedTools", "--disallowed-tools",
                "--mcp-config", "--add-dir", "--tools", "--betas"}
    a = {"print": False, "verbose": False, "format": "text", "model": None, "system": None,
         "resume": None, "positional": [], "options": {}}
    missing = lambda o: Usage(f"error: option '{o} <value>' argument missing", 1)  # noqa: E731
    i = 0
    while i < len(args):
        arg, key = args[i], args[i].split("=", 1)[0]
        if arg == "--":
            a["positional"] += args[i + 1:]
            break
        if key in valued:
            v, i = take_value(args, i, key, missing)
            a["options"][key] = v
        elif key in variadic:
            i += 1
            vals = []
            while i < len(args) and not args[i].startswith("-"):
                vals.append(args[i])
                i += 1
            a["options"][key] = vals
        elif arg in flags:
            a["options"][arg] = True
            i += 1
        elif arg.startswith("-") and arg != "-":
            raise Usage(f"error: unknown option '{arg}'", 1)
        else:
            a["positional"].append(arg)
            i += 1
    o = a["options"]
    a["print"] = bool(o.get("-p") or o.get("--print"))
    a["verbose"] = bool(o.get("--verbose"))
    a["format"] = o.get("--output-format", "text")
    a["model"] = o.get("--model")
    a["system"] = o.get("--append-system-prompt") or o.get("--system-prompt")
    a["resume"] = o.get("--resume") or o.get("-r")
    if a["format"] not in ("text", "json", "stream-json"):
        raise Usage(f"error: option '--output-format <format>' argument '{a['format']}' is "
                    "invalid. Allowed choices are text, json, stream-json.", 1)
    if not a["print"]:
        raise Usage("fake claude: only -p/--print mode is supported", 1)
    if a["format"] == "stream-json" and not a["verbose"]:
        raise Usage("Error: When using --print, --output-format=stream-json requires --verbose", 1)
    if not a["positional"]:
        raise Usage("Error: Input must be provided either through stdin or as a prompt argument "
                    "when using --print", 1)
    a["prompt"] = a["positional"][0]
    return a


def parse_codex(args):
    usage_line = "Usage: codex exec [OPTIONS] [PROMPT]\n       codex exec [OPTIONS] <COMMAND> [ARGS]"

    def unexpected(arg):
        return Usage(f"error: unexpected argument '{arg}' found\n\n  tip: to pass '{arg}' as a "
                     f"value, use '-- {arg}'\n\n{usage_line}\n\nFor more information, try "
                     "'--help'.", 2)

    missing = lambda o: Usage(f"error: a value is required for '{o}' but none was supplied", 2)  # noqa
    common_flags = {"--json", "--skip-git-repo-check", "--ephemeral", "--ignore-user-config",
                    "--ignore-rules", "--strict-config", "--dangerously-bypass-approvals-and-sandbox"}
    common_valued = {"-m", "--model", "-c", "--config", "--enable", "--disable", "-i", "--image",
                     "--output-schema", "-o", "--output-last-message"}
    exec_flags = {"--full-auto", "--oss"}
    exec_valued = {"-s", "--sandbox", "-C", "--cd", "--color", "-p", "--profile", "--add-dir"}
    if not args or args[0] not in ("exec", "e"):
        raise Usage("fake codex: only `codex exec` is supported", 2)
    a = {"json": False, "model": None, "config": {}, "resume": None, "positional": [],
         "skip_git": False, "sandbox": None}
    sub = None
    i = 1
    while i < len(args):
        arg, key = args[i], args[i].split("=", 1)[0]
        flags = common_flags | (exec_flags if sub is None else {"--last", "--all"})
        valued = common_valued | (exec_valued if sub is None else set())
        if arg == "--":
            a["positional"] += args[i + 1:]
            break
        if key in valued:
            v, i = take_value(args, i, key, missing)
            if key in ("-m", "--model"):
                a["model"] = v
            elif key in ("-c", "--config"):
                if "=" not in v:
                    raise Usage(f"error: invalid value '{v}' for '--config <key=value>': "
                                "Invalid override (missing '='): " + v, 2)
                k, val = v.split("=", 1)
                a["config"][k] = toml_value(val)
            elif key in ("-s", "--sandbox"):
                if v not in ("read-only", "workspace-write", "danger-full-access"):
                    raise Usage(f"error: invalid value '{v}' for '--sandbox <SANDBOX_MODE>'", 2)
                a["sandbox"] = v
        elif arg in flags:
            a["json"] |= arg == "--json"
            a["skip_git"] |= arg == "--skip-git-repo-check"
            i += 1
        elif arg.startswith("-") and arg != "-":
            raise unexpected(arg)
        elif sub is None and not a["positional"] and arg == "resume":
            sub = "resume"
            i += 1
        else:
            a["positional"].append(arg)
            i += 1
    if sub == "resume":
        if not a["positional"]:
            raise Usage("fake codex: resume needs a SESSION_ID", 2)
        a["resume"] = a["positional"].pop(0)
    if len(a["positional"]) > 1:
        raise unexpected(a["positional"][1])
    a["prompt"] = a["positional"][0] if a["positional"] else None
    if a["prompt"] in (None, "-"):
        data = sys.stdin.read() if not sys.stdin.closed else ""
        if not data.strip():
            raise Usage("No prompt provided via stdin.", 1)
        a["prompt"] = data
    if not a["skip_git"] and not in_git_repo(os.getcwd()):
        raise Usage("Not inside a trusted directory and --skip-git-repo-check was not "
                    "specified.", 1)
    a["system"] = a["config"].get("developer_instructions")
    return a


def toml_value(text):
    """The value of a -c override: a TOML basic string when quoted, else the raw text."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return json.loads(text)  # TOML basic strings use JSON's escapes for what we write
        except ValueError:
            return text
    return text


def in_git_repo(path):
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def parse_gemini(args):
    flags = {"--skip-trust", "-y", "--yolo", "-s", "--sandbox", "-d", "--debug", "--raw-output",
             "--accept-raw-output-risk", "--screen-reader", "--acp", "-l", "--list-extensions"}
    valued = {"-p", "--prompt", "-o", "--output-format", "-m", "--model", "-r", "--resume",
              "--session-id", "--approval-mode", "--include-directories", "-e", "--extensions",
              "--allowed-mcp-server-names", "--allowed-tools", "--policy", "--session-file",
              "-i", "--prompt-interactive"}
    aliases = {"-p": "--prompt", "-o": "--output-format", "-m": "--model", "-r": "--resume",
               "-e": "--extensions", "-i": "--prompt-interactive", "-y": "--yolo",
               "-s": "--sandbox", "-d": "--debug", "-l": "--list-extensions"}
    a = {"options": {}, "positional": []}
    i = 0
    while i < len(args):
        arg, key = args[i], args[i].split("=", 1)[0]
        if arg == "--":
            a["positional"] += args[i + 1:]
            break
        if key in valued:
            # yargs: "--prompt=-x" is a value, but "-p -x" leaves -p without one.
            if "=" in arg:
                v, i = arg.split("=", 1)[1], i + 1
            elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                v, i = args[i + 1], i + 2
            else:
                raise Usage(f"Not enough arguments following: {key.lstrip('-')}", 1)
            a["options"][aliases.get(key, key)] = v
        elif arg in flags:
            a["options"][aliases.get(arg, arg)] = True
            i += 1
        elif arg.startswith("-") and arg != "-":
            raise Usage(f"Unknown argument: {arg.lstrip('-').split('=')[0]}", 1)
        else:
            a["positional"].append(arg)
            i += 1
    o = a["options"]
    a["prompt"] = o.get("--prompt")
    a["format"] = o.get("--output-format", "text")
    a["model"] = o.get("--model")
    a["resume"] = o.get("--resume")
    a["system"] = None
    if a["prompt"] is not None and a["positional"]:
        raise Usage("Cannot use both a positional prompt and the --prompt (-p) flag together", 1)
    if a["format"] not in ("text", "json", "stream-json"):
        raise Usage(f"Invalid values:\n  Argument: output-format, Given: \"{a['format']}\"", 1)
    if a["prompt"] is None:
        raise Usage("fake gemini: only -p/--prompt (headless) mode is supported", 1)
    if not o.get("--skip-trust") and os.environ.get("GEMINI_CLI_TRUST_WORKSPACE") != "true":
        raise Usage("Gemini CLI is not running in a trusted directory. To proceed, either use "
                    "`--skip-trust`, set the `GEMINI_CLI_TRUST_WORKSPACE=true` environment "
                    "variable, or trust this directory in interactive mode.", 55)
    return a


def parse_textagent(args):
    a = {"model": None, "resume": None, "system": None, "positional": [], "format": "text"}
    i = 0
    while i < len(args):
        arg, key = args[i], args[i].split("=", 1)[0]
        if arg == "--":
            a["positional"] += args[i + 1:]
            break
        if key in ("--model", "--session", "--workdir", "--system"):
            v, i = take_value(args, i, key, lambda o: Usage(f"textagent: {o} needs a value", 2))
            a[{"--model": "model", "--session": "resume", "--workdir": "workdir",
               "--system": "system"}[key]] = v
        elif arg.startswith("-") and arg != "-":
            raise Usage(f"textagent: unknown option '{arg}'", 2)
        else:
            a["positional"].append(arg)
            i += 1
    if not a["positional"]:
        raise Usage("textagent: usage: textagent [--model M] [--session S] [--workdir D] "
                    "[--system S] [--] PROMPT...", 2)
    a["prompt"] = " ".join(a["positional"])
    return a


# ---- output in each CLI's format ----------------------------------------------------------------

class Stream:
    """Writes one run's events: start, text (a message), finish (success or API error)."""

    def __init__(self, a):
        self.a = a
        self.session = a.get("resume") or str(uuid.uuid4())
        self.model = a.get("model") or {"claude": "claude-fake", "codex": "gpt-fake",
                                         "gemini": "gemini-fake"}.get(NAME, "text-fake")
        self.items = 0
        self.started = time.time()
        self.streaming = a.get("format") == "stream-json" or (NAME == "codex" and a.get("json"))

    def ts(self):
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

    def start(self):
        if not self.streaming:
            return
        if NAME == "claude":
            emit({"type": "system", "subtype": "init", "cwd": os.getcwd(),
                  "session_id": self.session, "tools": ["Bash", "Edit", "Read"],
                  "mcp_servers": [], "model": self.model,
                  "permissionMode": self.a["options"].get("--permission-mode", "default"),
                  "apiKeySource": "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY")
                  else "none", "claude_code_version": "2.1.330-fake", "output_style": "default"})
        elif NAME == "codex":
            emit({"type": "thread.started", "thread_id": self.session})
            emit({"type": "turn.started"})
        elif NAME == "gemini":
            emit({"type": "init", "timestamp": self.ts(), "session_id": self.session,
                  "model": self.model})
            emit({"type": "message", "timestamp": self.ts(), "role": "user",
                  "content": self.a["prompt"]})

    def text(self, t):
        self.items += 1
        if not self.streaming:
            if NAME == "textagent":
                raw(t.encode() + b"\n")
            return
        if NAME == "claude":
            emit({"type": "assistant", "message": {
                "id": f"msg_fake_{self.items}", "type": "message", "role": "assistant",
                "model": self.model, "content": [{"type": "text", "text": t}],
                "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}},
                "parent_tool_use_id": None, "session_id": self.session,
                "uuid": str(uuid.uuid4())})
        elif NAME == "codex":
            emit({"type": "item.completed", "item": {"id": f"item_{self.items}",
                                                     "type": "agent_message", "text": t}})
        elif NAME == "gemini":
            words = re.findall(r"\S+\s*|\s+", t) or [t]
            for w in words:
                emit({"type": "message", "timestamp": self.ts(), "role": "assistant",
                      "content": w, "delta": True})

    def success(self, result):
        ms = int((time.time() - self.started) * 1000)
        if not self.streaming:
            if self.a.get("format") == "json" and NAME == "claude":
                emit(self.claude_result(result, ms))
            elif self.a.get("format") == "json" and NAME == "gemini":
                emit({"session_id": self.session, "response": result, "stats": {}})
            elif NAME != "textagent":
                raw(result.encode() + b"\n")
            return
        if NAME == "claude":
            emit(self.claude_result(result, ms))
        elif NAME == "codex":
            emit({"type": "turn.completed", "usage": {
                "input_tokens": 12, "cached_input_tokens": 0, "output_tokens": 8,
                "reasoning_output_tokens": 0}})
        elif NAME == "gemini":
            emit({"type": "result", "timestamp": self.ts(), "status": "success",
                  "stats": self.gemini_stats(12, 8, ms)})

    def claude_result(self, result, ms, status=None):
        # Like the real CLI, "type" is not the first key.
        return {"duration_ms": ms, "duration_api_ms": ms, "stop_reason": "end_turn",
                "session_id": self.session,
                "total_cost_usd": 0 if status else 0.000208,
                "usage": {"input_tokens": 0 if status else 12, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 0 if status else 8},
                "permission_denials": [],
                "terminal_reason": "api_error" if status else "completed",
                "is_error": bool(status), "num_turns": 1, "subtype": "success",
                "api_error_status": status, "result": result, "type": "result",
                "uuid": str(uuid.uuid4())}

    def gemini_stats(self, inp, out, ms):
        return {"total_tokens": inp + out, "input_tokens": inp, "output_tokens": out,
                "cached": 0, "input": inp, "duration_ms": ms, "tool_calls": 0,
                "models": {self.model: {"total_tokens": inp + out, "input_tokens": inp,
                                        "output_tokens": out, "cached": 0, "input": inp}}}

    def api_error(self, status):
        """Prints the CLI's API error shape; returns the real CLI's exit status."""
        if NAME == "claude":
            text = (f"API Error: Request rejected ({status}) · fake rate limit" if status == 429
                    else f"API Error: {status} fake API error")
            if self.streaming:
                emit({"type": "assistant", "message": {
                    "id": str(uuid.uuid4()), "model": "<synthetic>", "role": "assistant",
                    "type": "message", "content": [{"type": "text", "text": text}]},
                    "parent_tool_use_id": None, "session_id": self.session,
                    "error": "rate_limit" if status == 429 else "unknown",
                    "is_api_error_message": True, "api_error_status": status})
                emit(self.claude_result(text, 0, status))
            else:
                raw(text.encode() + b"\n")
            return 1
        if NAME == "codex":
            msg = (f"exceeded retry limit, last status: {status} Too Many Requests, request id: "
                   "req_fake" if status == 429 else
                   f"unexpected status {status}: fake API error, request id: req_fake")
            if self.streaming:
                emit({"type": "error", "message": msg})
                emit({"type": "turn.failed", "error": {"message": msg}})
            else:
                sys.stderr.write(f"ERROR: {msg}\n")
            return 1
        if NAME == "gemini":
            msg = f"[API Error: fake API error {status}]\nPlease wait and try again later."
            if self.streaming:
                emit({"type": "result", "timestamp": self.ts(), "status": "error",
                      "error": {"type": "unknown", "message": msg},
                      "stats": self.gemini_stats(0, 0, 0)})
            else:
                sys.stderr.write(msg + "\n")
            return status & 0xFF
        raw(f"error: fake API error {status}\n".encode())
        return 1


# ---- the run ----------------------------------------------------------------------------------

def write_log(a, child_pid):
    path = os.environ.get("FAKE_AGENT_LOG")
    if not path:
        return
    env = {k: v for k, v in os.environ.items()
           if k in LOGGED_ENV or k.startswith(LOGGED_PREFIXES)}
    rec = {"agent": NAME, "argv": [NAME] + sys.argv[1:], "prompt": a["prompt"],
           "model": a.get("model"), "resume": a.get("resume"), "system_prompt": a.get("system"),
           "config": a.get("config", {}), "cwd": os.getcwd(), "pid": os.getpid(),
           "pgid": os.getpgrp(), "child_pid": child_pid, "env": env}
    line = (json.dumps(rec, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def install_signals(stream, ignore_term):
    def on_term(signum, frame):
        # claude and codex exit 143 at once; gemini (without relaunch) exits 0. No result line.
        os._exit(0 if NAME == "gemini" else 143)

    def on_int(signum, frame):
        if NAME == "claude" and stream.streaming:
            r = stream.claude_result(None, 0)
            r.update(subtype="error_during_execution", is_error=True,
                     terminal_reason="aborted_streaming", errors=["interrupted"])
            del r["result"]
            emit(r)
            os._exit(0)
        os._exit(1 if NAME == "codex" else 130)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if ignore_term else on_term)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, on_int)


def run(a):
    directives = [(m.group(1), m.group(2)) for m in DIRECTIVE.finditer(a["prompt"])]
    names = {k for k, _ in directives}
    stream = Stream(a)
    install_signals(stream, "ignore-term" in names)
    child = None
    if "spawn-child" in names:
        child = subprocess.Popen(["sleep", "3600"]).pid  # inherits stdout: holds the pipe open
    write_log(a, child)
    stream.start()
    result = f"Hello from fake {NAME}."
    status, exit_code, api_status, kill_sig, no_result = 0, 0, None, None, False
    for key, val in directives:
        if key == "sleep":
            time.sleep(float(val))
        elif key == "lines":
            for n in range(1, int(val) + 1):
                # gemini's deltas add up to one text: end each line there
                stream.text(f"line {n}\n" if NAME == "gemini" else f"line {n}")
        elif key == "bytes":
            left = int(val)
            while left > 0:
                n = min(left, 100)
                raw(b"x" * (n - 1) + b"\n")
                left -= n
        elif key == "stderr":
            sys.stderr.write((val or "") + "\n")
            sys.stderr.flush()
        elif key == "wait-file":
            while not os.path.exists(val):
                time.sleep(0.01)
        elif key == "invalid-utf8":
            raw(b"bad utf8: \xff\xfe \xc3\x28 \xed\xa0\x80 end\n")
        elif key == "nul":
            raw(b"nul byte: \x00 end\n")
        elif key == "echo":
            result = a["prompt"]
        elif key == "result":
            result = val or ""
        elif key == "exit":
            exit_code = int(val)
        elif key == "api-error":
            api_status = int(val)
        elif key == "kill":
            kill_sig = getattr(signal, "SIG" + val.upper()) if not val.isdigit() else int(val)
        elif key == "no-result":
            no_result = True
    if api_status is not None:
        status = stream.api_error(api_status)
    elif not no_result:
        stream.text(result)
        stream.success(result)
    if kill_sig is not None:
        signal.signal(kill_sig, signal.SIG_DFL)
        os.kill(os.getpid(), kill_sig)
        time.sleep(5)
    return exit_code or status


def main():
    parsers = {"claude": parse_claude, "codex": parse_codex, "gemini": parse_gemini,
               "textagent": parse_textagent}
    if NAME not in parsers:
        sys.stderr.write("fakeagent.py: run it through one of its symlinks: "
                         + ", ".join(parsers) + "\n")
        return 2
    try:
        a = parsers[NAME](sys.argv[1:])
    except Usage as u:
        sys.stderr.write(str(u) + "\n")
        return u.status
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
