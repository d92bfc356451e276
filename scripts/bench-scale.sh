#!/usr/bin/env bash
# Benchmark of driftd at scale against a private moto: for N alarms and N/10
# each of topics (3 subscriptions each), secrets, dashboards and ECS
# service counts, a cold `plan`, the first `apply` and a steady-state daemon
# pass: wall time, AWS calls by operation against the API-call floor, peak
# RSS. Not a test; prints Markdown for BENCHMARKS.md.
#
# Usage: scripts/bench-scale.sh N [--rps SERVICE[.Operation]=N]...
# (DRIFTD_BIN=target/release/driftd to benchmark another build.)
exec "$(dirname "$0")/bench.sh" scale "$@"
