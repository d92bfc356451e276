#!/usr/bin/env bash
# Benchmark of change events: event -> corrected p50/p99 over 100 events
# and the AWS calls per event, against a private moto.
# Not a test; prints a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench-events.sh [--events 100]
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
exec "$(dirname "$0")/bench.sh" events "$@"
