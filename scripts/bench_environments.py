#!/usr/bin/env python3
"""Benchmark: a no-drift `driftd plan` of 3 environments against 1 (see
scripts/bench-environments.sh).

Each environment is its own account in a private moto (the first with the
ambient credentials, the others through sts:AssumeRole of a role in their
account, which moto files under that account) and holds the same
resources: ALARMS alarms, TOPICS topics and DASHBOARDS dashboards named
after ${env}. After one `apply`, `plan --env dev` (1 environment) and `plan`
(all 3) run in turn, RUNS times each; the script prints the median wall
time of each and their ratio as a Markdown table, progress on stderr.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from bench_daemon import driftd_env, log, moto_server

ENVIRONMENTS = [
    ("dev", "123456789012", None),
    ("staging", "222222222222", "arn:aws:iam::222222222222:role/driftd"),
    ("prod", "333333333333", "arn:aws:iam::333333333333:role/driftd"),
]


def environments():
    docs = []
    for name, account, role in ENVIRONMENTS:
        doc = f"""apiVersion: driftd/v1
kind: Environment
metadata:
  name: {name}
spec:
  accountId: "{account}"
"""
        if role:
            doc += f"  roleArn: {role}\n"
        docs.append(doc)
    return "---\n".join(docs)


def resources(alarms, topics, dashboards):
    docs = []
    for t in range(topics):
        docs.append(f"""apiVersion: driftd/v1
kind: Topic
metadata:
  name: bench-${{env}}-topic-{t}
spec:
  displayName: Bench ${{env}} {t}
""")
    for i in range(alarms):
        docs.append(f"""apiVersion: driftd/v1
kind: Alarm
metadata:
  name: bench-${{env}}-alarm-{i:03}
spec:
  namespace: Bench
  metricName: Errors
  dimensions:
    Environment: ${{env}}
  statistic: Sum
  period: 60
  evaluationPeriods: 1
  threshold: {i + 1}
  comparisonOperator: GreaterThanThreshold
  alarmActions:
    - topic:bench-${{env}}-topic-{i % topics}
""")
    for d in range(dashboards):
        docs.append(f"""apiVersion: driftd/v1
kind: Dashboard
metadata:
  name: bench-${{env}}-dashboard-{d}
spec:
  body:
    widgets:
      - type: text
        x: 0
        y: 0
        width: 6
        height: 2
        properties:
          markdown: Bench ${{env}} {d}
""")
    return "---\n".join(docs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driftd", required=True)
    parser.add_argument("--moto", required=True)
    parser.add_argument("--alarms", type=int, default=30)
    parser.add_argument("--topics", type=int, default=3)
    parser.add_argument("--dashboards", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with moto_server(args.moto) as endpoint:
        env = driftd_env(endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "environments.yaml"), "w") as f:
                f.write(environments())
            with open(os.path.join(tmp, "resources.yaml"), "w") as f:
                f.write(resources(args.alarms, args.topics, args.dashboards))

            def driftd(*extra):
                started = time.monotonic()
                out = subprocess.run(
                    [args.driftd, *extra, "--desired-state", tmp],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                return out, time.monotonic() - started

            per_env = args.alarms + args.topics + args.dashboards
            log(f"apply: {len(ENVIRONMENTS)} environments of {per_env} resources")
            out, took = driftd("apply")
            if out.returncode != 0:
                raise SystemExit(f"apply failed:\n{out.stdout}\n{out.stderr}")
            log(f"applied in {took:.1f} s")
            one, three = [], []
            for run in range(args.runs):
                for extra, times in ((("plan", "--env", "dev"), one), (("plan",), three)):
                    out, took = driftd(*extra, "--detailed-exitcode")
                    if out.returncode != 0:
                        raise SystemExit(f"{extra}: exit {out.returncode}\n{out.stdout}\n{out.stderr}")
                    times.append(took)
                log(f"run {run + 1}: 1 environment {one[-1]:.2f} s, 3 environments {three[-1]:.2f} s")
            a, b = statistics.median(one), statistics.median(three)
            print(f"| environments | resources | no-drift `plan`, median of {args.runs} (min-max) |")
            print("|---|---|---|")
            print(f"| 1 (`--env dev`) | {per_env} | {a:.2f} s ({min(one):.2f}-{max(one):.2f}) |")
            print(f"| 3 | {3 * per_env} | {b:.2f} s ({min(three):.2f}-{max(three):.2f}) |")
            print(f"\n3 environments / 1: **{b / a:.2f} x**")


if __name__ == "__main__":
    main()
