#!/usr/bin/env bash
# Benchmark of driftd at scale against a private moto: for N alarms and N/10
# each of topics (3 subscriptions each), secrets, dashboards and ECS
# service counts, a cold `plan`, the first `apply` and a steady-state daemon
# pass: wall time, AWS calls by operation against the API-call floor, peak
# RSS. Not a test; prints Markdown for BENCHMARKS.md.
#
# Usage: scripts/bench-scale.sh N [--rps SERVICE[.Operation]=N]...
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-emulator.sh
if [ -z "${DRIFTD_BIN:-}" ]; then
  cargo build --quiet --bin driftd
  DRIFTD_BIN=target/debug/driftd
fi
exec .venv/bin/python scripts/bench_scale.py --driftd "$DRIFTD_BIN" --moto .venv/bin/moto_server "$@"
