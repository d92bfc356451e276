//! Writes that do not converge, through the real binary: the recording proxy
//! answers every `PutMetricAlarm` with success and never forwards it (a
//! write AWS silently ignores), so the alarm's drift survives each correction.
//! driftd reads each correction back and, after 3 that did not take, stops
//! writing: state `error`, reason `not_converging`, `driftd_drift_flapping 1`.

use crate::common;

use std::time::Duration;

use common::cloudwatch::{cluster_cpu_alarm, cluster_cpu_alarm_yaml, threshold};
use common::driftd::Daemon;
use common::proxy::Proxy;
use common::{desired_dir, run_with_dir, Moto};
use serde_json::json;

const ALARM: &str = "converge-test-cpu-high";

/// How long a few passes of a 2 s interval may take on a loaded machine.
const PASSES_TIMEOUT: Duration = Duration::from_secs(60);

fn desired(threshold: &str) -> String {
    cluster_cpu_alarm_yaml(ALARM, "converge-test", threshold)
}

/// Changes the alarm's threshold as someone in the console would.
async fn set_threshold(cloudwatch: &aws_sdk_cloudwatch::Client, threshold: f64) {
    cluster_cpu_alarm(cloudwatch, ALARM, "converge-test", threshold)
        .send()
        .await
        .expect("change the threshold");
}

/// The alarm as driftd creates it (threshold 80), then raised to 95 outside driftd.
async fn drifted_alarm(moto: &Moto, proxy: &Proxy, dir: &std::path::Path) {
    run_with_dir(proxy.driftd(moto), &["apply"], dir).expect_code(0);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    set_threshold(&cloudwatch, 95.0).await;
}

fn puts(proxy: &Proxy) -> usize {
    proxy.count("PutMetricAlarm")
}

#[tokio::test]
async fn a_write_that_never_takes_is_quarantined_until_the_desired_state_changes() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let dir = desired_dir(&[("alarm.yaml", &desired("80"))]);
    drifted_alarm(&moto, &proxy, dir.path()).await;
    proxy.faults(json!([{"operation": "PutMetricAlarm", "action": "drop"}]));
    proxy.reset();

    let driftd = Daemon::start(proxy.driftd(&moto), dir.path(), "2s", &[]);
    let flapping =
        format!("driftd_drift_flapping{{env=\"default\",kind=\"Alarm\",name=\"{ALARM}\"}}");
    driftd.wait(PASSES_TIMEOUT, "quarantined", || {
        driftd.resource("Alarm", ALARM)["error"]["reason"] == "not_converging"
    });
    let alarm = driftd.resource("Alarm", ALARM);
    assert_eq!(alarm["state"], "error", "{alarm:#}");
    assert_eq!(alarm["drifted_fields"], json!(["threshold"]), "{alarm:#}");
    let message = alarm["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("threshold"), "{message}");
    assert_eq!(puts(&proxy), 3, "three corrections: {:?}", proxy.writes());
    assert_eq!(driftd.metric(&flapping), Some(1.0));
    assert_eq!(
        driftd.metric("driftd_resource_in_sync{env=\"default\",kind=\"Alarm\",name=\"converge-test-cpu-high\"}"),
        Some(0.0)
    );
    assert_eq!(
        driftd.metric("driftd_drift_corrected_total{env=\"default\",kind=\"Alarm\"}"),
        Some(0.0),
        "corrections that did not take are not counted as made"
    );
    assert_eq!(threshold(&cloudwatch, ALARM).await, Some(95.0));

    // Quarantined: still observed at every pass, never written again.
    driftd.wait_passes(2, PASSES_TIMEOUT);
    assert_eq!(puts(&proxy), 3, "no 4th write: {:?}", proxy.writes());
    assert_eq!(
        driftd.resource("Alarm", ALARM)["error"]["reason"],
        "not_converging"
    );
    assert!(
        driftd.metric("driftd_reconcile_errors_total{env=\"default\",kind=\"Alarm\",reason=\"not_converging\"}")
            >= Some(2.0)
    );

    // The emulator takes writes again and the YAML is edited: the new
    // desired state lifts the quarantine, and the alarm converges.
    proxy.clear_faults();
    std::fs::write(dir.path().join("alarm.yaml"), desired("81")).expect("edit the YAML");
    driftd.wait(PASSES_TIMEOUT, "converged after the edit", || {
        driftd.metric(&flapping) == Some(0.0)
            && driftd.resource("Alarm", ALARM)["state"] == "corrected"
    });
    assert_eq!(threshold(&cloudwatch, ALARM).await, Some(81.0));
    assert_eq!(puts(&proxy), 4);
    assert_eq!(driftd.resource("Alarm", ALARM)["error"], json!(null));
}

#[tokio::test]
async fn apply_corrects_three_times_then_fails_with_not_converging() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let dir = desired_dir(&[("alarm.yaml", &desired("80"))]);
    drifted_alarm(&moto, &proxy, dir.path()).await;
    proxy.faults(json!([{"operation": "PutMetricAlarm", "action": "drop"}]));
    proxy.reset();

    let applied = run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(1);
    applied.assert_stdout_contains(&format!("! Alarm {ALARM}: error"));
    applied.assert_stdout_contains("error (not_converging): threshold still differed");
    assert_eq!(puts(&proxy), 3, "{:?}", proxy.writes());
    // Each correction was read back: the pass's DescribeAlarms, then one
    // after each of the three writes.
    assert_eq!(proxy.count("DescribeAlarms"), 1 + 3, "{:?}", proxy.calls());

    // Once writes take again, one correction is enough and is read back once.
    proxy.clear_faults();
    proxy.reset();
    run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    assert_eq!(puts(&proxy), 1);
    assert_eq!(proxy.count("DescribeAlarms"), 2, "{:?}", proxy.calls());
}
