#!/usr/bin/env bash
# What every benchmark needs: the emulator installed, a driftd build, then
# scripts/bench_<NAME>.py against a private moto.
#
# Usage: scripts/bench.sh NAME [ARGS...] (the scripts/bench-NAME.sh wrappers)
# Builds the dev profile (the shared development machines never build
# --release; set DRIFTD_BIN to benchmark another build, e.g. target/release/driftd).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
scripts/install-emulator.sh
if [ -z "${DRIFTD_BIN:-}" ]; then
  cargo build --quiet --bin driftd
  DRIFTD_BIN=target/debug/driftd
fi
exec .venv/bin/python "scripts/bench_${name}.py" --driftd "$DRIFTD_BIN" --moto .venv/bin/moto_server "$@"
