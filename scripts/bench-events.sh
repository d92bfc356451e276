#!/usr/bin/env bash
# Benchmark of change events: event -> corrected p50/p99 over 100 events
# and the AWS calls per event, against a private moto.
# Not a test; prints a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench-events.sh [--events 100]
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-emulator.sh
if [ -z "${DRIFTD_BIN:-}" ]; then
  cargo build --quiet --bin driftd
  DRIFTD_BIN=target/debug/driftd
fi
exec .venv/bin/python scripts/bench_events.py --driftd "$DRIFTD_BIN" --moto .venv/bin/moto_server "$@"
