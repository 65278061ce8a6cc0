#!/usr/bin/env bash
# Installs the pinned MCP TypeScript SDK client (and Inspector) used by the end-to-end tests,
# from the lock file, once.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e/mcp"
[ -f package-lock.json ] || exit 0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
