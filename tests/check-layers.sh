#!/usr/bin/env bash
# Enforces the layering of docs/architecture.md: who may include what.
set -u
src=${1:?usage: check-layers.sh SRC_DIR}
cd "$src" || exit 2
fail=0
bad() { echo "layer violation: $*"; fail=1; }
# SQLite only in store/, libuv only in runtime/ and mcp/ (socket streams).
for f in $(grep -rl 'sqlite3' --include='*.[ch]' . | grep -v '^./store/'); do bad "$f uses sqlite3"; done
for f in $(grep -rlE '<uv\.h>|\buv_[a-z_]+\(' --include='*.[ch]' . | grep -vE '^./(runtime|mcp)/'); do bad "$f uses libuv"; done
# Leaf layers include nothing above them.
for f in $(grep -lE '#include "(core|store|runtime|agents|mcp|cli|cron)/' util/*.[ch] 2>/dev/null); do bad "$f (util) includes an upper layer"; done
for f in $(grep -lE '#include "(core|store|runtime|agents|mcp|cli)/' cron/*.[ch] 2>/dev/null); do bad "$f (cron) includes an upper layer"; done
# store, runtime, agents may use core/task.h (the domain type) but nothing else above them.
for d in store runtime agents; do
  for f in $(grep -lE '#include "(mcp|cli)/' $d/*.[ch] 2>/dev/null); do bad "$f ($d) includes mcp/cli"; done
  for f in $(grep -E '#include "core/' $d/*.[ch] 2>/dev/null | grep -v 'core/task.h' | cut -d: -f1 | sort -u); do bad "$f ($d) includes core beyond task.h"; done
done
for f in $(grep -lE '#include "cli/' core/*.[ch] mcp/*.[ch] 2>/dev/null); do bad "$f includes cli"; done
[ $fail -eq 0 ] && echo "layers: ok"
exit $fail
