#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need; idempotent, non-interactive.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libuv1-dev libjansson-dev libsqlite3-dev
      libcmocka-dev tzdata git python3 nodejs npm)
[ "${1:-}" = "--fuzz" ] && pkgs+=(clang)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node from elsewhere (nvm, image) is fine: do not pull Debian's over it.
if command -v node >/dev/null && command -v npm >/dev/null; then
    tmp=(); for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
    missing=("${tmp[@]+"${tmp[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
