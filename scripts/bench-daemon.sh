#!/usr/bin/env bash
# Benchmark of `driftd run` against a private moto: edit-to-converged latency
# (p50/p99 over 50 edits) and the daemon's idle CPU and memory with 1,000
# resources in the desired state. Not a test: it takes several minutes and
# prints a Markdown table for BENCHMARKS.md.
#
# Usage: scripts/bench-daemon.sh [--resources N] [--edits N] [--idle SECONDS] [--interval 4m]
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
exec "$(dirname "$0")/bench.sh" daemon "$@"
