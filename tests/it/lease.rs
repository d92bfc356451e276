//! Leader election (contract section 7) with real `driftd run` processes on
//! one DynamoDB lease table of a private moto, with a short
//! `--lease-duration` (3 s: renewal every second, fence 0.6 s before the
//! lease could be taken over, followers read every 2 s): exactly one leader
//! at every sample; a killed leader replaced within a lease duration plus a
//! retry, the drift made meanwhile corrected by the new one; SIGTERM handing
//! over within 3 s; a leader cut off from DynamoDB sending no AWS write
//! after its lease could have been taken over.
//!
//! moto's DynamoDB honours conditional writes (what the election relies on)
//! and never expires items by TTL (driftd does not use TTL).
// The measured times are printed for the record (`--nocapture`).
#![allow(clippy::print_stdout)]

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use common::cloudwatch::{cpu_alarm, cpu_alarm_yaml, threshold};
use common::driftd::Daemon;
use common::proxy::Proxy;
use common::{desired_dir, Moto};

const TABLE: &str = "driftd-leases";
const LEASE: &[&str] = &["--lease-table", TABLE, "--lease-duration", "3s"];
const ALARM: &str = "lease-test-cpu-high";

fn desired() -> String {
    cpu_alarm_yaml(ALARM, "80")
}

async fn create_table(config: &aws_config::SdkConfig) {
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the lease table");
}

/// A moto holding the lease table, a CloudWatch client on it, and the
/// desired state of [`desired`].
async fn leased_moto() -> (Moto, aws_sdk_cloudwatch::Client, tempfile::TempDir) {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    create_table(&config).await;
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let dir = desired_dir(&[("alarms.yaml", &desired())]);
    (moto, cw, dir)
}

async fn drift(cw: &aws_sdk_cloudwatch::Client, to: f64) {
    cpu_alarm(cw, ALARM, 60, to)
        .send()
        .await
        .expect("drift the alarm");
}

fn leading(d: &Daemon) -> bool {
    d.metric("driftd_leader") == Some(1.0)
}

/// The replicas that say they lead.
fn leaders(replicas: &[Daemon]) -> Vec<usize> {
    (0..replicas.len())
        .filter(|&i| leading(&replicas[i]))
        .collect()
}

/// Waits at most `limit` for exactly one of `replicas` to lead; its index
/// and when.
fn one_leader(replicas: &[Daemon], limit: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        if let [one] = leaders(replicas)[..] {
            return (one, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "no single leader within {limit:?}: {:?}",
            leaders(replicas)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn one_of_three_leads_and_a_killed_leader_is_replaced_and_drift_corrected() {
    let (moto, cw, dir) = leased_moto().await;
    let mut replicas: Vec<Daemon> = (0..3)
        .map(|_| Daemon::start(moto.driftd(), dir.path(), "10m", LEASE))
        .collect();
    let (leader, _) = one_leader(&replicas, Duration::from_secs(10));
    // The leader's first pass creates the alarm; followers are ready too.
    replicas[leader].wait(Duration::from_secs(10), "the alarm created", || {
        replicas[leader]
            .metric("driftd_resources{env=\"default\",kind=\"Alarm\",state=\"corrected\"}")
            == Some(1.0)
    });
    for r in &replicas {
        assert_eq!(r.get("/readyz").0, 200);
        let status = r.status();
        assert_eq!(
            status["lease"]["holder"],
            replicas[leader].status()["lease"]["identity"],
            "every replica names the leader: {status:#}"
        );
    }
    // Exactly one leader at every sample over 10 s.
    let started = Instant::now();
    let mut samples = 0;
    while started.elapsed() < Duration::from_secs(10) {
        assert_eq!(leaders(&replicas), [leader], "sample {samples}");
        samples += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(samples >= 40, "{samples} samples");
    // Followers make no AWS call but the lease's.
    for (i, r) in replicas.iter().enumerate().filter(|(i, _)| *i != leader) {
        let metrics = r.metrics();
        let other: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("driftd_aws_requests_total{"))
            .filter(|l| !l.contains("service=\"dynamodb\""))
            .collect();
        assert!(other.is_empty(), "follower {i} called AWS: {other:?}");
    }

    // kill -9 of the leader; a console edit meanwhile.
    replicas[leader].signal("KILL");
    replicas[leader].wait_exit(Duration::from_secs(5));
    let killed = Instant::now();
    drift(&cw, 99.0).await;
    let mut rest: Vec<Daemon> = std::mem::take(&mut replicas);
    rest.remove(leader);
    let (next, _) = one_leader(&rest, Duration::from_secs(3 + 2 + 2));
    let took = killed.elapsed();
    println!("a killed leader replaced after {took:?}");
    assert!(took <= Duration::from_secs(3 + 2 + 1), "{took:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while threshold(&cw, ALARM).await != Some(80.0) {
        assert!(
            Instant::now() < deadline,
            "the new leader did not correct the drift"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rest[next].metric("driftd_leader_transitions_total"),
        Some(1.0)
    );
}

#[tokio::test]
async fn sigterm_hands_the_lease_over_within_three_seconds() {
    let moto = Moto::start();
    create_table(&moto.sdk_config().await).await;
    let dir = desired_dir(&[("alarms.yaml", &desired())]);
    let mut replicas: Vec<Daemon> = (0..2)
        .map(|_| Daemon::start(moto.driftd(), dir.path(), "10m", LEASE))
        .collect();
    let (leader, _) = one_leader(&replicas, Duration::from_secs(10));
    replicas[leader].wait_ready();
    let stopped = Instant::now();
    replicas[leader].signal("TERM");
    let status = replicas[leader].wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        replicas[leader].logs().contains("lease released"),
        "{}",
        replicas[leader].logs()
    );
    let successor = replicas.remove(1 - leader);
    successor.wait(Duration::from_secs(3), "the successor leads", || {
        leading(&successor)
    });
    println!("handed over after {:?}", stopped.elapsed());
    assert!(stopped.elapsed() <= Duration::from_secs(3));
}

#[tokio::test]
async fn a_leader_cut_off_from_dynamodb_stops_writing_before_its_lease_can_be_taken_over() {
    let (moto, cw, dir) = leased_moto().await;
    // The leader talks to AWS through a proxy of its own, started first so
    // that it wins the lease.
    let proxy = Proxy::start(&moto);
    let a = Daemon::start(proxy.driftd(&moto), dir.path(), "1s", LEASE);
    a.wait(Duration::from_secs(10), "a leads", || leading(&a));
    a.wait_ready();
    let b = Daemon::start(moto.driftd(), dir.path(), "1s", LEASE);
    b.wait(Duration::from_secs(5), "b follows", || {
        b.status()["lease"]["holder"] == a.status()["lease"]["identity"]
    });

    // Cut the leader off from DynamoDB; keep drifting the alarm so that it
    // keeps trying to correct it.
    proxy.faults(serde_json::json!([
        {"action": "error", "service": "dynamodb", "status": 503, "code": "ServiceUnavailable"}
    ]));
    let cut = proxy
        .calls()
        .last()
        .map_or(Duration::ZERO, |c| c.received());
    let cut_at = Instant::now();
    let mut took_over = None;
    while took_over.is_none() {
        drift(&cw, 90.0 + cut_at.elapsed().as_secs_f64()).await;
        if leading(&b) {
            took_over = Some(cut_at.elapsed());
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(15),
            "b never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took_over = took_over.expect("b leads");
    println!("b took over {took_over:?} after the cut");
    // b takes over no sooner than a whole lease duration after it last saw
    // a's version change, i.e. at least 3 s after the cut, minus a renewal.
    assert!(took_over >= Duration::from_secs(2), "{took_over:?}");

    // What of a's writes reached AWS after the cut: none later than its
    // lease duration less the margin after its last renewal, which was at
    // most one renewal period (1 s) before the cut.
    let writes: Vec<Duration> = proxy
        .calls()
        .into_iter()
        .filter(|c| c.is_write() && !c.injected && c.service.as_deref() != Some("dynamodb"))
        .map(|c| c.received())
        .filter(|t| *t > cut)
        .map(|t| t - cut)
        .collect();
    let last = writes.iter().max().copied().unwrap_or_default();
    println!(
        "a's writes after the cut: {} (the last {last:?} after it)",
        writes.len()
    );
    assert!(!writes.is_empty(), "a kept correcting until fenced");
    assert!(
        last < Duration::from_millis(2400),
        "a write landed {last:?} after the cut: after its fence ({writes:?})"
    );
    assert!(last < took_over, "a wrote after b took over");
    // a steps down a margin after its fence closed, about when b can take
    // over: wait for its log line rather than race it.
    a.wait(Duration::from_secs(5), "a says it no longer leads", || {
        a.logs().contains("not surely its own") || a.logs().contains("no longer leading")
    });
}
