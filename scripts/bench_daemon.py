#!/usr/bin/env python3
"""Benchmark of `driftd run` against a private moto (see scripts/bench-daemon.sh).

1. Generates a desired state of N resources (alarms, topics, dashboards) in
   several files, starts moto and `driftd run`, and waits for the first pass.
2. Idle: the daemon's CPU time over an idle window (no pass, no edit), read
   from /proc/<pid>/stat, and its resident memory (VmRSS, VmHWM).
3. Edit-to-converged latency: E edits of one alarm's threshold, each written
   the way editors do (temporary file renamed over the old one); the latency
   is from the rename until CloudWatch (moto) returns the new threshold.
4. A resync pass over the whole state: its duration and CPU time.
5. SIGTERM: time to exit, and the exit code.

Uses boto3 from the emulator's venv. Prints a Markdown summary on stdout;
progress on stderr.
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager

import boto3

CLK_TCK = os.sysconf("SC_CLK_TCK")
ALARMS_PER_FILE = 50


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server(moto_bin):
    """A private moto on a free loopback port: yields its endpoint once it
    answers, and stops it at the end."""
    port = free_port()
    moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_moto(endpoint)
        yield endpoint
    finally:
        moto.terminate()
        moto.wait()


def driftd_env(endpoint, rust_log="warn"):
    """The environment driftd runs in against the emulator at `endpoint`."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "RUST_LOG": rust_log,
    }


def wait_for_moto(endpoint, limit=60):
    """Returns once the moto server at `endpoint` answers (at most `limit` s)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("moto did not start")
            time.sleep(0.1)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kib(pid):
    """VmRSS and VmHWM, and the resident memory split into anonymous (heap,
    stacks) and file-backed (mostly the binary's code) pages."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Anonymous", "Pss_File"):
                out[key] = int(value.split()[0])
    return out


def alarm(i, threshold=80):
    return f"""apiVersion: driftd/v1
kind: Alarm
metadata:
  name: bench-alarm-{i:04}
spec:
  description: Benchmark alarm {i}
  namespace: Bench
  metricName: Errors
  dimensions: {{Service: svc-{i % 37}}}
  statistic: Sum
  period: 60
  evaluationPeriods: 1
  threshold: {threshold}
  comparisonOperator: GreaterThanThreshold
  alarmActions: [topic:bench-topic-{i % 10:03}]
  tags: {{team: bench}}
"""


def topic(i):
    return f"""apiVersion: driftd/v1
kind: Topic
metadata:
  name: bench-topic-{i:03}
spec:
  displayName: Benchmark topic {i}
  tags: {{team: bench}}
"""


def dashboard(i):
    return f"""apiVersion: driftd/v1
kind: Dashboard
metadata:
  name: bench-dashboard-{i:03}
spec:
  body:
    widgets:
      - {{type: metric, x: 0, y: 0, width: 12, height: 6,
         properties: {{title: Errors {i}, region: us-east-1, stat: Sum, period: 60,
                      metrics: [[Bench, Errors, Service, svc-{i % 37}]]}}}}
"""


def write(path, text):
    """Writes like an editor: a temporary file renamed over the old one."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def alarm_file(first, thresholds):
    docs = [alarm(i, thresholds.get(i, 80)) for i in range(first, first + ALARMS_PER_FILE)]
    return "---\n".join(docs)


class Driftd:
    def __init__(self, binary, env, desired, interval):
        self.logs = []
        self.addr = None
        self.proc = subprocess.Popen(
            [binary, "run", "--desired-state", desired, "--interval", interval,
             "--metrics-addr", "127.0.0.1:0", "--log-format", "json"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.started.wait(60):
            raise SystemExit("driftd did not start:\n" + "\n".join(self.logs))

    def _read(self):
        for line in self.proc.stderr:
            self.logs.append(line.rstrip())
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message", "").startswith("driftd started"):
                self.addr = event["addr"]
                self.started.set()

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, series):
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driftd", required=True)
    ap.add_argument("--moto", required=True)
    ap.add_argument("--resources", type=int, default=1000)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    ap.add_argument("--interval", default="4m", help="the daemon's --interval")
    args = ap.parse_args()

    topics, dashboards = 10, 40
    alarms = args.resources - topics - dashboards
    alarms -= alarms % ALARMS_PER_FILE
    dashboards = args.resources - topics - alarms

    with moto_server(args.moto) as endpoint:
        env = driftd_env(endpoint, "warn,driftd=info")
        driftd = None
        try:
            cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
                                      aws_access_key_id="bench", aws_secret_access_key="bench")

            # A directory of its own under a private parent: the daemon also
            # watches the parent (to notice the directory being replaced), and a
            # busy parent such as /tmp would wake it for other programs' files.
            desired = os.path.join(tempfile.mkdtemp(prefix="driftd-bench-"), "desired-state")
            os.mkdir(desired)
            with open(os.path.join(desired, "topics.yaml"), "w") as f:
                f.write("---\n".join(topic(i) for i in range(topics)))
            with open(os.path.join(desired, "dashboards.yaml"), "w") as f:
                f.write("---\n".join(dashboard(i) for i in range(dashboards)))
            os.mkdir(os.path.join(desired, "alarms"))
            for first in range(0, alarms, ALARMS_PER_FILE):
                with open(os.path.join(desired, "alarms", f"alarms-{first:04}.yaml"), "w") as f:
                    f.write(alarm_file(first, {}))
            log(f"desired state: {alarms} alarms, {topics} topics, {dashboards} dashboards in {desired}")

            started = time.monotonic()
            driftd = Driftd(args.driftd, env, desired, args.interval)
            pid = driftd.proc.pid
            while driftd.get("/readyz")[0] != 200:
                if time.monotonic() - started > 900:
                    raise SystemExit("not ready after 15 minutes")
                time.sleep(0.5)
            ready_after = time.monotonic() - started
            first_pass = driftd.metric("driftd_pass_duration_seconds_sum")
            log(f"ready after {ready_after:.1f}s (first pass {first_pass:.1f}s, creating everything)")
            mem_after_first = memory_kib(pid)

            # Idle: nothing to do until the next resync.
            time.sleep(2)
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle)
            cpu1, t1 = cpu_seconds(pid), time.monotonic()
            idle_cpu = (cpu1 - cpu0) / (t1 - t0) * 100
            mem_idle = memory_kib(pid)
            log(f"idle: {cpu1 - cpu0:.3f}s CPU over {t1 - t0:.0f}s = {idle_cpu:.3f}% of a core; "
                f"RSS {mem_idle['VmRSS'] / 1024:.1f} MiB (peak {mem_idle['VmHWM'] / 1024:.1f} MiB)")

            # Edits of one alarm, in a file of 50 among a thousand resources.
            path = os.path.join(desired, "alarms", "alarms-0000.yaml")
            latencies = []
            for n in range(args.edits):
                value = 100 + n
                write(path, alarm_file(0, {7: value}))
                edited = time.monotonic()
                while True:
                    got = cloudwatch.describe_alarms(AlarmNames=["bench-alarm-0007"])["MetricAlarms"]
                    if got and got[0].get("Threshold") == value:
                        break
                    if time.monotonic() - edited > 30:
                        raise SystemExit(f"edit {n} not applied within 30 s")
                    time.sleep(0.005)
                latencies.append(time.monotonic() - edited)
                time.sleep(random.uniform(0.2, 0.4))
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            log(f"edit-to-converged over {len(latencies)} edits: p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")

            # A resync pass over everything (nothing drifted).
            passes = driftd.metric("driftd_pass_duration_seconds_count")
            sum_before = driftd.metric("driftd_pass_duration_seconds_sum")
            cpu_before = cpu_seconds(pid)
            log("waiting for the next resync pass")
            while driftd.metric("driftd_pass_duration_seconds_count") == passes:
                time.sleep(1)
            resync = driftd.metric("driftd_pass_duration_seconds_sum") - sum_before
            # CPU from the last edit to the end of the pass, all of it the pass's
            # but the idle trickle.
            resync_cpu = cpu_seconds(pid) - cpu_before
            requests = sum(float(l.rsplit(" ", 1)[1]) for l in driftd.get("/metrics")[1].splitlines()
                           if l.startswith("driftd_aws_requests_total{"))
            mem_end = memory_kib(pid)
            log(f"resync pass: {resync:.2f}s, {resync_cpu:.2f}s CPU")

            sent = time.monotonic()
            driftd.proc.send_signal(signal.SIGTERM)
            code = driftd.proc.wait(30)
            stopped = time.monotonic() - sent

            print(f"""
| measure | value |
|---|---|
| resources | {args.resources} ({alarms} alarms, {topics} topics, {dashboards} dashboards) |
| first pass (creates everything) | {first_pass:.1f} s |
| idle CPU ({t1 - t0:.0f} s window) | {idle_cpu:.3f} % of one core ({(cpu1 - cpu0) * 1000:.0f} ms) |
| RSS after the first pass | {mem_after_first['VmRSS'] / 1024:.1f} MiB |
| RSS idle | {mem_idle['VmRSS'] / 1024:.1f} MiB: {mem_idle['Anonymous'] / 1024:.1f} MiB anonymous (heap, stacks), {mem_idle['Pss_File'] / 1024:.1f} MiB file-backed (code) |
| RSS peak (VmHWM) at the end | {mem_end['VmHWM'] / 1024:.1f} MiB |
| edit-to-converged p50 ({len(latencies)} edits) | {p50 * 1000:.0f} ms |
| edit-to-converged p99 | {p99 * 1000:.0f} ms |
| edit-to-converged min / mean / max | {min(latencies) * 1000:.0f} / {statistics.mean(latencies) * 1000:.0f} / {max(latencies) * 1000:.0f} ms |
| resync pass (nothing drifted) | {resync:.2f} s, {resync_cpu:.2f} s CPU |
| AWS requests so far | {requests:.0f} |
| SIGTERM to exit | {stopped * 1000:.0f} ms, exit code {code} |
""")
        finally:
            if driftd and driftd.proc.poll() is None:
                driftd.proc.kill()


if __name__ == "__main__":
    main()
