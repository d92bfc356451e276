//! `driftd run` as operators run it: the real binary against a private moto
//! (through the recording, fault-injecting proxy where calls are counted),
//! driven through its files, its HTTP endpoints and signals.
//!
//! Waits are generous (the suite runs in parallel on small machines) but
//! bounded; the latencies that matter are measured and printed.
// Printing the measured latencies (and a failed test's daemon logs) is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use crate::common;
use crate::common::driftd::Daemon;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cloudwatch::{cluster_cpu_alarm, cluster_cpu_alarm_yaml, cpu_alarm, threshold};
use common::proxy::Proxy;
use common::{desired_dir, within, Moto};
use serde_json::Value;

const ALARM: &str = "daemon-test-cpu-high";
const TOPIC: &str = "daemon-test-alerts";

/// A secret created with placeholder keys.
const SECRET: &str = "apiVersion: driftd/v1
kind: Secret
metadata:
  name: daemon-test/app
spec:
  description: Daemon test secret
  initialValue:
    placeholderKeys: [SECRET_KEY]
";

/// A Topic and an Alarm that notifies it, with the alarm's threshold.
fn desired(threshold: &str) -> String {
    format!(
        "{}---\n{}  alarmActions: [topic:{TOPIC}]\n",
        common::sns::topic_yaml(TOPIC, "Daemon test alerts"),
        cluster_cpu_alarm_yaml(ALARM, "daemon-test", threshold)
    )
}

/// A daemon on moto at this interval, ready, with the desired state of
/// `desired("80")` in its directory.
fn ready_daemon(moto: &Moto, interval: &str) -> (tempfile::TempDir, Daemon) {
    let dir = desired_dir(&[("alarms.yaml", &desired("80"))]);
    let driftd = Daemon::start(moto.driftd(), dir.path(), interval, &[]);
    driftd.wait_ready();
    (dir, driftd)
}

/// Writes a file the way editors do: a temporary file renamed over the old one.
fn edit(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write temporary file");
    std::fs::rename(&tmp, dir.join(name)).expect("rename over the file");
}

#[tokio::test]
async fn serves_health_readiness_status_and_metrics_that_promtool_accepts() {
    let moto = Moto::start();
    let dir = desired_dir(&[("alarms.yaml", &desired("80"))]);
    let driftd = Daemon::start(moto.driftd(), dir.path(), "10m", &[]);
    assert_eq!(driftd.get("/healthz").0, 200);
    let ready_after = driftd.wait_ready();
    println!("ready after {ready_after:?} (first pass included)");

    let status = driftd.status();
    assert_eq!(status["ready"], true);
    assert_eq!(status["leader"], true);
    assert_eq!(status["desired_state"]["valid"], true);
    assert_eq!(status["desired_state"]["resources"], 2);
    assert!(status["last_pass_at"].is_string(), "{status:#}");
    let alarm = driftd.resource("Alarm", ALARM);
    assert_eq!(
        alarm["state"], "corrected",
        "created in the first pass: {alarm:#}"
    );
    assert_eq!(alarm["mode"], "enforce");
    assert!(alarm["last_reconcile_at"].is_string());
    assert!(alarm["last_transition_at"].is_string());

    let metrics = driftd.metrics();
    let mut promtool = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is required for this test (Debian package `prometheus`; scripts/test.sh installs it): {e}"
        ),
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for series in [
        "driftd_resources{env=\"default\",kind=\"Alarm\",state=\"corrected\"} 1",
        "driftd_resource_in_sync{env=\"default\",kind=\"Alarm\",name=\"daemon-test-cpu-high\"} 1",
        "driftd_resource_in_sync{env=\"default\",kind=\"Topic\",name=\"daemon-test-alerts\"} 1",
        "driftd_drift_detected_total{env=\"default\",kind=\"Alarm\"} 1",
        "driftd_drift_corrected_total{env=\"default\",kind=\"Topic\"} 1",
        "driftd_desired_state_valid 1",
        "driftd_desired_state_load_errors_total 0",
        "driftd_leader 1",
        "driftd_pass_duration_seconds_count 1",
        "driftd_drift_flapping{env=\"default\",kind=\"Alarm\",name=\"daemon-test-cpu-high\"} 0",
        "driftd_aws_requests_total{operation=\"PutMetricAlarm\",outcome=\"success\",service=\"cloudwatch\"} 1",
        "driftd_aws_requests_total{operation=\"CreateTopic\",outcome=\"success\",service=\"sns\"} 1",
    ] {
        assert!(metrics.contains(&format!("{series}\n")), "{series} missing:\n{metrics}");
    }
    for name in [
        "driftd_reconcile_duration_seconds_bucket",
        "driftd_last_pass_timestamp_seconds",
        "driftd_build_info{version=",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn drift_made_outside_driftd_is_corrected_within_the_interval_and_counted() {
    let moto = Moto::start();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let (_dir, driftd) = ready_daemon(&moto, "2s");
    let topic_arn = aws_sdk_sns::Client::new(&moto.sdk_config().await)
        .list_topics()
        .send()
        .await
        .expect("list topics")
        .topics()[0]
        .topic_arn()
        .expect("topic ARN")
        .to_string();

    // Someone raises the threshold in the console.
    cluster_cpu_alarm(&cloudwatch, ALARM, "daemon-test", 95.0)
        .alarm_actions(topic_arn)
        .send()
        .await
        .expect("inject drift");
    let injected = Instant::now();
    let took = within(Duration::from_secs(20), "drift corrected", || async {
        threshold(&cloudwatch, ALARM).await == Some(80.0)
    })
    .await;
    println!("drift corrected {took:?} after it was made (interval 2s ± 10%)");
    assert!(
        injected.elapsed() < Duration::from_secs(10),
        "corrected only after {took:?}"
    );
    within(Duration::from_secs(5), "correction counted", || async {
        driftd.metric("driftd_drift_corrected_total{env=\"default\",kind=\"Alarm\"}") >= Some(2.0)
    })
    .await;
    assert!(
        driftd.metric("driftd_drift_detected_total{env=\"default\",kind=\"Alarm\"}") >= Some(2.0)
    );

    // The log names the drifted field, inside a span naming the resource.
    let events = driftd.log_events();
    let corrected = events
        .iter()
        .filter(|e| e["message"] == "corrected")
        .find(|e| {
            e["fields"]
                .as_str()
                .is_some_and(|f| f.contains("threshold"))
        })
        .unwrap_or_else(|| panic!("no correction of the threshold logged:\n{}", driftd.logs()));
    assert_eq!(corrected["level"], "INFO");
    assert_eq!(corrected["span"]["kind"], "Alarm", "{corrected:#}");
    assert_eq!(corrected["span"]["resource"], ALARM, "{corrected:#}");
}

#[tokio::test]
async fn a_yaml_edit_is_applied_within_about_a_second() {
    let moto = Moto::start();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    // A long interval: only the edit can explain the change.
    let (dir, driftd) = ready_daemon(&moto, "10m");
    let mut latencies = Vec::new();
    for (i, value) in ["81", "82", "83"].into_iter().enumerate() {
        edit(dir.path(), "alarms.yaml", &desired(value));
        let expected: f64 = value.parse().unwrap();
        let took = within(Duration::from_secs(10), "edit applied", || async {
            threshold(&cloudwatch, ALARM).await == Some(expected)
        })
        .await;
        println!("edit {} applied {took:?} after the file was written", i + 1);
        latencies.push(took);
    }
    latencies.sort();
    let median = latencies[1];
    println!("edit-to-converged latency: median {median:?} of {latencies:?}");
    assert!(median < Duration::from_secs(3), "{latencies:?}");
    // Only the alarm was reconciled: the topic did not change.
    let alarm = driftd.resource("Alarm", ALARM);
    assert_eq!(
        alarm["drifted_fields"],
        serde_json::json!(["threshold"]),
        "{alarm:#}"
    );
    assert_eq!(
        driftd.metric("driftd_pass_duration_seconds_count"),
        Some(1.0)
    );
}

#[tokio::test]
async fn an_invalid_edit_keeps_the_last_good_state_enforced() {
    let moto = Moto::start();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let (dir, driftd) = ready_daemon(&moto, "2s");

    // A typo, and the topic is gone from the file: nothing may be pruned or
    // changed while the files are invalid.
    let broken = desired("70").replace("threshold: 70", "threshhold: 70");
    let broken = broken.split("---\n").nth(1).unwrap().to_string();
    edit(dir.path(), "alarms.yaml", &broken);
    within(Duration::from_secs(10), "invalid state noticed", || async {
        driftd.metric("driftd_desired_state_valid") == Some(0.0)
    })
    .await;
    assert!(driftd.metric("driftd_desired_state_load_errors_total") >= Some(1.0));
    let status = driftd.status();
    let desired_state = &status["desired_state"];
    assert_eq!(desired_state["valid"], false);
    assert_eq!(
        desired_state["resources"], 2,
        "the last valid state is in force"
    );
    let error = &desired_state["errors"][0];
    assert!(
        error["file"].as_str().unwrap().ends_with("alarms.yaml"),
        "{error:#}"
    );
    assert!(error["line"].as_u64().is_some(), "{error:#}");
    assert!(
        error["text"].as_str().unwrap().contains("threshhold"),
        "{error:#}"
    );
    assert_eq!(
        driftd.get("/readyz").0,
        200,
        "still ready: the last state is enforced"
    );
    let logged = driftd.log_events().iter().any(|e| {
        e["level"] == "WARN"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("threshhold"))
    });
    assert!(logged, "the load error is logged:\n{}", driftd.logs());

    // Drift is still corrected to the last valid state (threshold 80).
    cpu_alarm(&cloudwatch, ALARM, 60, 99.0)
        .send()
        .await
        .expect("inject drift");
    within(
        Duration::from_secs(20),
        "drift corrected to the last good state",
        || async { threshold(&cloudwatch, ALARM).await == Some(80.0) },
    )
    .await;
    assert_eq!(driftd.resource("Topic", TOPIC)["mode"], "enforce");

    // Fixed: valid again, and the fix is applied.
    edit(dir.path(), "alarms.yaml", &desired("70"));
    within(Duration::from_secs(10), "fix applied", || async {
        threshold(&cloudwatch, ALARM).await == Some(70.0)
    })
    .await;
    assert_eq!(driftd.metric("driftd_desired_state_valid"), Some(1.0));
    assert_eq!(
        driftd.status()["desired_state"]["errors"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn sigterm_stops_it_promptly_with_exit_0() {
    let moto = Moto::start();
    let dir = desired_dir(&[("alarms.yaml", &desired("80"))]);
    let mut driftd = Daemon::start(moto.driftd(), dir.path(), "10m", &[]);
    driftd.wait_ready();
    let sent = Instant::now();
    driftd.signal("TERM");
    let status = driftd
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("still running 15 s after SIGTERM:\n{}", driftd.logs()));
    let took = sent.elapsed();
    println!("exited {took:?} after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", driftd.logs());
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(driftd.logs().contains("\"stopped\""), "{}", driftd.logs());
}

#[tokio::test]
async fn every_aws_request_is_counted_and_throttling_is_retried_with_backoff() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    // Every PutMetricAlarm is throttled for a while: the SDK's three attempts
    // of the first try fail, then the daemon's own backoff retries the alarm.
    // One Secrets Manager call is throttled too: a JSON protocol, where the
    // error type comes in a header and `__type`, not in XML. The SDK's second
    // attempt succeeds, so no reconcile fails for it.
    proxy.faults(serde_json::json!([
        {"operation": "PutMetricAlarm", "action": "throttle", "count": 3},
        {"service": "secretsmanager", "action": "throttle", "count": 1}
    ]));
    let dir = desired_dir(&[("alarms.yaml", &desired("80")), ("secrets.yaml", SECRET)]);
    let driftd = Daemon::start(proxy.driftd(&moto), dir.path(), "10m", &[]);
    driftd.wait_ready();
    let took = within(
        Duration::from_secs(20),
        "alarm created after backoff",
        || async { driftd.resource("Alarm", ALARM)["state"] == "corrected" },
    )
    .await;
    println!("alarm created {took:?} after the first pass, once throttling stopped");
    let alarm = driftd.resource("Alarm", ALARM);
    assert_eq!(alarm["last_error"]["reason"], "throttled", "{alarm:#}");
    assert_eq!(alarm["error"], Value::Null);
    assert_eq!(alarm["consecutive_failures"], 0);
    assert_eq!(
        driftd.metric("driftd_aws_throttled_total{service=\"cloudwatch\"}"),
        Some(3.0)
    );
    assert_eq!(
        driftd.metric("driftd_aws_throttled_total{service=\"secretsmanager\"}"),
        Some(1.0)
    );
    assert_eq!(
        driftd.metric(
            "driftd_reconcile_errors_total{env=\"default\",kind=\"Alarm\",reason=\"throttled\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        driftd.metric(
            "driftd_aws_requests_total{operation=\"PutMetricAlarm\",outcome=\"throttled\",service=\"cloudwatch\"}"
        ),
        Some(3.0)
    );
    // The others were not held up by the alarm's trouble.
    assert_eq!(driftd.resource("Topic", TOPIC)["state"], "corrected");
    let secret = driftd.resource("Secret", "daemon-test/app");
    assert_eq!(secret["state"], "corrected", "{secret:#}");
    assert_eq!(
        secret["last_error"],
        Value::Null,
        "the SDK's retry absorbed it"
    );

    // Every request the proxy saw is counted, per service and operation.
    let metrics = driftd.metrics();
    let mut seen: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for call in proxy.calls() {
        let service = match call.service.as_deref() {
            Some("monitoring") => "cloudwatch",
            Some("application-autoscaling") => "autoscaling",
            Some(other) => other,
            None => panic!("a call the proxy could not name: {call:?}"),
        };
        *seen
            .entry((service.to_string(), call.op().to_string()))
            .or_default() += 1;
    }
    assert!(!seen.is_empty());
    for ((service, operation), n) in &seen {
        let counted: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("driftd_aws_requests_total{")
                    && l.contains(&format!("operation=\"{operation}\","))
                    && l.contains(&format!("service=\"{service}\"}}"))
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        assert_eq!(counted, *n as f64, "{service}.{operation}:\n{metrics}");
    }
    let total: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("driftd_aws_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(total, proxy.calls().len() as f64, "{metrics}");
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    // An endpoint that accepts connections and never answers: the first
    // pass hangs in its reads, so a graceful stop has something to wait for.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", black_hole.local_addr().unwrap());
    let dir = desired_dir(&[("alarms.yaml", &desired("80"))]);
    let cmd = common::driftd_at(&endpoint);
    let mut driftd = Daemon::start(cmd, dir.path(), "10m", &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        driftd.get("/readyz").0,
        503,
        "the first pass cannot complete"
    );

    driftd.signal("TERM");
    assert!(
        driftd.wait_exit(Duration::from_secs(1)).is_none(),
        "the first signal waits for the reconciles in flight:\n{}",
        driftd.logs()
    );
    assert_eq!(driftd.get("/readyz").0, 503);
    let sent = Instant::now();
    driftd.signal("TERM");
    let status = driftd
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("still running after a second SIGTERM:\n{}", driftd.logs()));
    println!("exited {:?} after the second SIGTERM", sent.elapsed());
    assert_eq!(status.code(), Some(128 + 15), "{}", driftd.logs());
    drop(black_hole);
}

/// Lays `text` out as a Kubernetes ConfigMap volume does: `alarms.yaml` is a
/// symlink to `..data/alarms.yaml`, `..data` a symlink to a hidden,
/// timestamped directory; an update writes a new directory and swaps
/// `..data` atomically.
fn configmap_update(dir: &Path, version: u32, text: &str) {
    let data = format!("..2026_11_22_00_00_{version:02}.000000001");
    std::fs::create_dir(dir.join(&data)).expect("create the data directory");
    std::fs::write(dir.join(&data).join("alarms.yaml"), text).expect("write the data");
    std::os::unix::fs::symlink(&data, dir.join("..data_tmp")).expect("symlink ..data_tmp");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    if !dir.join("alarms.yaml").exists() {
        std::os::unix::fs::symlink("..data/alarms.yaml", dir.join("alarms.yaml"))
            .expect("symlink the file");
    }
    if version > 1 {
        let old = format!("..2026_11_22_00_00_{:02}.000000001", version - 1);
        std::fs::remove_dir_all(dir.join(old)).expect("remove the old data");
    }
}

#[tokio::test]
async fn a_configmap_volume_update_is_applied() {
    let moto = Moto::start();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let dir = tempfile::tempdir().expect("tempdir");
    configmap_update(dir.path(), 1, &desired("80"));
    let driftd = Daemon::start(moto.driftd(), dir.path(), "10m", &[]);
    driftd.wait_ready();
    assert_eq!(threshold(&cloudwatch, ALARM).await, Some(80.0));
    // The hidden data directories are not read twice over.
    assert_eq!(driftd.status()["desired_state"]["resources"], 2);

    configmap_update(dir.path(), 2, &desired("75"));
    let took = within(
        Duration::from_secs(10),
        "ConfigMap update applied",
        || async { threshold(&cloudwatch, ALARM).await == Some(75.0) },
    )
    .await;
    println!("ConfigMap update applied {took:?} after ..data was swapped");
    assert_eq!(
        driftd.metric("driftd_pass_duration_seconds_count"),
        Some(1.0)
    );
}

#[test]
fn refuses_what_it_cannot_do_safely() {
    let dir = desired_dir(&[("alarms.yaml", &desired("80"))]);
    for (args, says) in [
        (vec!["--interval", "0s"], "must be at least 1s"),
        // A lease shorter than its own renewal and retry periods.
        (
            vec!["--lease-table", "driftd-leases", "--lease-duration", "1s"],
            "must be at least 3s",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
            .args(["run", "--metrics-addr", "127.0.0.1:0", "--desired-state"])
            .arg(dir.path())
            .args(&args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run driftd");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_resource_removed_from_the_files_is_orphaned_or_with_prune_deleted() {
    let moto = Moto::start();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let topic_only = desired("80").split("---\n").next().unwrap().to_string();

    // Without --prune: reported as orphaned, left alone.
    let (dir, driftd) = ready_daemon(&moto, "3s");
    edit(dir.path(), "alarms.yaml", &topic_only);
    within(Duration::from_secs(15), "orphan reported", || async {
        driftd.resource("Alarm", ALARM)["state"] == "orphaned"
    })
    .await;
    assert_eq!(
        threshold(&cloudwatch, ALARM).await,
        Some(80.0),
        "left alone"
    );
    assert_eq!(
        driftd.metric("driftd_resources{env=\"default\",kind=\"Alarm\",state=\"orphaned\"}"),
        Some(1.0)
    );
    assert_eq!(
        driftd.metric(
            "driftd_resource_in_sync{env=\"default\",kind=\"Alarm\",name=\"daemon-test-cpu-high\"}"
        ),
        None,
        "no per-resource series once it left the desired state"
    );
    drop(driftd);

    // With --prune: deleted, promptly (a full pass is brought forward).
    let dir = desired_dir(&[("alarms.yaml", &desired("80"))]);
    let mut cmd = moto.driftd();
    cmd.env("DRIFTD_PRUNE", "true");
    let driftd = Daemon::start(cmd, dir.path(), "10m", &[]);
    driftd.wait_ready();
    edit(dir.path(), "alarms.yaml", &topic_only);
    let took = within(Duration::from_secs(10), "orphan pruned", || async {
        threshold(&cloudwatch, ALARM).await.is_none()
    })
    .await;
    println!("removed alarm pruned {took:?} after the edit");
    assert_eq!(driftd.resource("Topic", TOPIC)["state"], "in_sync");
}

/// `driftd run --interval 10m > dir/../driftd.log 2>&1` at `RUST_LOG=trace`:
/// the log beside the desired state must not feed back into the watcher
/// (it grew by 726 MB in 8 s when the parent directory was watched).
#[test]
fn a_log_written_beside_the_desired_state_does_not_feed_the_watcher() {
    let moto = Moto::start();
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("desired-state");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("topic.yaml"), desired("80")).expect("write");
    let log_path = root.path().join("driftd.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut cmd = moto.driftd();
    cmd.args(["run", "--desired-state"])
        .arg(&dir)
        .args(["--interval", "10m", "--metrics-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log);
    let child = cmd.spawn().expect("start driftd run");
    let _killed = KillOnDrop(child);
    let size = || std::fs::metadata(&log_path).map_or(0, |m| m.len());
    let text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text().contains("pass completed") {
        assert!(
            Instant::now() < deadline,
            "no pass within 30 s:\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Idle from here on (the next resync is 10 minutes away).
    std::thread::sleep(Duration::from_millis(500));
    let before = size();
    std::thread::sleep(Duration::from_secs(3));
    let grown = size() - before;
    assert!(
        grown < 256 * 1024,
        "the log grew by {grown} bytes in 3 s of idling"
    );
}

/// Kills a child process when dropped, so that a failed assertion leaves none.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill(); // it may have exited already
        let _ = self.0.wait();
    }
}

/// A long first pass shows in `/status` how far it has got (issue 15: the
/// first apply of thousands of alarms is bounded by PutMetricAlarm's quota),
/// and the counts go once it is done.
#[test]
fn status_counts_the_pass_under_way() {
    const ALARMS: usize = 8;
    let moto = Moto::start();
    let docs: Vec<(String, String)> = (0..ALARMS)
        .map(|i| {
            let name = format!("slow-{i}");
            (
                format!("{name}.yaml"),
                common::cloudwatch::errors_alarm_yaml(&name, "App", 5),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = docs.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    let dir = desired_dir(&files);
    // Eight creations at two a second: the pass takes a few seconds.
    let driftd = Daemon::start(
        moto.driftd(),
        dir.path(),
        "10m",
        &["--aws-max-rps", "cloudwatch.PutMetricAlarm=2"],
    );
    let mut seen = None;
    driftd.wait(
        Duration::from_secs(30),
        "a pass under way in /status",
        || {
            seen = driftd
                .status()
                .get("pass_in_progress")
                .filter(|p| !p.is_null())
                .cloned();
            seen.is_some()
        },
    );
    let under_way = seen.expect("seen");
    assert_eq!(under_way["resources"], ALARMS, "{under_way}");
    let reconciled = under_way["reconciled"].as_u64().expect("a count");
    assert!(reconciled < ALARMS as u64, "{under_way}");
    driftd.wait_ready();
    let status = driftd.status();
    assert!(status.get("pass_in_progress").is_none(), "{status}");
    assert_eq!(status["resources"].as_array().map(Vec::len), Some(ALARMS));
}
