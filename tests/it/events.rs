//! Drift events through the real binary and the emulator: driftd publishes
//! to an SNS topic, an SQS queue subscribed to it (raw message delivery)
//! receives them, and the test reads the queue. One `drift_started` per
//! episode however many passes it lasts, one `drift_ended` when the resource
//! is back in sync, never a secret value.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::cloudwatch::{cluster_cpu_alarm, cluster_cpu_alarm_yaml, tag};
use common::driftd::Daemon;
use common::{desired_dir, run, Moto};
use serde_json::{json, Value};

const TOPIC: &str = "events-test-drift";
const ALARM: &str = "events-test-cpu-high";
const SECRET: &str = "events-test/app";
/// The secret value the files enforce, and the one AWS holds: neither may
/// appear in any message.
const DESIRED_VALUE: &str = "desired-marker-7f3a91c0";
const LIVE_VALUE: &str = "live-marker-c2e84d15";

/// How long a few passes of a 2 s interval may take on a loaded machine.
const PASSES_TIMEOUT: Duration = Duration::from_secs(60);

/// A message as the queue received it: the JSON body and its attributes.
#[derive(Debug, Clone)]
struct Received {
    body: String,
    json: Value,
    attributes: HashMap<String, String>,
}

struct Env {
    moto: Moto,
    sqs: aws_sdk_sqs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    queue_url: String,
    queue_arn: String,
    topic_arn: String,
}

impl Env {
    /// A topic that driftd owns, with a queue subscribed to it.
    async fn start() -> Env {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&config);
        let queue = common::sqs::Sqs::new(&config);
        let queue_url = queue.create("events-test-queue").await;
        let queue_arn = queue.arn(&queue_url).await;
        let sqs = queue.0;
        let topic_arn = common::sns::create(
            sns.create_topic()
                .name(TOPIC)
                .attributes("DisplayName", "Drift events")
                .tags(common::sns::tag("driftd:owner", "driftd")),
        )
        .await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe the queue");
        Env {
            sqs,
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            moto,
            queue_url,
            queue_arn,
            topic_arn,
        }
    }

    /// The Topic as declared (in sync with what `start` made).
    fn topic_yaml(&self) -> String {
        format!(
            "{}  subscriptions:\n    - {{protocol: sqs, endpoint: {}}}\n",
            common::sns::topic_yaml(TOPIC, "Drift events"),
            self.queue_arn
        )
    }

    /// `driftd apply` on `dir`, announcing drift to this topic.
    fn apply(&self, dir: &std::path::Path) -> common::Run {
        run(self
            .moto
            .driftd()
            .args(["apply", "--desired-state"])
            .arg(dir)
            .args(["--events-topic", &self.topic_arn]))
    }

    /// Puts the alarm in place, owned by driftd, with this threshold.
    async fn put_alarm(&self, threshold: f64) {
        cluster_cpu_alarm(&self.cloudwatch, ALARM, "events-test", threshold)
            .tags(tag("driftd:owner", "driftd"))
            .send()
            .await
            .expect("put the alarm");
    }

    /// Every message waiting in the queue, deleted once read.
    async fn drain(&self) -> Vec<Received> {
        let mut received = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive messages");
            let messages = out.messages();
            if messages.is_empty() {
                return received;
            }
            for m in messages {
                let body = m.body().unwrap_or_default().to_string();
                let json = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
                let attributes = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                received.push(Received {
                    body,
                    json,
                    attributes,
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().expect("receipt handle"))
                    .send()
                    .await
                    .expect("delete message");
            }
        }
    }
}

fn alarm_yaml(threshold: &str) -> String {
    cluster_cpu_alarm_yaml(ALARM, "events-test", threshold)
}

const SECRET_YAML: &str = "apiVersion: driftd/v1
kind: Secret
metadata:
  name: events-test/app
spec:
  description: Events test secret
  valuePolicy: enforce
  initialValue: {fromEnv: EVENTS_TEST_SECRET}
";

/// (event, kind, name) of each message.
fn summary(messages: &[Received]) -> Vec<(String, String, String)> {
    let mut s: Vec<_> = messages
        .iter()
        .map(|m| {
            let field = |k: &str| m.json[k].as_str().unwrap_or_default().to_string();
            (field("event"), field("kind"), field("name"))
        })
        .collect();
    s.sort();
    s
}

fn triple(event: &str, kind: &str, name: &str) -> (String, String, String) {
    (event.into(), kind.into(), name.into())
}

#[tokio::test]
async fn an_observed_drift_is_announced_once_and_its_end_once_without_secret_values() {
    let env = Env::start().await;
    env.put_alarm(95.0).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&env.moto.sdk_config().await);
    secrets
        .create_secret()
        .name(SECRET)
        .description("Events test secret")
        .secret_string(LIVE_VALUE)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("driftd:owner")
                .value("driftd")
                .build(),
        )
        .send()
        .await
        .expect("create the secret");
    let dir = desired_dir(&[
        ("topic.yaml", &env.topic_yaml()),
        ("alarm.yaml", &alarm_yaml("80")),
        ("secret.yaml", SECRET_YAML),
    ]);
    let mut cmd = env.moto.driftd();
    cmd.env("EVENTS_TEST_SECRET", DESIRED_VALUE);
    let driftd = Daemon::start(
        cmd,
        dir.path(),
        "2s",
        &[
            "--mode",
            "observe",
            "--events-topic",
            &format!("topic:{TOPIC}"),
        ],
    );

    // Three passes of the same drift: one message per drifted resource.
    driftd.wait_passes(3, PASSES_TIMEOUT);
    let started = env.drain().await;
    assert_eq!(
        summary(&started),
        [
            triple("drift_started", "Alarm", ALARM),
            triple("drift_started", "Secret", SECRET),
        ],
        "{started:#?}"
    );
    for m in &started {
        assert!(
            !m.body.contains(DESIRED_VALUE) && !m.body.contains(LIVE_VALUE),
            "a secret value in {}",
            m.body
        );
    }
    let alarm = started
        .iter()
        .find(|m| m.json["kind"] == "Alarm")
        .expect("the alarm's message");
    assert_eq!(alarm.json["version"], 1);
    assert_eq!(alarm.json["mode"], "observe");
    assert_eq!(alarm.json["owner"], "driftd");
    assert_eq!(alarm.json["action"], "update");
    assert_eq!(alarm.json["state"], "drifted");
    assert_eq!(
        alarm.json["fields"],
        json!([{"field": "threshold", "from": "95", "to": "80"}])
    );
    assert!(alarm.json["started_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(alarm.json["detected_at"], alarm.json["started_at"]);
    assert_eq!(alarm.json["ended_at"], Value::Null);
    assert_eq!(alarm.json["resolution"], Value::Null);
    assert_eq!(
        alarm.attributes.get("event").map(String::as_str),
        Some("drift_started")
    );
    assert_eq!(
        alarm.attributes.get("kind").map(String::as_str),
        Some("Alarm")
    );
    let secret = started
        .iter()
        .find(|m| m.json["kind"] == "Secret")
        .expect("the secret's message");
    let fields = secret.json["fields"].as_array().expect("fields");
    assert!(
        fields.contains(&json!({"field": "value", "sensitive": true})),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .all(|f| f.get("from").is_none() && f.get("to").is_none()),
        "a Secret's fields carry no values: {fields:?}"
    );
    assert_eq!(
        driftd.metric("driftd_events_published_total{event=\"drift_started\"}"),
        Some(2.0)
    );

    // The alarm is put back outside driftd: its episode ends, once.
    env.put_alarm(80.0).await;
    driftd.wait(PASSES_TIMEOUT, "drift_ended published", || {
        driftd.metric("driftd_events_published_total{event=\"drift_ended\"}") == Some(1.0)
    });
    driftd.wait_passes(2, PASSES_TIMEOUT);
    let ended = env.drain().await;
    assert_eq!(
        summary(&ended),
        [triple("drift_ended", "Alarm", ALARM)],
        "{ended:#?}"
    );
    let end = &ended[0].json;
    assert_eq!(end["episode"], alarm.json["episode"]);
    assert_eq!(end["resolution"], "in_sync");
    assert_eq!(end["state"], "in_sync");
    assert_eq!(end["started_at"], alarm.json["started_at"]);
    assert!(end["ended_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(end["fields"], json!([{"field": "threshold"}]));
    assert_eq!(
        driftd.metric("driftd_events_publish_errors_total"),
        Some(0.0)
    );
}

#[tokio::test]
async fn apply_announces_a_correction_as_an_episode_that_starts_and_ends() {
    let env = Env::start().await;
    env.put_alarm(95.0).await;
    let dir = desired_dir(&[("alarm.yaml", &alarm_yaml("80"))]);
    env.apply(dir.path()).expect_code(0);
    let messages = env.drain().await;
    let events: Vec<&str> = messages
        .iter()
        .map(|m| m.json["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(events, ["drift_started", "drift_ended"], "{messages:#?}");
    assert_eq!(messages[0].json["mode"], "enforce");
    assert_eq!(messages[0].json["state"], "corrected");
    assert_eq!(messages[1].json["resolution"], "corrected");
    assert_eq!(messages[1].json["episode"], messages[0].json["episode"]);

    // In sync now: the next apply announces nothing.
    env.apply(dir.path()).expect_code(0);
    assert!(env.drain().await.is_empty());
}

#[test]
fn apply_refuses_a_topic_reference_the_desired_state_does_not_declare() {
    let dir = desired_dir(&[("alarm.yaml", &alarm_yaml("80"))]);
    let refused = run(std::process::Command::new(env!("CARGO_BIN_EXE_driftd"))
        .args(["apply", "--desired-state"])
        .arg(dir.path())
        .args(["--events-topic", "topic:nowhere"])
        // Nothing listens here: the refusal comes before any AWS call.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1"))
    .expect_code(1);
    assert!(
        refused.stderr.contains("topic:nowhere") && refused.stderr.contains("declares no Topic"),
        "{refused:?}"
    );
}
