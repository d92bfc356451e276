#!/usr/bin/env bash
# Installs promtool (Debian package `prometheus`), which tests/daemon.rs runs
# on the daemon's /metrics output. Idempotent: does nothing when promtool is
# already on the PATH.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "promtool is missing and installing it needs root: apt-get install prometheus" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
echo "installed promtool: $(promtool --version 2>&1 | head -n1)" >&2
