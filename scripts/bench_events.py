#!/usr/bin/env python3
"""Benchmark of change events (see scripts/bench-events.sh): E times, an
alarm's threshold is changed out of band and its CloudTrail event sent to
the --events-queue of a `driftd run --interval 10m`; the latency is from
sending the event until CloudWatch (moto) shows the declared threshold
again. Also the AWS calls driftd made per event, by operation, read from
its /metrics (SQS's own calls apart). Prints a Markdown summary.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request

import boto3

from bench_daemon import driftd_env, free_port, log, moto_server

DESIRED = """apiVersion: driftd/v1
kind: Alarm
metadata: {name: bench-events-cpu-high}
spec: {namespace: AWS/ECS, metricName: CPUUtilization, statistic: Average, period: 60,
       evaluationPeriods: 1, threshold: 80, comparisonOperator: GreaterThanThreshold}
"""


def envelope(threshold):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps({
        "version": "0",
        "id": os.urandom(8).hex(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.monitoring",
        "account": "123456789012",
        "time": now,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventSource": "monitoring.amazonaws.com",
            "eventName": "PutMetricAlarm",
            "awsRegion": "us-east-1",
            "requestParameters": {"alarmName": "bench-events-cpu-high", "threshold": threshold},
        },
    })


def requests(metrics_url):
    """driftd_aws_requests_total by service.operation."""
    out = {}
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    for line in text.splitlines():
        if not line.startswith("driftd_aws_requests_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        key = f'{labels["service"]}.{labels["operation"]}'
        out[key] = out.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driftd", required=True)
    parser.add_argument("--moto", required=True)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()

    metrics_port = free_port()
    with moto_server(args.moto) as endpoint:
        driftd = None
        try:
            kw = dict(endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
            sqs, cw = boto3.client("sqs", **kw), boto3.client("cloudwatch", **kw)
            queue = sqs.create_queue(QueueName="driftd-events")["QueueUrl"]
            env = driftd_env(endpoint)
            with tempfile.TemporaryDirectory() as tmp:
                with open(os.path.join(tmp, "alarm.yaml"), "w") as f:
                    f.write(DESIRED)
                driftd = subprocess.Popen(
                    [args.driftd, "run", "--desired-state", tmp, "--interval", "10m",
                     "--metrics-addr", f"127.0.0.1:{metrics_port}", "--events-queue", queue],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                base = f"http://127.0.0.1:{metrics_port}"
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if urllib.request.urlopen(f"{base}/readyz", timeout=1).status == 200:
                            break
                    except OSError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("driftd did not get ready")
                    time.sleep(0.1)
                alarm = cw.describe_alarms(AlarmNames=["bench-events-cpu-high"])["MetricAlarms"][0]
                keep = {k: alarm[k] for k in ["AlarmName", "Namespace", "MetricName", "Statistic",
                                              "Period", "EvaluationPeriods", "ComparisonOperator"]}
                before = requests(f"{base}/metrics")
                latencies = []
                for i in range(args.events):
                    edited = 90.0 + i % 9
                    cw.put_metric_alarm(Threshold=edited, **keep)
                    sent = time.monotonic()
                    sqs.send_message(QueueUrl=queue, MessageBody=envelope(edited))
                    while True:
                        got = cw.describe_alarms(AlarmNames=["bench-events-cpu-high"])["MetricAlarms"][0]
                        if got["Threshold"] == 80.0:
                            break
                        if time.monotonic() - sent > 10:
                            raise SystemExit(f"event {i}: not corrected within 10 s")
                        time.sleep(0.005)
                    latencies.append(time.monotonic() - sent)
                    if (i + 1) % 20 == 0:
                        log(f"{i + 1} events, p50 so far {statistics.median(latencies) * 1000:.0f} ms")
                time.sleep(1)  # the last message's deletion
                after = requests(f"{base}/metrics")
            calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            calls = {k: v for k, v in calls.items() if v}
            lat = sorted(latencies)
            p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
            print(f"| events | p50 | p99 | max |")
            print("|---|---|---|---|")
            print(f"| {args.events} | {p(0.5) * 1000:.0f} ms | {p(0.99) * 1000:.0f} ms | {lat[-1] * 1000:.0f} ms |")
            print("\nAWS calls per event (driftd_aws_requests_total, over all events):\n")
            print("| call | per event |")
            print("|---|---|")
            for k in sorted(calls):
                print(f"| {k} | {calls[k] / args.events:.2f} |")
        finally:
            if driftd:
                driftd.terminate()
                driftd.wait()


if __name__ == "__main__":
    main()
