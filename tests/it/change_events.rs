//! Change events (contract section 9) against a private moto, with
//! `--interval 10m` so that only an event can explain a prompt correction:
//! for each of the five kinds an out-of-band change plus its event is
//! corrected within 2 s; unmatched and broken messages are counted and
//! gone from the queue; driftd's own writes coming back cost one read and
//! no write; an alarm's event costs two reads and the write; an
//! event routed by an EventBridge rule to the queue works as one sent
//! straight to it; the daemon survives its queue disappearing and coming
//! back.
//!
//! moto emits no CloudTrail events: the tests send the EventBridge envelopes
//! themselves, in the shape AWS documents for "AWS API Call via CloudTrail"
//! events (a `detail` that is the CloudTrail record: `eventSource`,
//! `eventName`, `requestParameters`). moto's EventBridge does route
//! `PutEvents` to an SQS target of a matching rule (driven here with boto3
//! from the emulator's venv, to spare the tests another SDK crate).

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::cloudwatch::cpu_alarm;
use common::driftd::Daemon;
use common::sqs::Sqs;
use common::{desired_dir, repo_root, within, Clients, Moto};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const CLUSTER: &str = "events-shop";

/// One resource of each kind: a topic, an alarm, a dashboard, then [`OTHERS`].
fn desired() -> String {
    [
        common::sns::topic_yaml("events-alerts", "Events alerts"),
        common::cloudwatch::cpu_alarm_yaml("events-cpu-high", "80"),
        common::cloudwatch::text_dashboard_yaml("events-ops", "Events dashboard"),
        OTHERS.to_string(),
    ]
    .join("---\n")
}

/// A secret and an ECS service, for [`desired`].
const OTHERS: &str = r#"apiVersion: driftd/v1
kind: Secret
metadata:
  name: events/app
spec:
  description: Events test secret
  initialValue:
    placeholderKeys: [TOKEN]
---
apiVersion: driftd/v1
kind: EcsService
metadata:
  name: events-worker
spec:
  cluster: events-shop
  desiredCount: 0
"#;

/// The event of a `PutMetricAlarm` of the alarm `name`.
fn alarm_event(name: &str) -> String {
    cloudtrail(
        "monitoring.amazonaws.com",
        "PutMetricAlarm",
        json!({"alarmName": name}),
    )
}

/// An EventBridge envelope of a CloudTrail management event in this account.
fn cloudtrail(source: &str, name: &str, params: Value) -> String {
    common::sqs::cloudtrail(ACCOUNT, source, name, params)
}

/// The shared clients and the events queue's, with this file's look-ups.
struct Aws {
    clients: Clients,
    sqs: Sqs,
}

impl Aws {
    async fn new(moto: &Moto) -> Aws {
        let config = moto.sdk_config().await;
        Aws {
            clients: Clients::new(&config),
            sqs: Sqs::new(&config),
        }
    }

    /// Sends `event` to the queue `queue`, then waits (at most 2 s) until
    /// `corrected` holds; gives `kind` and how long that took.
    async fn announce<F, Fut>(
        &self,
        queue: &str,
        event: &str,
        kind: &'static str,
        corrected: F,
    ) -> (&'static str, Duration)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.sqs.send(queue, event).await;
        (kind, within(Duration::from_secs(2), kind, corrected).await)
    }

    /// The ECS service the desired state declares, running 2 tasks.
    async fn seed_ecs(&self) {
        let task_definition = common::ecs::cluster(&self.ecs, CLUSTER, "events-worker").await;
        common::ecs::create_service(&self.ecs, CLUSTER, "events-worker", &task_definition, 2).await;
    }

    /// The alarm as someone in the console leaves it.
    async fn edit_alarm(&self, threshold: f64) {
        cpu_alarm(&self.cloudwatch, "events-cpu-high", 60, threshold)
            .send()
            .await
            .expect("edit the alarm");
    }

    async fn threshold(&self) -> Option<f64> {
        common::cloudwatch::threshold(&self.cloudwatch, "events-cpu-high").await
    }

    async fn topic_arn(&self) -> String {
        format!("arn:aws:sns:us-east-1:{ACCOUNT}:events-alerts")
    }

    async fn display_name(&self) -> Option<String> {
        common::sns::topic_attribute(&self.sns, &self.topic_arn().await, "DisplayName").await
    }

    async fn secret_description(&self) -> Option<String> {
        common::secrets::describe(&self.secrets, "events/app")
            .await
            .description()
            .map(str::to_string)
    }

    async fn dashboard_body(&self) -> String {
        self.cloudwatch
            .get_dashboard()
            .dashboard_name("events-ops")
            .send()
            .await
            .expect("GetDashboard")
            .dashboard_body()
            .unwrap_or_default()
            .to_string()
    }

    async fn desired_count(&self) -> i32 {
        common::ecs::describe(&self.ecs, CLUSTER, "events-worker")
            .await
            .map_or(-1, |s| s.desired_count())
    }
}

// The shared clients' fields (`self.cloudwatch`, `self.sns`, ...) read through.
impl std::ops::Deref for Aws {
    type Target = Clients;
    fn deref(&self) -> &Clients {
        &self.clients
    }
}

/// Polls `check` for at most `limit`; how long it took to hold.
/// driftd's AWS calls so far, by operation, those of the events queue
/// itself apart: (reads, writes).
fn aws_calls(d: &Daemon) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (mut reads, mut writes) = (BTreeMap::new(), BTreeMap::new());
    for line in d.metrics().lines() {
        let Some(labels) = line.strip_prefix("driftd_aws_requests_total{") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        if label("service") == "sqs" {
            continue;
        }
        let operation = label("operation");
        let count: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let read = ["Describe", "List", "Get"]
            .iter()
            .any(|p| operation.starts_with(p));
        *(if read { &mut reads } else { &mut writes })
            .entry(operation)
            .or_default() += count;
    }
    (reads, writes)
}

/// What was called between two [`aws_calls`].
fn calls_since(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// The daemon, its queue and the AWS clients, after the first pass.
async fn start(moto: &Moto, dir: &tempfile::TempDir) -> (Aws, String, Daemon) {
    let aws = Aws::new(moto).await;
    aws.seed_ecs().await;
    let queue = aws.sqs.create("driftd-events").await;
    let driftd = Daemon::start(
        moto.driftd(),
        dir.path(),
        "10m",
        &["--events-queue", &queue],
    );
    driftd.wait_ready();
    (aws, queue, driftd)
}

#[tokio::test]
async fn a_change_and_its_event_are_corrected_within_two_seconds_for_each_kind() {
    let moto = Moto::start();
    let dir = desired_dir(&[("all.yaml", &desired())]);
    let (aws, queue, driftd) = start(&moto, &dir).await;
    let topic = aws.topic_arn().await;
    let mut took = Vec::new();

    // Alarm.
    let (reads, writes) = aws_calls(&driftd);
    aws.edit_alarm(99.0).await;
    let event = alarm_event("events-cpu-high");
    took.push(
        aws.announce(&queue, &event, "Alarm", || async {
            aws.threshold().await == Some(80.0)
        })
        .await,
    );
    driftd.wait(Duration::from_secs(5), "the alarm's event handled", || {
        driftd.metric("driftd_events_received_total{outcome=\"matched\"}") == Some(1.0)
    });
    // At most two reads and the correcting write (contract section 9): the
    // alarm, its read-back, no tag read (a PutMetricAlarm of an existing
    // alarm leaves its tags).
    let (reads_after, writes_after) = aws_calls(&driftd);
    assert_eq!(
        calls_since(&reads, &reads_after),
        BTreeMap::from([("DescribeAlarms".to_string(), 2.0)])
    );
    assert_eq!(
        calls_since(&writes, &writes_after),
        BTreeMap::from([("PutMetricAlarm".to_string(), 1.0)])
    );

    // Topic.
    aws.sns
        .set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("DisplayName")
        .attribute_value("edited in the console")
        .send()
        .await
        .expect("edit the topic");
    let event = cloudtrail(
        "sns.amazonaws.com",
        "SetTopicAttributes",
        json!({"topicArn": topic, "attributeName": "DisplayName", "attributeValue": "edited in the console"}),
    );
    took.push(
        aws.announce(&queue, &event, "Topic", || async {
            aws.display_name().await.as_deref() == Some("Events alerts")
        })
        .await,
    );

    // Secret (its description: its value is the application's).
    aws.secrets
        .update_secret()
        .secret_id("events/app")
        .description("edited in the console")
        .send()
        .await
        .expect("edit the secret");
    let arn = common::secrets::describe(&aws.secrets, "events/app")
        .await
        .arn()
        .unwrap_or_default()
        .to_string();
    let event = cloudtrail(
        "secretsmanager.amazonaws.com",
        "UpdateSecret",
        json!({"secretId": arn, "description": "edited in the console"}),
    );
    took.push(
        aws.announce(&queue, &event, "Secret", || async {
            aws.secret_description().await.as_deref() == Some("Events test secret")
        })
        .await,
    );

    // Dashboard.
    let declared = aws.dashboard_body().await;
    common::cloudwatch::put_dashboard(&aws.cloudwatch, "events-ops", r#"{"widgets":[]}"#).await;
    let event = cloudtrail(
        "monitoring.amazonaws.com",
        "PutDashboard",
        json!({"dashboardName": "events-ops"}),
    );
    took.push(
        aws.announce(&queue, &event, "Dashboard", || async {
            aws.dashboard_body().await == declared
        })
        .await,
    );

    // ECS service.
    aws.ecs
        .update_service()
        .cluster(CLUSTER)
        .service("events-worker")
        .desired_count(3)
        .send()
        .await
        .expect("scale the worker");
    let event = cloudtrail(
        "ecs.amazonaws.com",
        "UpdateService",
        json!({"cluster": CLUSTER, "service": "events-worker", "desiredCount": 3}),
    );
    took.push(
        aws.announce(&queue, &event, "EcsService", || async {
            aws.desired_count().await == 0
        })
        .await,
    );

    for (kind, t) in &took {
        assert!(*t <= Duration::from_secs(2), "{kind}: {t:?}");
    }
    driftd.wait(Duration::from_secs(5), "every message handled", || {
        driftd.metric("driftd_events_received_total{outcome=\"matched\"}") == Some(5.0)
    });
    assert_eq!(
        aws.sqs.in_queue(&queue).await,
        0,
        "every handled message deleted"
    );
    assert_eq!(
        driftd.metric("driftd_event_to_reconciled_seconds_count{env=\"default\",kind=\"Alarm\"}"),
        Some(1.0)
    );
    // One full pass only: the interval did nothing here.
    assert_eq!(
        driftd.metric("driftd_pass_duration_seconds_count"),
        Some(1.0)
    );
}

#[tokio::test]
async fn unmatched_and_broken_messages_are_counted_and_gone_and_own_writes_cost_one_read() {
    let moto = Moto::start();
    let dir = desired_dir(&[("all.yaml", &desired())]);
    let (aws, queue, driftd) = start(&moto, &dir).await;
    let writes = |d: &Daemon| -> f64 { aws_calls(d).1.values().sum() };
    let before = writes(&driftd);
    let (reads, _) = aws_calls(&driftd);
    aws.sqs.send(&queue, "this is not JSON").await;
    aws.sqs.send(&queue, r#"{"hello": "world"}"#).await;
    aws.sqs
        .send(&queue, &alarm_event("somebody-elses-alarm"))
        .await;
    aws.sqs
        .send(
            &queue,
            &cloudtrail("monitoring.amazonaws.com", "DescribeAlarms", json!({})),
        )
        .await;
    // driftd's own write of a minute ago, coming back: a read, no write.
    aws.sqs.send(&queue, &alarm_event("events-cpu-high")).await;
    driftd.wait(Duration::from_secs(10), "five messages handled", || {
        driftd.metric("driftd_events_received_total{outcome=\"invalid\"}") == Some(2.0)
            && driftd.metric("driftd_events_received_total{outcome=\"ignored\"}") == Some(2.0)
            && driftd.metric("driftd_events_received_total{outcome=\"matched\"}") == Some(1.0)
    });
    within(Duration::from_secs(5), "the queue emptied", || async {
        aws.sqs.in_queue(&queue).await == 0
    })
    .await;
    assert_eq!(
        writes(&driftd),
        before,
        "an event of an in-sync resource writes nothing"
    );
    // driftd created that alarm, tags and all: its own write costs one read.
    assert_eq!(
        calls_since(&reads, &aws_calls(&driftd).0),
        BTreeMap::from([("DescribeAlarms".to_string(), 1.0)])
    );
}

#[tokio::test]
async fn an_event_routed_by_an_eventbridge_rule_and_a_queue_that_comes_back() {
    let moto = Moto::start();
    let dir = desired_dir(&[("all.yaml", &desired())]);
    let (aws, queue, driftd) = start(&moto, &dir).await;
    let queue_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:driftd-events");

    // The rule of deploy/terraform's events module, with the queue as its
    // target; the change's event goes through PutEvents.
    aws.edit_alarm(95.0).await;
    let event: Value = serde_json::from_str(&alarm_event("events-cpu-high")).expect("event");
    let script = format!(
        r#"
import boto3, json
kw = dict(endpoint_url="{endpoint}", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
events = boto3.client("events", **kw)
events.put_rule(Name="driftd-changes", EventPattern=json.dumps({{
    "source": ["aws.monitoring", "aws.cloudwatch", "aws.sns", "aws.secretsmanager", "aws.ecs", "aws.application-autoscaling"],
    "detail-type": ["AWS API Call via CloudTrail", "CloudWatch Alarm Configuration Change"]}}))
events.put_targets(Rule="driftd-changes", Targets=[{{"Id": "driftd", "Arn": "{queue_arn}"}}])
out = events.put_events(Entries=[{{"Source": {source}, "DetailType": {detail_type}, "Detail": {detail}}}])
assert out["FailedEntryCount"] == 0, out
"#,
        endpoint = moto.endpoint,
        source = serde_json::to_string(&event["source"]).unwrap(),
        detail_type = serde_json::to_string(&event["detail-type"]).unwrap(),
        detail = serde_json::to_string(&event["detail"].to_string()).unwrap(),
    );
    common::run(Command::new(repo_root().join(".venv/bin/python")).args(["-c", &script]))
        .expect_code(0);
    within(
        Duration::from_secs(3),
        "corrected through EventBridge",
        || async { aws.threshold().await == Some(80.0) },
    )
    .await;

    // The queue disappears: the daemon keeps running and says so; it comes
    // back (same name, so same URL): events are handled again.
    aws.sqs
        .0
        .delete_queue()
        .queue_url(&queue)
        .send()
        .await
        .expect("delete queue");
    driftd.wait(Duration::from_secs(30), "the failure logged", || {
        driftd
            .logs()
            .contains("cannot receive from the events queue")
    });
    assert_eq!(driftd.get("/healthz").0, 200);
    let again = aws.sqs.create("driftd-events").await;
    assert_eq!(again, queue);
    aws.edit_alarm(97.0).await;
    aws.sqs.send(&queue, &alarm_event("events-cpu-high")).await;
    within(
        Duration::from_secs(40),
        "corrected after the queue came back",
        || async { aws.threshold().await == Some(80.0) },
    )
    .await;
}
