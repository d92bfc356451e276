//! Throttling through the real binary, against a private moto behind the
//! recording, fault-injecting proxy (tests/support/aws_proxy.py), which
//! answers chosen requests with each service's real throttling error:
//!
//! * `apply` rides out throttled writes and reads: every correction lands,
//!   nothing is lost or doubled;
//! * `driftd run` converges under the same faults, and
//!   `driftd_aws_throttled_total{service}` counts exactly the throttles the
//!   proxy injected;
//! * calls are paced below AWS's quotas (`PutMetricAlarm`: 3 a second), as
//!   the proxy sees them arrive, retries of throttled calls included;
//! * a throttled call slows its service down.
//!
//! Every wait is bounded, and every process a test starts is stopped when it
//! ends, pass or fail.
// A failed test prints the daemon's logs.
#![allow(clippy::print_stderr)]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cloudwatch::errors_alarm_yaml;
use common::driftd::Daemon;
use common::proxy::{Call, Proxy};
use common::{desired_dir, Clients, Moto, Run};
use serde_json::{json, Value};

/// How long one `apply` may take (20 alarms at 2.5 a second, slowed down by
/// the injected throttles, plus the backoff after each, on a busy machine).
const APPLY_LIMIT: Duration = Duration::from_secs(120);
/// How long the daemon may take to converge under the injected faults.
const CONVERGE_LIMIT: Duration = Duration::from_secs(180);
/// How long the daemon's first pass may take under the injected faults.
const READY_LIMIT: Duration = Duration::from_secs(120);

const CLUSTER: &str = "t-cluster";
const WORKER: &str = "t-worker";
const TOPIC: &str = "t-alerts";
/// A topic made by hand, with a display name driftd corrects.
const LEGACY_TOPIC: &str = "t-legacy";
const SECRET: &str = "t/app";
const ALARMS: usize = 20;

fn alarm_name(i: usize) -> String {
    format!("t-alarm-{i:02}")
}

/// `n` alarms notifying `actions` (a `topic:` reference or nothing), with
/// threshold `i` for alarm `i`.
fn alarms(n: usize, actions: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{}  alarmActions: [{actions}]\n",
                errors_alarm_yaml(&alarm_name(i), "Shop", i)
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Two topics, a secret and an ECS service count, besides the alarms.
const OTHERS: &str = "apiVersion: driftd/v1
kind: Topic
metadata: {name: t-alerts}
spec:
  displayName: Throttling test alerts
  tags: {team: platform}
---
apiVersion: driftd/v1
kind: Topic
metadata: {name: t-legacy}
spec:
  displayName: Legacy alerts
---
apiVersion: driftd/v1
kind: Secret
metadata: {name: t/app}
spec:
  description: Throttling test secret
  initialValue: {placeholderKeys: [SECRET_KEY]}
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: t-worker}
spec:
  cluster: t-cluster
  desiredCount: 1
";

/// Every 2nd `PutMetricAlarm` is throttled, and the first attempt of every
/// other write and read of the desired state (once each: one call at a time
/// may be throttled once, which driftd's next attempt rides out).
fn faults() -> Value {
    let once = |operation: &str| json!({"operation": operation, "action": "throttle", "count": 1});
    let mut rules = vec![json!({"operation": "PutMetricAlarm", "action": "throttle", "every": 2})];
    rules.extend(
        [
            "CreateTopic",
            "SetTopicAttributes",
            "CreateSecret",
            "UpdateService",
            "DescribeAlarms",
            "ListTopics",
            "GetTopicAttributes",
            "ListSubscriptionsByTopic",
            "ListSecrets",
            "DescribeServices",
            "DescribeScalableTargets",
            "GetResources",
        ]
        .map(once),
    );
    Value::Array(rules)
}

/// Raw SDK clients on moto itself (not through the proxy): to arrange the
/// emulator and to read back what driftd did.
struct Sdk(Clients);

impl Sdk {
    async fn new(moto: &Moto) -> Sdk {
        Sdk(Clients::of(moto).await)
    }

    /// What driftd finds besides the desired state: an ECS service running 3
    /// tasks, and a topic made by hand under another display name.
    async fn arrange(&self) {
        let task_definition = common::ecs::cluster(&self.ecs, CLUSTER, "worker").await;
        common::ecs::create_service(&self.ecs, CLUSTER, WORKER, &task_definition, 3).await;
        common::sns::create(
            self.sns
                .create_topic()
                .name(LEGACY_TOPIC)
                .attributes("DisplayName", "Made by hand"),
        )
        .await;
    }

    /// Alarm name -> (threshold, alarm actions).
    async fn alarms(&self) -> BTreeMap<String, (Option<f64>, Vec<String>)> {
        // Every page, as the SDK's paginator follows them.
        let pages: Vec<_> = self
            .cloudwatch
            .describe_alarms()
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .expect("describe alarms");
        pages
            .iter()
            .flat_map(|page| page.metric_alarms())
            .map(|a| {
                let name = a.alarm_name().unwrap_or_default().to_string();
                (name, (a.threshold(), a.alarm_actions().to_vec()))
            })
            .collect()
    }

    /// Topic name -> ARN.
    async fn topics(&self) -> BTreeMap<String, String> {
        let topics = self.sns.list_topics().send().await.expect("list topics");
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .map(|arn| {
                (
                    arn.rsplit(':').next().unwrap_or(arn).to_string(),
                    arn.to_string(),
                )
            })
            .collect()
    }

    async fn display_name(&self, arn: &str) -> Option<String> {
        common::sns::topic_attribute(&self.sns, arn, "DisplayName").await
    }

    async fn secret_value(&self) -> Option<String> {
        common::secrets::value(&self.secrets, SECRET).await
    }

    async fn desired_count(&self) -> i32 {
        common::ecs::describe(&self.ecs, CLUSTER, WORKER)
            .await
            .expect("the service")
            .desired_count()
    }

    /// Asserts that every resource of the desired state is as declared.
    async fn assert_converged(&self) {
        let topics = self.topics().await;
        let alerts = topics.get(TOPIC).expect("the topic driftd creates");
        assert_eq!(
            self.display_name(alerts).await.as_deref(),
            Some("Throttling test alerts")
        );
        let legacy = topics.get(LEGACY_TOPIC).expect("the topic made by hand");
        assert_eq!(
            self.display_name(legacy).await.as_deref(),
            Some("Legacy alerts")
        );
        let expected: BTreeMap<String, (Option<f64>, Vec<String>)> = (0..ALARMS)
            .map(|i| (alarm_name(i), (Some(i as f64), vec![alerts.clone()])))
            .collect();
        assert_eq!(self.alarms().await, expected);
        assert_eq!(
            self.secret_value().await.as_deref(),
            Some(r#"{"SECRET_KEY":"CHANGE_ME"}"#)
        );
        assert_eq!(self.desired_count().await, 1);
    }
}

// The shared clients' fields (`self.cloudwatch`, `self.sns`, ...) read through.
impl std::ops::Deref for Sdk {
    type Target = Clients;
    fn deref(&self) -> &Clients {
        &self.0
    }
}

/// Runs a one-shot driftd command to completion, killing it when it takes
/// longer than `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start driftd");
    let pid = child.id().to_string();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let output = finished.recv_timeout(limit).unwrap_or_else(|_| {
        // Stopped before the panic below, which shows what it wrote.
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        let killed = finished.recv().expect("the waiting thread answers");
        let killed = Run::of(killed.expect("wait for driftd"));
        panic!("driftd did not finish within {limit:?}: {killed:?}");
    });
    Run::of(output.expect("wait for driftd"))
}

fn apply(proxy: &Proxy, moto: &Moto, dir: &Path) -> Run {
    run_bounded(
        proxy
            .driftd(moto)
            .args(["apply", "--desired-state"])
            .arg(dir),
        APPLY_LIMIT,
    )
}

/// driftd's name of the service of a call the proxy recorded.
fn service_of(call: &Call) -> &str {
    match call.service.as_deref() {
        Some("monitoring") => "cloudwatch",
        Some("application-autoscaling") => "autoscaling",
        Some(other) => other,
        None => panic!("a call the proxy could not name: {call}"),
    }
}

/// Injected throttles per driftd service name.
fn injected_throttles(calls: &[Call]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for call in calls
        .iter()
        .filter(|c| c.injected && c.fault.as_deref() == Some("throttle"))
    {
        *out.entry(service_of(call).to_string()).or_insert(0.0) += 1.0;
    }
    out
}

/// Calls of this operation that reached moto and succeeded.
fn landed(calls: &[Call], operation: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.op() == operation && !c.injected && c.status == 200)
        .count()
}

/// Asserts that every fault rule fired: the test exercised what it claims.
fn assert_every_rule_fired(proxy: &Proxy) {
    let rules = proxy.rules();
    for rule in rules.as_array().expect("rules") {
        assert!(rule["fired"].as_u64() > Some(0), "never fired: {rule}");
    }
}

/// The most of these instants that any window of `window` holds (both ends
/// included).
fn most_in_window(times: &[Duration], window: Duration) -> usize {
    let mut times = times.to_vec();
    times.sort();
    // A fullest window starts at an instant; those it holds follow it.
    (0..times.len())
        .map(|i| times[i..].partition_point(|t| *t <= times[i] + window))
        .max()
        .unwrap_or(0)
}

/// When each `PutMetricAlarm` request reached the proxy, in order.
fn put_alarm_arrivals(proxy: &Proxy) -> Vec<Duration> {
    let mut times: Vec<Duration> = proxy
        .calls()
        .iter()
        .filter(|c| c.op() == "PutMetricAlarm")
        .map(Call::received)
        .collect();
    times.sort();
    times
}

/// An arranged moto behind a proxy that injects [`faults`], and the whole
/// desired state: alarms that notify a topic, and [`OTHERS`].
async fn throttled() -> (Moto, Proxy, Sdk, tempfile::TempDir) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sdk = Sdk::new(&moto).await;
    sdk.arrange().await;
    let dir = desired_dir(&[
        ("alarms.yaml", &alarms(ALARMS, "topic:t-alerts")),
        ("others.yaml", OTHERS),
    ]);
    proxy.faults(faults());
    (moto, proxy, sdk, dir)
}

#[tokio::test]
async fn apply_lands_every_correction_through_throttled_writes_and_reads() {
    let (moto, proxy, sdk, dir) = throttled().await;

    let run = apply(&proxy, &moto, dir.path()).expect_code(0);
    run.assert_stdout_contains("Apply: 22 created, 2 corrected, 0 observed, 0 errors, 0 in sync.");
    assert_every_rule_fired(&proxy);
    sdk.assert_converged().await;
    // Nothing lost, nothing doubled: each write landed once, however often
    // it was throttled on the way.
    let calls = proxy.calls();
    assert_eq!(landed(&calls, "PutMetricAlarm"), ALARMS);
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.op() == "PutMetricAlarm" && c.injected)
            .count(),
        ALARMS - 1,
        "every 2nd attempt: the first try of every alarm but the first"
    );
    // The retries took their turns: the storm kept to the pace.
    let arrivals = put_alarm_arrivals(&proxy);
    let busiest = most_in_window(&arrivals, Duration::from_secs(1));
    assert!(
        busiest <= 3,
        "{busiest} PutMetricAlarm attempts within one second; arrivals (s): {:?}",
        arrivals
            .iter()
            .map(Duration::as_secs_f64)
            .collect::<Vec<_>>()
    );
    for operation in [
        "CreateTopic",
        "SetTopicAttributes",
        "CreateSecret",
        "UpdateService",
    ] {
        assert_eq!(landed(&calls, operation), 1, "{operation}");
    }

    // A second apply finds nothing to do.
    proxy.clear_faults();
    let again = apply(&proxy, &moto, dir.path()).expect_code(0);
    again
        .assert_stdout_contains("Apply: 0 created, 0 corrected, 0 observed, 0 errors, 24 in sync.");
}

#[tokio::test]
async fn the_daemon_converges_and_counts_every_injected_throttle() {
    let (moto, proxy, sdk, dir) = throttled().await;

    let driftd = Daemon::start(proxy.driftd(&moto), dir.path(), "10m", &[]);
    // The first pass, under the injected faults, takes longer than a start.
    driftd.wait(READY_LIMIT, "ready", || driftd.get("/readyz").0 == 200);
    let started = Instant::now();
    loop {
        let status = driftd.status();
        let resources = status["resources"].as_array().expect("resources");
        let converged = resources.len() == ALARMS + 4
            && resources
                .iter()
                .all(|r| r["state"] == "corrected" || r["state"] == "in_sync");
        if converged {
            break;
        }
        assert!(
            started.elapsed() < CONVERGE_LIMIT,
            "not converged within {CONVERGE_LIMIT:?}: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    sdk.assert_converged().await;
    assert_every_rule_fired(&proxy);

    // The proxy's log and the metrics, taken while no call is under way (the
    // next pass is 10 minutes away; a call in between shows as a change).
    let (calls, metrics) = loop {
        let before = proxy.calls();
        let metrics = driftd.metrics();
        if proxy.calls() == before {
            break (before, metrics);
        }
        assert!(started.elapsed() < CONVERGE_LIMIT, "never quiet");
        std::thread::sleep(Duration::from_millis(200));
    };
    let injected = injected_throttles(&calls);
    assert!(
        injected.get("cloudwatch") >= Some(&((ALARMS / 2) as f64)),
        "{injected:?}"
    );
    let mut counted = series(&metrics, "driftd_aws_throttled_total", "service");
    counted.retain(|_, n| *n > 0.0);
    assert_eq!(counted, injected, "per service:\n{metrics}");
    assert_eq!(
        counted.values().sum::<f64>(),
        calls.iter().filter(|c| c.injected).count() as f64,
        "in all"
    );
}

#[tokio::test]
async fn put_metric_alarm_is_paced_below_three_a_second() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let dir = desired_dir(&[("alarms.yaml", &alarms(30, ""))]);

    apply(&proxy, &moto, dir.path()).expect_code(0);
    let times = put_alarm_arrivals(&proxy);
    assert_eq!(times.len(), 30);
    let busiest = most_in_window(&times, Duration::from_secs(1));
    assert!(
        busiest <= 3,
        "{busiest} PutMetricAlarm within one second; arrivals (s): {:?}",
        times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>()
    );
    // Evenly spaced at 2.5 a second: 30 calls span about 11.6 s.
    let span = times[29] - times[0];
    assert!(span >= Duration::from_millis(11_000), "{span:?}");
}

#[tokio::test]
async fn aws_max_rps_sets_an_operations_pace_of_the_operators_own() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let dir = desired_dir(&[("alarms.yaml", &alarms(30, ""))]);

    run_bounded(
        proxy
            .driftd(&moto)
            .args([
                "apply",
                "--aws-max-rps",
                "cloudwatch.PutMetricAlarm=20",
                "--desired-state",
            ])
            .arg(dir.path()),
        APPLY_LIMIT,
    )
    .expect_code(0);
    let times = put_alarm_arrivals(&proxy);
    assert_eq!(times.len(), 30);
    let busiest = most_in_window(&times, Duration::from_secs(1));
    assert!(
        (4..=21).contains(&busiest),
        "{busiest} PutMetricAlarm within one second at 20 a second; arrivals (s): {:?}",
        times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>()
    );

    let bad = run_bounded(
        moto.driftd()
            .args(["plan", "--aws-max-rps", "ec2=5", "--desired-state"])
            .arg(dir.path()),
        APPLY_LIMIT,
    )
    .expect_code(2); // a usage error, as clap reports them
    assert!(bad.stderr.contains("unknown service \"ec2\""), "{bad:?}");
}

#[tokio::test]
async fn a_throttled_call_slows_its_service_down() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sdk = Sdk::new(&moto).await;
    // The first alarm's three attempts are throttled: its call fails, and
    // each throttled attempt halves the pace (which recovers by 5% a
    // second), so the five alarms after it go slower than 2.5 a second.
    proxy.faults(json!([{"operation": "PutMetricAlarm", "action": "throttle", "count": 3}]));
    let dir = desired_dir(&[("alarms.yaml", &alarms(6, ""))]);

    let run = apply(&proxy, &moto, dir.path()).expect_code(1);
    run.assert_stdout_contains("Apply: 5 created, 0 corrected, 0 observed, 1 error, 0 in sync.");
    assert_eq!(sdk.alarms().await.len(), 5);
    let calls = proxy.calls();
    let landed: Vec<Duration> = calls
        .iter()
        .filter(|c| c.op() == "PutMetricAlarm" && !c.injected)
        .map(Call::received)
        .collect();
    assert_eq!(landed.len(), 5, "{calls:?}");
    // At full pace four gaps take 1.6 s; at half pace, about 2.9 s.
    let span = landed[4] - landed[0];
    assert!(span >= Duration::from_millis(2_400), "{span:?}");
}

/// The values of one metric by the value of one label, e.g.
/// `driftd_aws_throttled_total{service="sns"} 2` -> {"sns": 2}.
fn series(metrics: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{{label}=\"");
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (value_of_label, rest) = rest.split_once('"')?;
            let value = rest.strip_prefix('}')?.trim().parse().ok()?;
            Some((value_of_label.to_string(), value))
        })
        .collect()
}
