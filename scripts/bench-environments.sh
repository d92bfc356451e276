#!/usr/bin/env bash
# Benchmark: a no-drift `driftd plan` of 3 environments (3 accounts of a
# private moto) against 1, to show environments are read concurrently.
# Not a test; prints a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench-environments.sh [--alarms 30] [--topics 3] [--dashboards 5] [--runs 7]
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
exec "$(dirname "$0")/bench.sh" environments "$@"
