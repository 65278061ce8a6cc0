#!/usr/bin/env bash
# Runs the MCP end-to-end suite (tests/e2e/mcp/*.test.mjs: the pinned MCP TypeScript SDK client
# and the MCP Inspector CLI against `beat mcp start`) with node's test runner; forwards its exit
# status. scripts/e2e-setup.sh installs tests/e2e/mcp/node_modules from the lock file.
set -u
if [ -z "${BEAT:-}" ] || [ -z "${BEAT_SRC:-}" ]; then
    echo "FAIL setup: BEAT and BEAT_SRC must be set"
    exit 1
fi
BEAT=$(cd "$(dirname "$BEAT")" && pwd)/$(basename "$BEAT")
BEAT_SRC=$(cd "$BEAT_SRC" && pwd)
export BEAT BEAT_SRC
dir=$BEAT_SRC/tests/e2e/mcp
if ! command -v node >/dev/null; then
    echo "FAIL setup: node is not installed (scripts/deps.sh installs it)"
    exit 1
fi
if [ ! -d "$dir/node_modules/@modelcontextprotocol/sdk" ] ||
    [ ! -d "$dir/node_modules/@modelcontextprotocol/inspector" ]; then
    echo "FAIL setup: $dir/node_modules is missing: run scripts/e2e-setup.sh (npm ci) first"
    exit 1
fi
# The test decides the agent and the daemon's settings: nothing leaks in from the caller.
unset BACKBEAT_HOME BACKBEAT_DEFAULT_AGENT MAX_WORKERS PROCESS_KILL_GRACE_PERIOD_MS
cd "$dir" || exit 1
# One file at a time: each starts its own daemon, and the machine may have two cores.
exec node --test --test-concurrency=1 ./*.test.mjs
