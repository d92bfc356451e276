#!/usr/bin/env bash
# Benchmark: a no-drift `driftd plan` of 3 environments (3 accounts of a
# private moto) against 1, to show environments are read concurrently.
# Not a test; prints a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench-environments.sh [--alarms 30] [--topics 3] [--dashboards 5] [--runs 7]
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-emulator.sh
if [ -z "${DRIFTD_BIN:-}" ]; then
  cargo build --quiet --bin driftd
  DRIFTD_BIN=target/debug/driftd
fi
exec .venv/bin/python scripts/bench_environments.py --driftd "$DRIFTD_BIN" --moto .venv/bin/moto_server "$@"
