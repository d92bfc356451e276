#!/usr/bin/env python3
"""Benchmark of driftd at scale against a private moto (see
scripts/bench-scale.sh).

The workload at N: N alarms, N/10 topics with 3 subscriptions each, N/10
secrets, N/10 dashboards and N/10 ECS service counts (the services are
created with boto3 first: driftd only adjusts existing ones). Every call
goes through tests/support/aws_proxy.py, which records it. Three phases:

1. a cold `driftd plan` (nothing exists yet);
2. the first `driftd apply` (creates everything);
3. a steady-state pass of `driftd run` (the resync after the first pass).

For each: wall time, AWS calls by operation, the API-call floor of the
workload (the fewest calls the APIs allow for what the phase must read and
write), and peak RSS (VmHWM). Prints Markdown on stdout, progress on stderr.
`--rps` is passed as `--aws-max-rps` (the emulator has no quotas: without
it the first apply at N=10000 waits for PutMetricAlarm's 3/s, an hour).
"""

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager

import boto3

from bench_daemon import Driftd, driftd_env, log, moto_server

DOCS_PER_FILE = 500
CLUSTER = "bench-scale"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def workload(n):
    small = max(1, n // 10)
    return {"alarms": n, "topics": small, "secrets": small, "dashboards": small, "services": small}


def documents(w):
    for i in range(w["topics"]):
        subs = "\n".join(
            f"    - {{protocol: sqs, endpoint: 'arn:aws:sqs:us-east-1:123456789012:scale-{i}-{q}'}}"
            for q in range(3))
        yield f"""apiVersion: driftd/v1
kind: Topic
metadata: {{name: scale-topic-{i:05}}}
spec:
  displayName: Scale topic {i}
  subscriptions:
{subs}
"""
    for i in range(w["alarms"]):
        yield f"""apiVersion: driftd/v1
kind: Alarm
metadata: {{name: scale-alarm-{i:05}}}
spec:
  namespace: Bench
  metricName: Errors
  dimensions: {{Service: svc-{i % 97}}}
  statistic: Sum
  period: 60
  evaluationPeriods: 1
  threshold: {i % 50 + 1}
  comparisonOperator: GreaterThanThreshold
  alarmActions: [topic:scale-topic-{i % w["topics"]:05}]
"""
    for i in range(w["secrets"]):
        yield f"""apiVersion: driftd/v1
kind: Secret
metadata: {{name: scale/secret-{i:05}}}
spec:
  description: Scale secret {i}
  initialValue: {{placeholderKeys: [password]}}
"""
    for i in range(w["dashboards"]):
        yield f"""apiVersion: driftd/v1
kind: Dashboard
metadata: {{name: scale-dashboard-{i:05}}}
spec:
  body:
    widgets:
      - {{type: text, x: 0, y: 0, width: 6, height: 2, properties: {{markdown: Scale {i}}}}}
"""
    for i in range(w["services"]):
        yield f"""apiVersion: driftd/v1
kind: EcsService
metadata: {{name: scale-svc-{i:05}}}
spec: {{cluster: {CLUSTER}, desiredCount: 0}}
"""


def write_desired(directory, w):
    docs = list(documents(w))
    for f in range(0, len(docs), DOCS_PER_FILE):
        with open(os.path.join(directory, f"part-{f // DOCS_PER_FILE:04}.yaml"), "w") as out:
            out.write("---\n".join(docs[f:f + DOCS_PER_FILE]))


def floor(w, phase):
    """The fewest calls the APIs allow, by what a phase must do: batch reads
    at their batch sizes, one write per resource where no batch write exists."""
    a, t, s, d, e = (w[k] for k in ("alarms", "topics", "secrets", "dashboards", "services"))
    pages = lambda n, size: math.ceil(n / size) if n else 0
    reads = {
        "DescribeAlarms": pages(a, 100),
        "ListTopics": max(1, pages(t, 100)),
        "ListSubscriptions": max(1, pages(3 * t, 100)) if phase != "plan" else 0,
        "ListSecrets": max(1, pages(s, 100)),
        "ListDashboards": max(1, pages(d, 1000)),
        "DescribeServices": pages(e, 10),
        "DescribeScalableTargets": pages(e, 50),
    }
    if phase != "plan":
        # What exists carries tags (owner) and attributes to compare.
        reads["GetResources"] = pages(a + t, 100)
        reads["GetTopicAttributes"] = t
        if phase == "apply":
            reads["ListSubscriptions"] = 0
    writes = {}
    if phase == "apply":
        writes = {"PutMetricAlarm": a, "CreateTopic": t, "Subscribe": 3 * t, "CreateSecret": s,
                  "PutDashboard": d, "TagResource": d, "UpdateService": e}
    return {k: v for k, v in {**reads, **writes}.items() if v}


@contextmanager
def emulator(moto_bin):
    """moto and the recording proxy in front of it."""
    with moto_server(moto_bin) as endpoint, recording_proxy(endpoint) as proxy:
        yield endpoint, proxy


@contextmanager
def recording_proxy(endpoint):
    """tests/support/aws_proxy.py in front of `endpoint`: yields its URL."""
    proxy = None
    try:
        proxy = subprocess.Popen(
            [os.path.join(REPO, ".venv/bin/python"), os.path.join(REPO, "tests/support/aws_proxy.py"),
             "--port", "0", "--upstream", endpoint],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        proxy_port = int(proxy.stdout.readline())
        yield f"http://127.0.0.1:{proxy_port}"
    finally:
        if proxy:
            proxy.stdin.close()
            proxy.wait(10)


def proxy_calls(proxy, reset=False):
    calls = json.load(urllib.request.urlopen(f"{proxy}/__proxy/calls", timeout=30))
    if reset:
        req = urllib.request.Request(f"{proxy}/__proxy/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=30)
    return Counter(c.get("operation") or "?" for c in calls)


def seed_services(endpoint, n):
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    ecs.create_cluster(clusterName=CLUSTER)
    td = ecs.register_task_definition(family="scale", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    for i in range(n):
        ecs.create_service(cluster=CLUSTER, serviceName=f"scale-svc-{i:05}", taskDefinition=td,
                           desiredCount=1)


def run_once(args, env, desired, *command):
    """Runs one driftd command; returns (exit code, wall seconds, peak RSS KiB, stdout)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([args.driftd, *command, "--desired-state", desired], env=env,
                                stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.monotonic() - started
        out.seek(0)
        return os.waitstatus_to_exitcode(status), took, usage.ru_maxrss, out.read()


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def table(phase, took, rss, calls, w):
    fl = floor(w, phase)
    total, floor_total = sum(calls.values()), sum(fl.values())
    print(f"\n### {phase}: {took:.1f} s, {total} calls (floor {floor_total}: "
          f"{total / floor_total:.2f} x), peak RSS {rss / 1024:.1f} MiB\n")
    print("| operation | calls | floor |")
    print("|---|---|---|")
    for op in sorted(set(calls) | set(fl)):
        print(f"| {op} | {calls.get(op, 0)} | {fl.get(op, '')} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("--driftd", required=True)
    parser.add_argument("--moto", required=True)
    parser.add_argument("--rps", action="append", default=[],
                        help="--aws-max-rps for driftd, e.g. cloudwatch=200 (repeatable)")
    args = parser.parse_args()
    w = workload(args.n)
    log(f"workload N={args.n}: {w}")
    with emulator(args.moto) as (endpoint, proxy), tempfile.TemporaryDirectory() as desired:
        seed_services(endpoint, w["services"])
        write_desired(desired, w)
        env = driftd_env(proxy)
        if args.rps:
            env["DRIFTD_AWS_MAX_RPS"] = ",".join(args.rps)
        proxy_calls(proxy, reset=True)
        print(f"## N = {args.n} ({', '.join(f'{v} {k}' for k, v in w.items())})")
        if args.rps:
            print(f"\n`--aws-max-rps {','.join(args.rps)}`")

        code, took, rss, _ = run_once(args, env, desired, "plan", "--detailed-exitcode")
        if code not in (0, 2):
            raise SystemExit(f"plan: exit {code}")
        log(f"cold plan: {took:.1f} s")
        table("plan", took, rss, proxy_calls(proxy, reset=True), w)

        code, took, rss, _ = run_once(args, env, desired, "apply")
        if code != 0:
            raise SystemExit(f"apply: exit {code}")
        log(f"first apply: {took:.1f} s")
        table("apply", took, rss, proxy_calls(proxy, reset=True), w)

        # The daemon: its first pass reads what apply made, then a resync.
        daemon = Driftd(args.driftd, {**env, "RUST_LOG": "info"}, desired, "1s")
        try:
            deadline = time.monotonic() + 3600
            passes = lambda: daemon.metric("driftd_pass_duration_seconds_count") or 0
            while passes() < 1:
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon's first pass did not end")
                time.sleep(0.2)
            proxy_calls(proxy, reset=True)
            before = daemon.metric("driftd_pass_duration_seconds_sum")
            while passes() < 2:
                time.sleep(0.05)
            calls = proxy_calls(proxy, reset=True)
            took = daemon.metric("driftd_pass_duration_seconds_sum") - before
            # Calls of the next pass may have started: counted up to here.
            table("steady-state pass", took, vm_hwm_kib(daemon.proc.pid), calls, w)
            log("steady state measured")
        finally:
            daemon.proc.terminate()
            daemon.proc.wait(30)


if __name__ == "__main__":
    main()
