#!/usr/bin/env bash
# Benchmark of `driftd run` against a private moto: edit-to-converged latency
# (p50/p99 over 50 edits) and the daemon's idle CPU and memory with 1,000
# resources in the desired state. Not a test: it takes several minutes and
# prints a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench-daemon.sh [--resources N] [--edits N] [--idle SECONDS] [--interval 4m]
#
# Builds the dev profile (the shared development machines never build
# --release; set DRIFTD_BIN to benchmark another build, e.g. target/release/driftd).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-emulator.sh
if [ -z "${DRIFTD_BIN:-}" ]; then
  cargo build --quiet --bin driftd
  DRIFTD_BIN=target/debug/driftd
fi
exec .venv/bin/python scripts/bench_daemon.py --driftd "$DRIFTD_BIN" --moto .venv/bin/moto_server "$@"
