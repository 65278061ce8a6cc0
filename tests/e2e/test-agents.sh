#!/usr/bin/env bash
# Configuration and agents end to end, against the real daemon and the fake agents: precedence
# (file vs environment, key by key), partial invalidity, atomic writes, live reload, masking of
# API keys everywhere (config show, ListAgents, ConfigureAgent, task status, daemon.log), a
# user-defined agent end to end with the text parser (and with a stream parser), bad agent
# configuration at run time, model / system prompt / base URL reaching each fake CLI exactly as
# the real one wants them, per-agent maxConcurrent, ListAgents versions (cached, and a slow
# probe that does not block the daemon), ConfigureAgent over MCP, and `beat init`.
. "$(dirname "$0")/lib.sh"

unset ANTHROPIC_API_KEY OPENAI_API_KEY GEMINI_API_KEY TASK_TIMEOUT MAX_OUTPUT_BUFFER LOG_LEVEL
BIN=$E2E_DIR/bin
mkdir -p "$BIN"
export PATH="$BIN:$PATH"

# mcp_session CALL...: drives `beat mcp start` like an MCP client: initialize, then one
# tools/call per CALL ('{"name": ..., "arguments": {...}}'); prints each call's result (the
# whole `result` object, isError included) as one JSON line. Fails on a timeout.
mcp_session() {
    python3 - "$BEAT" "$@" <<'EOF'
import json, os, select, subprocess, sys, time
beat, calls = sys.argv[1], sys.argv[2:]
p = subprocess.Popen([beat, "mcp", "start"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
buf = b""
def send(msg):
    p.stdin.write((json.dumps(msg) + "\n").encode()); p.stdin.flush()
def answer(mid, deadline):
    global buf
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            m = json.loads(line)
            if m.get("id") == mid:
                return m
        left = deadline - time.time()
        if left <= 0:
            sys.exit("mcp_session: no answer to id %r" % mid)
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                sys.exit("mcp_session: relay closed")
            buf += chunk
send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "e2e", "version": "1"}}})
answer(0, time.time() + 15)
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
for i, c in enumerate(calls, 1):
    send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": json.loads(c)})
    m = answer(i, time.time() + 30)
    print(json.dumps(m.get("result", m)))
p.stdin.close()
p.wait(timeout=10)
EOF
}

# reloads: how many times the daemon reloaded config.json so far.
reloads() {
    grep -c 'config.json changed: reloading' "$BACKBEAT_HOME/daemon.log" 2>/dev/null || true
}

more_reloads_than() {
    [ "$(reloads)" -gt "$1" ]
}

# write_config JSON: replaces config.json by hand (atomically, as an editor would not).
write_config() {
    printf '%s\n' "$1" >"$BACKBEAT_HOME/config.json.new" &&
        mv "$BACKBEAT_HOME/config.json.new" "$BACKBEAT_HOME/config.json"
}

# argv_has MARKER A B: the fake agent whose prompt holds MARKER got A and B as adjacent argv.
argv_has() {
    fake_rec "$1" argv | python3 -c '
import json, sys
a = json.load(sys.stdin)
sys.exit(0 if any(a[i:i + 2] == sys.argv[1:3] for i in range(len(a))) else 1)' "$2" "$3"
}

# start_daemon: the daemon of this home runs, and the case starts from an empty config.json
# (a failed case may have left its settings behind).
start_daemon() {
    rm -f "$BACKBEAT_HOME/config.json"
    bt daemon start
    ck "daemon start (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
}

case_precedence() {
    local j id1 id2 m
    start_daemon || return 1
    bt config set timeout 60000
    bt config set maxOutputBuffer 2048
    ck "config set (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    j=$(TASK_TIMEOUT=120000 "$BEAT" config show --json)
    ck "env wins for timeout" [ "$(echo "$j" | jpy '[k for k in d["keys"] if k["key"] == "timeout"][0]["value"]')" = 120000 ] || return 1
    ck "source env:TASK_TIMEOUT" [ "$(echo "$j" | jpy '[k for k in d["keys"] if k["key"] == "timeout"][0]["source"]')" = env:TASK_TIMEOUT ] || return 1
    ck "file still wins for maxOutputBuffer" [ "$(echo "$j" | jpy '[(k["value"], k["source"]) for k in d["keys"] if k["key"] == "maxOutputBuffer"][0]')" = '[2048, "file"]' ] || return 1
    j=$("$BEAT" config show --json)
    ck "without the variable: the file" [ "$(echo "$j" | jpy '[(k["value"], k["source"]) for k in d["keys"] if k["key"] == "timeout"][0]')" = '[60000, "file"]' ] || return 1
    # The daemon resolves a task's defaults with the submitting client's environment.
    m=$(uniq_marker)
    id1=$(TASK_TIMEOUT=120000 submit -a claude "prec $m a") || return 1
    id2=$(submit -a claude "prec $m b") || return 1
    ck "task of a client with TASK_TIMEOUT: 120000 (got $(tf "$id1" timeout))" [ "$(tf "$id1" timeout)" = 120000 ] || return 1
    ck "task of a client without: the file's 60000 (got $(tf "$id2" timeout))" [ "$(tf "$id2" timeout)" = 60000 ] || return 1
    ck "maxOutputBuffer from the file for both" [ "$(tf "$id1" maxOutputBuffer)/$(tf "$id2" maxOutputBuffer)" = 2048/2048 ] || return 1
    wait_terminal "$id1" && wait_terminal "$id2" || return 1
    bt config reset timeout
    bt config reset maxOutputBuffer
}

case_partial_invalidity() {
    local before j
    start_daemon || return 1
    before=$(reloads)
    write_config '{"timeout": 90000, "maxWorkers": "lots", "logLevel": "loud",
      "agents": {"claude": {"model": 42, "maxConcurrent": 3},
                 "codex": {"modle": "x", "model": "o-good"}}}'
    j=$("$BEAT" config show --json)
    ck "timeout from the file" [ "$(echo "$j" | jpy '[(k["value"], k["source"]) for k in d["keys"] if k["key"] == "timeout"][0]')" = '[90000, "file"]' ] || return 1
    ck "maxWorkers falls back alone" [ "$(echo "$j" | jpy '[(k["value"], k["source"], "problem" in k) for k in d["keys"] if k["key"] == "maxWorkers"][0]')" = '[16, "default", true]' ] || return 1
    ck "logLevel falls back alone" [ "$(echo "$j" | jpy '[k["value"] for k in d["keys"] if k["key"] == "logLevel"][0]')" = info ] || return 1
    ck "4 problems (got $(echo "$j" | jget problems))" [ "$(echo "$j" | jpy 'len(d["problems"])')" = 4 ] || return 1
    ck "bad agent field named" [ "$(echo "$j" | jpy 'any("agents.claude.model" in p for p in d["problems"])')" = true ] || return 1
    ck "did you mean model" [ "$(echo "$j" | jpy 'any("did you mean '"'"'model'"'"'" in p for p in d["problems"])')" = true ] || return 1
    ck "claude keeps maxConcurrent, loses model" [ "$(echo "$j" | jpy 'd["agents"]["claude"]')" = '{"maxConcurrent": 3}' ] || return 1
    ck "codex keeps its good model" [ "$(echo "$j" | jpy 'd["agents"]["codex"]["model"]')" = o-good ] || return 1
    # The daemon reloads on its own and logs each problem; the rest applies.
    ck "daemon reloaded" wait_for --timeout 10 more_reloads_than "$before" || return 1
    ck "daemon.log names maxWorkers" wait_for --timeout 5 file_has "$BACKBEAT_HOME/daemon.log" 'config: maxWorkers="lots"' || return 1
    ck "daemon.log names agents.claude.model" file_has "$BACKBEAT_HOME/daemon.log" 'config: agents.claude.model' || return 1
    bt agents list --json
    ck "ListAgents still sees claude's maxConcurrent 3" [ "$(out | jpy '[a.get("maxConcurrent") for a in d["agents"] if a["name"] == "claude"][0]')" = 3 ] || return 1
    ck "ListAgents shows codex's model" [ "$(out | jpy '[a.get("model") for a in d["agents"] if a["name"] == "codex"][0]')" = o-good ] || return 1
    ck "ListAgents reports the agents problems" [ "$(out | jpy 'len(d["problems"])')" = 2 ] || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_atomic_writes() {
    local i pids="" reader
    rm -f "$BACKBEAT_HOME/config.json"
    bt config set agents.claude.model opus
    ck "set (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    ck "config.json is 0600" [ "$(stat -c %a "$BACKBEAT_HOME/config.json")" = 600 ] || return 1
    ck "home is 0700" [ "$(stat -c %a "$BACKBEAT_HOME")" = 700 ] || return 1
    # Many writers and one reader at once: the reader never sees a partial file.
    python3 - "$BACKBEAT_HOME/config.json" "$E2E_DIR/stop-reader" >"$E2E_DIR/reader.out" <<'EOF' &
import json, os, sys
path, stop = sys.argv[1:3]
reads = bad = 0
while not os.path.exists(stop) or reads < 50:
    try:
        with open(path, "rb") as f:
            json.loads(f.read())
    except FileNotFoundError:
        pass
    except ValueError:
        bad += 1
    reads += 1
print(reads, bad)
EOF
    reader=$!
    for i in $(seq 1 20); do
        "$BEAT" config set agents.claude.model "m$i" >/dev/null 2>&1 &
        pids="$pids $!"
        "$BEAT" config set agents.codex.maxConcurrent "$i" >/dev/null 2>&1 &
        pids="$pids $!"
    done
    for i in $pids; do
        wait "$i" || { bad "a concurrent config set failed"; touch "$E2E_DIR/stop-reader"; wait "$reader"; return 1; }
    done
    touch "$E2E_DIR/stop-reader"
    wait "$reader"
    ck "reader saw only whole files ($(cat "$E2E_DIR/reader.out"))" [ "$(cut -d' ' -f2 "$E2E_DIR/reader.out")" = 0 ] || return 1
    ck "final file is JSON" is_json "$BACKBEAT_HOME/config.json" || return 1
    ck "no temporary files left ($(ls -A "$BACKBEAT_HOME" | tr '\n' ' '))" \
        [ -z "$(ls -A "$BACKBEAT_HOME" | grep -v -E '^(config\.(json|lock)|daemon\..*|backbeat\.db.*|output)$')" ] || return 1
    # Writers of different keys never lose each other's update (config.lock serialises them).
    ck "both keys survived the concurrent writers" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["agents"]
sys.exit(0 if c["claude"]["model"].startswith("m") and isinstance(c["codex"]["maxConcurrent"], int) else 1)' \
        "$BACKBEAT_HOME/config.json" || return 1
    # A file that does not parse is never overwritten.
    printf '{oops' >"$BACKBEAT_HOME/config.json"
    bt config set agents.claude.model x
    ck "set on a broken file: exit 1 (got $RC)" [ "$RC" = 1 ] || return 1
    ck "the message says so" grep -q "is not valid JSON" "$E2E_DIR/last.err" || return 1
    ck "the broken file is untouched" [ "$(cat "$BACKBEAT_HOME/config.json")" = '{oops' ] || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_live_reload() {
    local m id before
    start_daemon || return 1
    m=$(uniq_marker)
    write_config '{"defaultAgent": "codex"}'
    id=$(submit "live $m one") || return 1
    ck "the new default is used (got $(tf "$id" agent))" [ "$(tf "$id" agent)" = codex ] || return 1
    write_config '{"defaultAgent": "gemini"}'
    id=$(submit "live $m two") || return 1
    ck "and the next one (got $(tf "$id" agent))" [ "$(tf "$id" agent)" = gemini ] || return 1
    wait_terminal "$id" || return 1
    # Agent settings the daemon holds: picked up within about a second of the change.
    before=$(reloads)
    write_config '{"defaultAgent": "claude", "agents": {"claude": {"model": "live-1"}}}'
    ck "daemon reloaded" wait_for --timeout 10 more_reloads_than "$before" || return 1
    id=$(submit "live $m three") || return 1
    wait_terminal "$id" || return 1
    ck "claude got --model live-1" argv_has "live $m three" --model live-1 || return 1
    before=$(reloads)
    write_config '{"defaultAgent": "claude", "agents": {"claude": {"model": "live-2"}}}'
    ck "daemon reloaded again" wait_for --timeout 10 more_reloads_than "$before" || return 1
    id=$(submit "live $m four") || return 1
    wait_terminal "$id" || return 1
    ck "claude got --model live-2" argv_has "live $m four" --model live-2 || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_masking() {
    local s1 s2 m id r
    start_daemon || return 1
    s1="sk-ant-e2e$(uniq_marker)"
    s2="sk-oai-e2e$(uniq_marker)"
    bt config set logLevel debug
    bt config set agents.claude.apiKey "$s1"
    ck "set apiKey (exit $RC)" [ "$RC" = 0 ] || return 1
    ck "set prints the key masked ($(out))" [ "$(out)" = "agents.claude.apiKey = sk-...${s1: -3}" ] || return 1
    bt config show
    ck "config show masks it" [ "$RC" = 0 ] && grep -q "sk-...${s1: -3}" "$E2E_DIR/last.out" || return 1
    ck "config show never shows it" not grep -qF "$s1" "$E2E_DIR/last.out" || return 1
    bt config show --json
    ck "config show --json never shows it" not grep -qF "$s1" "$E2E_DIR/last.out" || return 1
    bt agents list --json
    ck "ListAgents never shows it" [ "$RC" = 0 ] && not grep -qF "$s1" "$E2E_DIR/last.out" || return 1
    ck "ListAgents: claude authenticates by config-file" [ "$(out | jpy '[a["authMethod"] for a in d["agents"] if a["name"] == "claude"][0]')" = config-file ] || return 1
    bt agents check claude --json
    ck "check shows the key masked" [ "$(out | jget storedKey)" = "sk-...${s1: -3}" ] || return 1
    ck "check never shows it" not grep -qF "$s1" "$E2E_DIR/last.out" || return 1
    # The key reaches the agent when the client has none; the client's own key wins.
    m=$(uniq_marker)
    id=$(submit -a claude "mask $m one") || return 1
    wait_terminal "$id" || return 1
    ck "the agent got the stored key" [ "$(fake_rec "mask $m one" env.ANTHROPIC_API_KEY)" = "$s1" ] || return 1
    id=$(ANTHROPIC_API_KEY=client-own-key submit -a claude "mask $m two") || return 1
    wait_terminal "$id" || return 1
    ck "the client's key wins" [ "$(fake_rec "mask $m two" env.ANTHROPIC_API_KEY)" = client-own-key ] || return 1
    bt status "$id" --json
    ck "status never shows a key" not grep -qF -e "$s1" -e client-own-key "$E2E_DIR/last.out" || return 1
    # ConfigureAgent over MCP: set, check and list answer with masks only.
    r=$(mcp_session "{\"name\":\"ConfigureAgent\",\"arguments\":{\"agent\":\"codex\",\"action\":\"set\",\"apiKey\":\"$s2\"}}" \
        '{"name":"ConfigureAgent","arguments":{"agent":"codex"}}' \
        '{"name":"ListAgents","arguments":{}}') || { bad "mcp session failed"; return 1; }
    ck "ConfigureAgent set answers masked ($(echo "$r" | head -1 | head -c 300))" \
        [ "$(echo "$r" | sed -n 1p | jget structuredContent.message)" = "API key stored for codex (sk-...${s2: -3})" ] || return 1
    ck "ConfigureAgent check: storedKey masked" [ "$(echo "$r" | sed -n 2p | jget structuredContent.storedKey)" = "sk-...${s2: -3}" ] || return 1
    ck "ConfigureAgent check: method config-file" [ "$(echo "$r" | sed -n 2p | jget structuredContent.method)" = config-file ] || return 1
    ck "no MCP answer holds a key" not grep -qF -e "$s1" -e "$s2" <<<"$r" || return 1
    ck "the key is stored" grep -qF "$s2" "$BACKBEAT_HOME/config.json" || return 1
    ck "daemon.log never holds a key" not grep -qF -e "$s1" -e "$s2" -e client-own-key "$BACKBEAT_HOME/daemon.log" || return 1
    ck "daemon.log was at debug level" file_has "$BACKBEAT_HOME/daemon.log" " debug " || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

# run_without_agent_says TEXT: `beat run` with no agent fails with TEXT in its message.
run_without_agent_says() {
    bt run "no agent at all"
    [ "$RC" != 0 ] && grep -q "$1" "$E2E_DIR/last.err"
}

case_user_agent() {
    local m id j
    start_daemon || return 1
    bt config set agents.txt.command '["textagent", "--workdir", "{workdir}", "--model={model}", "--session={session}", "--", "{prompt}"]'
    ck "define txt (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    bt config set agents.txt.description "Plain text agent"
    m=$(uniq_marker)
    id=$(submit -a txt "user $m one [lines=3] [result=ALL DONE]") || return 1
    wait_status "$id" completed || return 1
    j=$(tjson "$id")
    ck "text parser: the last line is the result (got $(echo "$j" | jget result))" [ "$(echo "$j" | jget result)" = "ALL DONE" ] || return 1
    ck "agent txt" [ "$(echo "$j" | jget agent)" = txt ] || return 1
    ck "exact argv ($(fake_rec "user $m one" argv))" [ "$(fake_rec "user $m one" argv)" = "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' textagent --workdir "$WORK" -- "user $m one [lines=3] [result=ALL DONE]")" ] || return 1
    bt logs "$id"
    ck "logs have the plain lines" grep -q "line 2" "$E2E_DIR/last.out" || return 1
    # Per-task model and system prompt through the template.
    id=$(submit -a txt --model tm-1 --system-prompt "SYS-TEXT" "user $m two") || return 1
    wait_status "$id" completed || return 1
    ck "--model=tm-1 in argv" [ "$(fake_rec "user $m two" model)" = tm-1 ] || return 1
    ck "system prompt in front of the prompt" [ "$(fake_rec "user $m two" prompt | head -n 1)" = "<system-instructions>" ] || return 1
    ck "SYS-TEXT in the block" [ "$(fake_rec "user $m two" prompt | sed -n 2p)" = SYS-TEXT ] || return 1
    # A stream parser for a user-defined agent: the fake claude behind our own template.
    bt config set agents.myclaude '{"command": ["claude", "-p", "--output-format", "stream-json", "--verbose", "--", "{prompt}"], "parser": "claude"}'
    ck "define myclaude (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    id=$(submit -a myclaude "user $m three") || return 1
    wait_status "$id" completed || return 1
    j=$(tjson "$id")
    ck "claude parser: result (got $(echo "$j" | jget result))" [ "$(echo "$j" | jget result)" = "Hello from fake claude." ] || return 1
    ck "claude parser: session id" [ -n "$(echo "$j" | jget sessionId)" ] || return 1
    ck "claude parser: usage" [ "$(echo "$j" | jget usage.outputTokens)" = 8 ] || return 1
    # Bad input at submission: the name's form, then whether the agent exists.
    bt run -a Txt "x"
    ck "bad agent name: exit 2 ($RC: $(err))" [ "$RC" = 2 ] && grep -q "agent: must be an agent name" "$E2E_DIR/last.err" || return 1
    bt run -a nope "x"
    ck "unknown agent lists the known ones ($(err))" [ "$RC" = 2 ] && grep -q 'unknown agent "nope"; known agents: claude, codex, gemini, txt, myclaude' "$E2E_DIR/last.err" || return 1
    # No agent and no default: the user-defined agents whose program is on PATH count as
    # installed, the others are only known.
    # (`config set` refuses a program that is not on PATH: written by hand, seen on reload.)
    python3 - "$BACKBEAT_HOME/config.json" <<'EOF'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
d["agents"]["absent"] = {"command": ["no-such-agent-cli", "{prompt}"]}
open(p + ".tmp", "w").write(json.dumps(d))
os.rename(p + ".tmp", p)
EOF
    ck "installed agents listed ($(err))" wait_for --timeout 10 run_without_agent_says \
        'installed agents: claude, codex, gemini, txt, myclaude\. Pass agent (one of claude, codex, gemini, txt, myclaude, absent)' || return 1
    ck "no agent, no default: exit 2 (got $RC)" [ "$RC" = 2 ] || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_bad_agent_at_run_time() {
    local m id r
    start_daemon || return 1
    m=$(uniq_marker)
    printf '#!/bin/sh\necho "ghost says: $*"\n' >"$BIN/ghostagent"
    chmod +x "$BIN/ghostagent"
    bt config set agents.ghost.command '["ghostagent", "{prompt}"]'
    ck "define ghost (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    id=$(submit -a ghost "ghost $m ok") || return 1
    wait_status "$id" completed || return 1
    ck "ghost ran (result $(tf "$id" result))" [ "$(tf "$id" result)" = "ghost says: ghost $m ok" ] || return 1
    # Not on the PATH of the client that submits.
    id=$(PATH=$FAKE_DIR:/usr/bin:/bin submit -a ghost "ghost $m gone") || return 1
    wait_status "$id" failed || return 1
    r=$(tf "$id" reason)
    ck "reason: not installed ($r)" matches "$r" "agent 'ghost' is not installed: no 'ghostagent' executable on the client's PATH" || return 1
    # A template without {prompt}, written by hand: the task fails saying why.
    python3 - "$BACKBEAT_HOME/config.json" <<'EOF'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
d["agents"]["ghost"]["command"] = ["ghostagent", "hello"]
open(p + ".tmp", "w").write(json.dumps(d))
os.rename(p + ".tmp", p)
EOF
    ck "daemon.log reports the template" wait_for --timeout 10 file_has "$BACKBEAT_HOME/daemon.log" "agents.ghost.command: no argument holds {prompt}" || return 1
    id=$(submit -a ghost "ghost $m noprompt") || return 1
    wait_status "$id" failed || return 1
    r=$(tf "$id" reason)
    ck "reason: no {prompt} ($r)" matches "$r" "agents.ghost.command: no argument holds \{prompt\}" || return 1
    # And at `config set` time, each a clear error.
    bt config set agents.ghost.command '["ghostagent", "hello"]'
    ck "set: no {prompt} refused ($(err))" [ "$RC" = 2 ] && grep -q "no argument holds {prompt}" "$E2E_DIR/last.err" || return 1
    bt config set agents.ghost.command '["no-such-agent-xyz", "{prompt}"]'
    ck "set: missing program refused ($(err))" [ "$RC" = 2 ] && grep -q "no 'no-such-agent-xyz' executable on PATH" "$E2E_DIR/last.err" || return 1
    bt config set agents.ghost.parser yaml
    ck "set: unknown parser refused ($(err))" [ "$RC" = 2 ] && grep -q "must be one of text, claude, codex, gemini" "$E2E_DIR/last.err" || return 1
    bt config set agents.ghost.modle x
    ck "set: unknown field, did you mean ($(err))" [ "$RC" = 2 ] && grep -q "did you mean 'model'" "$E2E_DIR/last.err" || return 1
    bt config set agents.claude.command '["claude", "{prompt}"]'
    ck "set: a built-in's name refused ($(err))" [ "$RC" = 2 ] && grep -q "claude is a built-in agent" "$E2E_DIR/last.err" || return 1
    bt config set agents.newone.model x
    ck "set: a field of an undefined agent refused ($(err))" [ "$RC" = 2 ] && grep -q "define it first" "$E2E_DIR/last.err" || return 1
    bt config set defaultAgent newone
    ck "set: unknown default agent refused ($(err))" [ "$RC" = 2 ] && grep -q "must be a known agent: claude, codex, gemini, ghost" "$E2E_DIR/last.err" || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_flags_reach_each_cli() {
    local m id a url
    start_daemon || return 1
    m=$(uniq_marker)
    for a in claude codex gemini; do
        bt config set "agents.$a.model" "$a-model-1"
        bt config set "agents.$a.baseUrl" "http://127.0.0.1:9/$a/v1"
        bt config set "agents.$a.systemPrompt" "SP for $a"
        ck "configure $a (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    done
    for a in claude codex gemini; do
        id=$(submit -a "$a" "flags $m $a") || return 1
        wait_status "$id" completed || return 1
    done
    url=http://127.0.0.1:9/claude/v1
    ck "claude: --model" argv_has "flags $m claude" --model claude-model-1 || return 1
    ck "claude: --append-system-prompt" argv_has "flags $m claude" --append-system-prompt "SP for claude" || return 1
    ck "claude: -- then the prompt" argv_has "flags $m claude" -- "flags $m claude" || return 1
    ck "claude: ANTHROPIC_BASE_URL" [ "$(fake_rec "flags $m claude" env.ANTHROPIC_BASE_URL)" = "$url" ] || return 1
    url=http://127.0.0.1:9/codex/v1
    ck "codex: --model" argv_has "flags $m codex" --model codex-model-1 || return 1
    ck "codex: developer_instructions ($(fake_rec "flags $m codex" system_prompt))" [ "$(fake_rec "flags $m codex" system_prompt)" = "SP for codex" ] || return 1
    ck "codex: model_provider backbeat" [ "$(fake_rec "flags $m codex" config.model_provider)" = backbeat ] || return 1
    ck "codex: provider base_url" [ "$(fake_rec "flags $m codex" config | jpy 'd["model_providers.backbeat.base_url"]')" = "$url" ] || return 1
    ck "codex: wire_api responses" [ "$(fake_rec "flags $m codex" config | jpy 'd["model_providers.backbeat.wire_api"]')" = responses ] || return 1
    ck "codex: env_key OPENAI_API_KEY" [ "$(fake_rec "flags $m codex" config | jpy 'd["model_providers.backbeat.env_key"]')" = OPENAI_API_KEY ] || return 1
    ck "codex: OPENAI_BASE_URL is not used" [ -z "$(fake_rec "flags $m codex" env.OPENAI_BASE_URL)" ] || return 1
    url=http://127.0.0.1:9/gemini/v1
    ck "gemini: --model" argv_has "flags $m gemini" --model gemini-model-1 || return 1
    ck "gemini: system prompt block in front of the prompt" [ "$(fake_rec "flags $m gemini" prompt)" = "<system-instructions>
SP for gemini
</system-instructions>

flags $m gemini" ] || return 1
    ck "gemini: GOOGLE_GEMINI_BASE_URL" [ "$(fake_rec "flags $m gemini" env.GOOGLE_GEMINI_BASE_URL)" = "$url" ] || return 1
    ck "gemini: GEMINI_CLI_NO_RELAUNCH" [ "$(fake_rec "flags $m gemini" env.GEMINI_CLI_NO_RELAUNCH)" = true ] || return 1
    # Per task, model and system prompt win over the configured ones.
    id=$(submit -a claude --model task-model --system-prompt "task SP" "flags $m task") || return 1
    wait_status "$id" completed || return 1
    ck "per-task --model" argv_has "flags $m task" --model task-model || return 1
    ck "per-task system prompt" argv_has "flags $m task" --append-system-prompt "task SP" || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_max_concurrent() {
    local m a1 a2 b r
    start_daemon || return 1
    m=$(uniq_marker)
    bt config set agents.capped.command '["textagent", "--", "{prompt}"]'
    bt config set agents.capped.maxConcurrent 1
    ck "configure capped (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    a1=$(submit -a capped "cap $m one [wait-file=$E2E_DIR/cap-release-1]") || return 1
    wait_status "$a1" running || return 1
    a2=$(submit -a capped "cap $m two") || return 1
    b=$(submit -a claude "cap $m other [wait-file=$E2E_DIR/cap-release-2]") || return 1
    # Another agent's task runs while the capped agent's second task waits, saying why.
    wait_status "$b" running || return 1
    ck "the second capped task waits (is $(tstatus "$a2"))" is_status "$a2" queued || return 1
    r=$(tf "$a2" waitingReason)
    ck "with a reason naming the cap ($r)" matches "$r" "capped.*maxConcurrent 1" || return 1
    touch "$E2E_DIR/cap-release-1"
    wait_status "$a1" completed || return 1
    wait_status "$a2" completed || return 1
    ck "it started after the first ended" [ "$(tf "$a2" startedAt)" -ge "$(tf "$a1" completedAt)" ] || return 1
    touch "$E2E_DIR/cap-release-2"
    wait_status "$b" completed || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_list_and_check() {
    local j t0 ms pid
    start_daemon || return 1
    cat >"$BIN/vtool" <<EOF
#!/bin/sh
if [ "\$1" = --version ]; then echo x >>"$E2E_DIR/vtool.probes"; echo "vtool 1.2.3"; exit 0; fi
echo "vtool did: \$*"
EOF
    printf '#!/bin/sh\n[ "$1" = --version ] && exec sleep 37.25\necho slow\n' >"$BIN/slowtool"
    printf '#!/bin/sh\necho gone\n' >"$BIN/gonetool"
    chmod +x "$BIN/vtool" "$BIN/slowtool" "$BIN/gonetool"
    bt config set agents.vtool.command '["vtool", "{prompt}"]'
    bt config set agents.gone.command '["gonetool", "{prompt}"]'
    bt config set defaultAgent vtool
    ck "configure (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    rm -f "$BIN/gonetool"
    bt agents list --json
    ck "agents list --json (exit $RC: $(err))" [ "$RC" = 0 ] || return 1
    j=$(out)
    ck "built-ins first, then ours" [ "$(echo "$j" | jpy '[a["name"] for a in d["agents"]]')" = '["claude", "codex", "gemini", "vtool", "gone"]' ] || return 1
    ck "vtool: version, default, installed" [ "$(echo "$j" | jpy '[(a["version"], a["isDefault"], a["installed"], a["builtin"]) for a in d["agents"] if a["name"] == "vtool"][0]')" = '["vtool 1.2.3", true, true, false]' ] || return 1
    ck "defaultAgent vtool" [ "$(echo "$j" | jget defaultAgent)" = vtool ] || return 1
    ck "claude: installed, version unknown with the reason" [ "$(echo "$j" | jpy '[(a["installed"], a["version"], "versionError" in a) for a in d["agents"] if a["name"] == "claude"][0]')" = '[true, null, true]' ] || return 1
    ck "claude: may need login" [ "$(echo "$j" | jpy '[a["authMethod"] for a in d["agents"] if a["name"] == "claude"][0]')" = cli-installed ] || return 1
    ck "gone: not installed, with a hint" [ "$(echo "$j" | jpy '[(a["installed"], a["authStatus"], "not found on PATH" in a["hint"]) for a in d["agents"] if a["name"] == "gone"][0]')" = '[false, "not-configured", true]' ] || return 1
    # The version is cached per program file: a second list does not probe again; a new file does.
    bt agents list --json
    ck "one probe for two lists ($(wc -l <"$E2E_DIR/vtool.probes"))" [ "$(wc -l <"$E2E_DIR/vtool.probes")" = 1 ] || return 1
    touch -d '2001-01-01' "$BIN/vtool"
    bt agents list --json
    ck "a changed file is probed again" [ "$(wc -l <"$E2E_DIR/vtool.probes")" = 2 ] || return 1
    bt agents list
    ck "human list (exit $RC)" [ "$RC" = 0 ] && grep -qE '^vtool +\* +yes +vtool 1.2.3' "$E2E_DIR/last.out" || return 1
    bt agents check vtool
    ck "check a ready agent: exit 0 ($RC)" [ "$RC" = 0 ] && grep -q "vtool 1.2.3" "$E2E_DIR/last.out" || return 1
    bt agents check gone
    ck "check an agent that is not installed: exit 1 ($RC)" [ "$RC" = 1 ] && grep -q "action needed" "$E2E_DIR/last.out" || return 1
    bt agents check nope
    ck "check an unknown agent: exit 2 ($RC: $(err))" [ "$RC" = 2 ] && grep -q 'unknown agent "nope"' "$E2E_DIR/last.err" || return 1
    # A --version that hangs: the list still answers (within the probe's timeout), and the
    # daemon keeps serving other requests meanwhile.
    bt config set agents.slow.command '["slowtool", "{prompt}"]'
    t0=$(now_ms)
    "$BEAT" agents list --json >"$E2E_DIR/slow.out" 2>&1 &
    pid=$!
    ck "the probe is running" wait_for --timeout 5 pgrep -f "sleep 37.25" || { wait "$pid"; return 1; }
    bt status --json
    ms=$(($(now_ms) - t0))
    ck "status answers while the probe runs (exit $RC, ${ms} ms)" [ "$RC" = 0 ] && kill -0 "$pid" 2>/dev/null || { wait "$pid"; return 1; }
    wait "$pid"
    ms=$(($(now_ms) - t0))
    ck "the list came back within the probe timeout (${ms} ms)" [ "$ms" -lt 8000 ] || return 1
    ck "slow: no version, says why" [ "$(jpy '[(a["version"], "did not answer" in a.get("versionError", "")) for a in d["agents"] if a["name"] == "slow"][0]' <"$E2E_DIR/slow.out")" = '[null, true]' ] || return 1
    ck "the hung probe was killed" wait_for --timeout 5 not pgrep -f "sleep 37.25" || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

case_configure_agent_mcp() {
    local r
    start_daemon || return 1
    bt config set agents.mine.command '["textagent", "{prompt}"]'
    r=$(mcp_session \
        '{"name":"ConfigureAgent","arguments":{"agent":"claude","action":"set","model":"mcp-model","maxConcurrent":2,"baseUrl":"https://u:pw@proxy.example/v1"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"claude","action":"set"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"claude","action":"set","model":"-bad"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"nope"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"claude","apiKey":"k"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"mine","action":"set","model":"m1"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"mine","action":"reset"}}' \
        '{"name":"ConfigureAgent","arguments":{"agent":"claude","action":"reset"}}' \
        '{"name":"ListAgents","arguments":{}}') || { bad "mcp session failed"; return 1; }
    ck "set several fields ($(echo "$r" | sed -n 1p | head -c 300))" [ "$(echo "$r" | sed -n 1p | jget structuredContent.updated)" = '["model", "baseUrl", "maxConcurrent"]' ] || return 1
    ck "set message masks the URL's password" [ "$(echo "$r" | sed -n 1p | jpy '"u:pw" not in json.dumps(d) and "***@proxy.example" in d["structuredContent"]["message"]')" = true ] || return 1
    ck "set without a field is an error" [ "$(echo "$r" | sed -n 2p | jpy 'd["isError"] and "at least one of apiKey" in d["content"][0]["text"]')" = true ] || return 1
    ck "a bad model names the field" [ "$(echo "$r" | sed -n 3p | jpy 'd["isError"] and "agents.claude.model" in d["content"][0]["text"]')" = true ] || return 1
    ck "an unknown agent lists the known ones" [ "$(echo "$r" | sed -n 4p | jpy 'd["isError"] and "known agents: claude, codex, gemini, mine" in d["content"][0]["text"]')" = true ] || return 1
    ck "apiKey only with set" [ "$(echo "$r" | sed -n 5p | jpy 'd["isError"] and "apiKey: only with action set" in d["content"][0]["text"]')" = true ] || return 1
    ck "set on a user-defined agent" [ "$(echo "$r" | sed -n 6p | jpy 'd.get("isError", False)')" = false ] || return 1
    ck "reset of a user-defined agent keeps its command" [ "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["agents"]["mine"]))' "$BACKBEAT_HOME/config.json")" = '{"command": ["textagent", "{prompt}"]}' ] || return 1
    ck "reset of claude removes its entry" [ "$(python3 -c 'import json,sys; print("claude" in json.load(open(sys.argv[1]))["agents"])' "$BACKBEAT_HOME/config.json")" = False ] || return 1
    ck "ListAgents over MCP" [ "$(echo "$r" | sed -n 9p | jpy '[a["name"] for a in d["structuredContent"]["agents"]]')" = '["claude", "codex", "gemini", "mine"]' ] || return 1
    rm -f "$BACKBEAT_HOME/config.json"
}

# pty_init ANSWERS...: runs `beat init` on a pseudo-terminal, typing each answer after the
# next prompt; prints everything it wrote.
pty_init() {
    python3 - "$BEAT" "$@" <<'EOF'
import os, pty, select, subprocess, sys, time
beat, answers = sys.argv[1], sys.argv[2:]
master, slave = pty.openpty()
p = subprocess.Popen([beat, "init"], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
os.close(slave)
out = b""
deadline = time.time() + 20
def read_until(pred):
    global out
    while not pred(out):
        left = deadline - time.time()
        if left <= 0:
            sys.stdout.write(out.decode(errors="replace")); sys.exit("pty_init: timed out")
        r, _, _ = select.select([master], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:
            return
        if not chunk:
            return
        out += chunk
for a in answers:
    n = out.count(b"]")
    read_until(lambda o: o.count(b"]") > n and (o.rstrip().endswith(b":") or o.rstrip().endswith(b"]")))
    os.write(master, a.encode() + b"\n")
read_until(lambda o: False)
p.wait(timeout=10)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(p.returncode)
EOF
}

case_init() {
    local o
    use_home inithome
    bt init </dev/null
    ck "no terminal, no --agent: exit 2 ($RC)" [ "$RC" = 2 ] && grep -q "no terminal to ask on; run \`beat init --agent <name>\`" "$E2E_DIR/last.err" || return 1
    ck "nothing written" [ ! -e "$BACKBEAT_HOME/config.json" ] || return 1
    bt init --agent nope
    ck "unknown agent: exit 2 ($RC: $(err))" [ "$RC" = 2 ] && grep -q "unknown agent 'nope'" "$E2E_DIR/last.err" || return 1
    bt init --agent codex
    ck "init --agent codex (exit $RC: $(err))" [ "$RC" = 0 ] && grep -q "Default agent set to 'codex'" "$E2E_DIR/last.out" || return 1
    ck "written" [ "$(jget defaultAgent <"$BACKBEAT_HOME/config.json")" = codex ] || return 1
    # On a terminal: keep what is there, or choose again (by name or number).
    o=$(pty_init n) || { bad "init on a terminal failed: $o"; return 1; }
    ck "keeps the configuration" grep -q "Configuration unchanged" <<<"$o" || return 1
    o=$(pty_init y gemini) || { bad "init on a terminal failed: $o"; return 1; }
    ck "chooses by name ($o)" grep -q "Default agent set to 'gemini'" <<<"$o" || return 1
    ck "offers the built-ins" grep -q "Claude Code (Anthropic)" <<<"$o" || return 1
    ck "written again" [ "$(jget defaultAgent <"$BACKBEAT_HOME/config.json")" = gemini ] || return 1
    o=$(pty_init y 1) || { bad "init on a terminal failed: $o"; return 1; }
    ck "chooses by number" grep -q "Default agent set to 'claude'" <<<"$o" || return 1
}

run_case "precedence: environment over file, key by key" case_precedence
run_case "partial invalidity" case_partial_invalidity
run_case "atomic writes" case_atomic_writes
run_case "live reload" case_live_reload
run_case "API keys are masked everywhere" case_masking
run_case "a user-defined agent end to end" case_user_agent
run_case "bad agent configuration: at set time and at run time" case_bad_agent_at_run_time
run_case "model, system prompt, base URL reach each CLI" case_flags_reach_each_cli
run_case "per-agent maxConcurrent" case_max_concurrent
run_case "agents list and check" case_list_and_check
run_case "ConfigureAgent and ListAgents over MCP" case_configure_agent_mcp
run_case "beat init" case_init
finish
