//! AWS's own change events (contract section 9): an EventBridge envelope,
//! as an `--events-queue` message carries it, mapped to what it touches.
//!
//! Two kinds of events are understood: CloudTrail management events
//! (`detail-type` "AWS API Call via CloudTrail") of the write calls of the
//! five kinds' services, read from their `requestParameters`, and
//! CloudWatch's own "CloudWatch Alarm Configuration Change" events. The
//! envelope's `account` and `region` select the environments it can be in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::aws::sqs::{Message, Queue};
use crate::desired::{Environment, Loaded};
use crate::kinds::{Kind, Spec, Tags};

use super::known_tags::TagEffect;
use super::scheduler::Key;

/// What one event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub account: Option<String>,
    pub region: Option<String>,
    /// When AWS says it happened (`time`), for the event-to-reconciled time.
    pub time: Option<std::time::SystemTime>,
    pub targets: Vec<Target>,
    /// What the call did to the tags of what it names, which decides
    /// whether the reconcile may take the tags last read
    /// ([`super::known_tags`]).
    pub tags: TagEffect,
}

/// A resource an event names, as AWS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Alarm(String),
    Dashboard(String),
    Topic(String),
    /// A secret's name or ARN (`secretId`).
    Secret(String),
    /// An ECS service, by cluster and service (each a name or an ARN).
    EcsService {
        cluster: String,
        service: String,
    },
}

/// How an envelope was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Touched(Touched),
    /// A well-formed event driftd has nothing to do with (another call,
    /// another service, a read).
    Ignored,
    /// Not an EventBridge envelope.
    Invalid(String),
}

/// Understands one message body.
pub fn parse(body: &str) -> Parsed {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Parsed::Invalid("not JSON".into());
    };
    let (Some(detail_type), Some(detail)) = (event["detail-type"].as_str(), event.get("detail"))
    else {
        return Parsed::Invalid("no detail-type and detail: not an EventBridge event".into());
    };
    let text = |v: &Value| v.as_str().map(str::to_string);
    let (targets, tags) = match detail_type {
        "AWS API Call via CloudTrail" => (cloudtrail(detail), tag_effect(detail)),
        "CloudWatch Alarm Configuration Change" => (
            text(&detail["alarmName"])
                .map(Target::Alarm)
                .into_iter()
                .collect(),
            // A new alarm's tags were never read; an update leaves them.
            if detail["operation"].as_str() == Some("update") {
                TagEffect::None
            } else {
                TagEffect::Unknown
            },
        ),
        _ => (Vec::new(), TagEffect::Unknown),
    };
    if targets.is_empty() {
        return Parsed::Ignored;
    }
    Parsed::Touched(Touched {
        account: text(&event["account"]),
        region: text(&event["region"]),
        time: event["time"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok()),
        targets,
        tags,
    })
}

/// What a CloudTrail event's write call did to tags. The calls that
/// cannot change the tags of a resource that existed before them touch
/// none (`PutMetricAlarm` ignores `Tags` on an existing alarm); tag calls
/// say what they set or removed (`{"key", "value"}` pairs and `tagKeys` in
/// CloudTrail's `requestParameters`); deletes and restores are unknown.
fn tag_effect(detail: &Value) -> TagEffect {
    let params = &detail["requestParameters"];
    match detail["eventName"].as_str().unwrap_or_default() {
        "PutMetricAlarm"
        | "DisableAlarmActions"
        | "EnableAlarmActions"
        | "PutDashboard"
        | "SetTopicAttributes"
        | "Subscribe"
        | "Unsubscribe"
        | "PutSecretValue"
        | "UpdateSecret"
        | "UpdateService"
        | "RegisterScalableTarget"
        | "DeregisterScalableTarget" => TagEffect::None,
        "TagResource" => {
            let field = |t: &Value, a: &str, b: &str| {
                t.get(a)
                    .or_else(|| t.get(b))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let pairs: Option<Tags> = params["tags"]
                .as_array()
                .or_else(|| params["Tags"].as_array())
                .and_then(|list| {
                    list.iter()
                        .map(|t| Some((field(t, "key", "Key")?, field(t, "value", "Value")?)))
                        .collect()
                });
            pairs.map_or(TagEffect::Unknown, TagEffect::Set)
        }
        "UntagResource" => {
            let keys: Option<Vec<String>> = params["tagKeys"].as_array().and_then(|list| {
                list.iter()
                    .map(|k| k.as_str().map(str::to_string))
                    .collect()
            });
            keys.map_or(TagEffect::Unknown, TagEffect::Remove)
        }
        _ => TagEffect::Unknown,
    }
}

/// The resources a CloudTrail management event of a write names.
fn cloudtrail(detail: &Value) -> Vec<Target> {
    if detail["errorCode"].is_string() {
        // A call AWS refused changed nothing.
        return Vec::new();
    }
    let source = detail["eventSource"].as_str().unwrap_or_default();
    let name = detail["eventName"].as_str().unwrap_or_default();
    let params = &detail["requestParameters"];
    let one = |key: &str| params[key].as_str().map(str::to_string);
    let many = |key: &str| -> Vec<String> {
        params[key]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    match (source, name) {
        ("monitoring.amazonaws.com", "PutMetricAlarm") => {
            one("alarmName").map(Target::Alarm).into_iter().collect()
        }
        (
            "monitoring.amazonaws.com",
            "DeleteAlarms" | "DisableAlarmActions" | "EnableAlarmActions",
        ) => many("alarmNames").into_iter().map(Target::Alarm).collect(),
        ("monitoring.amazonaws.com", "PutDashboard") => one("dashboardName")
            .map(Target::Dashboard)
            .into_iter()
            .collect(),
        ("monitoring.amazonaws.com", "DeleteDashboards") => many("dashboardNames")
            .into_iter()
            .map(Target::Dashboard)
            .collect(),
        ("monitoring.amazonaws.com", "TagResource" | "UntagResource") => one("resourceARN")
            .and_then(|arn| cloudwatch_arn(&arn))
            .into_iter()
            .collect(),
        (
            "sns.amazonaws.com",
            "SetTopicAttributes" | "Subscribe" | "DeleteTopic" | "TagResource" | "UntagResource",
        ) => one("topicArn")
            .or_else(|| one("resourceArn"))
            .and_then(|arn| arn_part(&arn, 5))
            .map(Target::Topic)
            .into_iter()
            .collect(),
        // arn:aws:sns:region:account:TOPIC:subscription-id
        ("sns.amazonaws.com", "Unsubscribe") => one("subscriptionArn")
            .and_then(|arn| arn_part(&arn, 5))
            .map(Target::Topic)
            .into_iter()
            .collect(),
        (
            "secretsmanager.amazonaws.com",
            "PutSecretValue" | "UpdateSecret" | "DeleteSecret" | "RestoreSecret" | "TagResource"
            | "UntagResource",
        ) => one("secretId").map(Target::Secret).into_iter().collect(),
        ("ecs.amazonaws.com", "UpdateService") => match (one("cluster"), one("service")) {
            (cluster, Some(service)) => vec![Target::EcsService {
                // ECS's default cluster when the call names none.
                cluster: cluster.unwrap_or_else(|| "default".into()),
                service,
            }],
            _ => Vec::new(),
        },
        (
            "application-autoscaling.amazonaws.com",
            "RegisterScalableTarget" | "DeregisterScalableTarget",
        ) => one("resourceId")
            .and_then(|id| {
                // service/<cluster>/<service>
                let mut parts = id.splitn(3, '/');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("service"), Some(cluster), Some(service)) => Some(Target::EcsService {
                        cluster: cluster.to_string(),
                        service: service.to_string(),
                    }),
                    _ => None,
                }
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// The `n`th `:`-separated part of an ARN.
fn arn_part(arn: &str, n: usize) -> Option<String> {
    arn.split(':')
        .nth(n)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `arn:aws:cloudwatch:r:a:alarm:NAME` or `arn:aws:cloudwatch::a:dashboard/NAME`.
fn cloudwatch_arn(arn: &str) -> Option<Target> {
    let resource = arn.splitn(6, ':').nth(5)?;
    if let Some(name) = resource.strip_prefix("alarm:") {
        return Some(Target::Alarm(name.to_string()));
    }
    resource
        .strip_prefix("dashboard/")
        .map(|name| Target::Dashboard(name.to_string()))
}

/// The last part of a name-or-ARN (`arn:...:cluster/NAME` → `NAME`).
fn last_segment(id: &str) -> &str {
    id.rsplit(['/', ':']).next().unwrap_or(id)
}

/// Whether a secret's `secretId` (its name, or its ARN, whose name ends
/// with `-` and 6 random characters) is this declared name.
fn is_secret(id: &str, name: &str) -> bool {
    if id == name {
        return true;
    }
    // arn:aws:secretsmanager:region:account:secret:NAME-AbCdEf
    id.splitn(7, ':')
        .nth(6)
        .and_then(|n| n.strip_prefix(name))
        .is_some_and(|rest| rest.len() == 7 && rest.starts_with('-'))
}

/// The declared resources an event touches, in the environments its
/// account and region can be (one without an `accountId` or `region` is in
/// any).
pub fn resolve(touched: &Touched, loaded: &Loaded) -> Vec<Key> {
    let mut keys = Vec::new();
    for env in &loaded.environments {
        let e = &env.environment;
        let same = |declared: &Option<String>, seen: &Option<String>| match (declared, seen) {
            (Some(d), Some(s)) => d == s,
            _ => true,
        };
        if !same(&e.account_id, &touched.account) || !same(&e.region, &touched.region) {
            continue;
        }
        for r in &env.state.resources {
            let hit = touched.targets.iter().any(|t| match (t, &r.spec) {
                (Target::Alarm(n), _) => r.kind() == Kind::Alarm && *n == r.name,
                (Target::Dashboard(n), _) => r.kind() == Kind::Dashboard && *n == r.name,
                (Target::Topic(n), _) => r.kind() == Kind::Topic && *n == r.name,
                (Target::Secret(id), _) => r.kind() == Kind::Secret && is_secret(id, &r.name),
                (Target::EcsService { cluster, service }, Spec::EcsService(s)) => {
                    last_segment(cluster) == last_segment(&s.cluster)
                        && last_segment(service) == s.service_name(r)
                }
                (Target::EcsService { .. }, _) => false,
            });
            if hit {
                keys.push(Key::of(r));
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// An event handed to the run loop, and how the loop answers.
#[derive(Debug)]
pub struct Inbound {
    pub touched: Touched,
    pub reply: oneshot::Sender<Handled>,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It names nothing declared: dropped.
    Ignored,
    /// Its resources were reconciled; `false` when one ended in a
    /// retryable error (the message stays for SQS to deliver again).
    Reconciled(bool),
    /// This replica does not lead: the message stays for the leader.
    NotLeading,
}

/// Counts what the listener received (`driftd_events_received_total`).
pub trait Observer: Send + Sync {
    /// `matched`, `ignored` or `invalid`.
    fn received(&self, outcome: &'static str);
}

/// Opens the queue at a URL with an environment's credentials and region.
#[async_trait::async_trait]
pub trait Queues: Send + Sync {
    /// `environment`: whose credentials read it (`None`: the process's
    /// own, for `--events-queue`).
    async fn open(&self, environment: Option<&Environment>, url: &str) -> Arc<dyn Queue>;
}

/// The queues of a desired state (each Environment's `eventsQueueUrl`), by
/// URL, with the environment whose credentials read each: a queue that
/// several environments name (a hub that EventBridge rules of several
/// accounts feed) is read once, with the first one's.
pub type Wanted = BTreeMap<String, Option<Environment>>;

/// The queues `loaded` names.
pub fn wanted(loaded: &Loaded) -> Wanted {
    let mut wanted = Wanted::new();
    for env in &loaded.environments {
        let e = &env.environment;
        if let Some(url) = &e.events_queue_url {
            wanted.entry(url.clone()).or_insert_with(|| Some(e.clone()));
        }
    }
    wanted
}

/// Whether a queue read with `a`'s credentials is read with `b`'s.
fn same_credentials(a: &Option<Environment>, b: &Option<Environment>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.region == b.region && a.role_arn == b.role_arn && a.external_id == b.external_id
        }
        _ => false,
    }
}

/// Keeps one [`listen`]er per queue: `global` (`--events-queue`, read with
/// the process's credentials) and those of the desired state last accepted
/// (`wanted`, from the run loop). A queue that appears on a reload is
/// listened to, one that goes is no longer, one whose environment's
/// credentials changed is opened again. Ends when the run loop does.
pub async fn supervise(
    queues: Arc<dyn Queues>,
    global: Option<String>,
    mut wanted: watch::Receiver<Wanted>,
    inbox: mpsc::Sender<Inbound>,
    leading: Option<watch::Receiver<bool>>,
    observer: Arc<dyn Observer>,
) {
    let mut running: BTreeMap<String, (Option<Environment>, tokio::task::JoinHandle<()>)> =
        BTreeMap::new();
    loop {
        let mut now = wanted.borrow_and_update().clone();
        if let Some(url) = &global {
            now.insert(url.clone(), None);
        }
        running.retain(|url, (env, task)| {
            let keep = now.get(url).is_some_and(|e| same_credentials(e, env));
            if !keep {
                info!(queue = %url, "no longer listening to this events queue");
                task.abort();
            }
            keep
        });
        for (url, env) in now {
            if running.contains_key(&url) {
                continue;
            }
            let queue = queues.open(env.as_ref(), &url).await;
            info!(
                queue = %url,
                environment = env.as_ref().map_or("(the process's credentials)", |e| e.name.as_str()),
                "listening to an events queue"
            );
            let task = tokio::spawn(listen(
                queue,
                inbox.clone(),
                leading.clone(),
                observer.clone(),
            ));
            running.insert(url, (env, task));
        }
        if wanted.changed().await.is_err() {
            break; // the run loop has stopped
        }
    }
    for (_, (_, task)) in running {
        task.abort();
    }
}

/// How long a matched event waits for its reconcile before the message is
/// left for SQS to deliver again.
const HANDLING_TIMEOUT: Duration = Duration::from_secs(60);

/// Long-polls the queue while this replica leads (`leading`; always without
/// leader election) and hands each event to the run loop on `inbox`;
/// deletes a message once handled. Survives a queue that fails or
/// disappears: it tries again, up to 30 s apart.
pub async fn listen(
    queue: Arc<dyn Queue>,
    inbox: mpsc::Sender<Inbound>,
    mut leading: Option<watch::Receiver<bool>>,
    observer: Arc<dyn Observer>,
) {
    let mut failures: u32 = 0;
    loop {
        if let Some(rx) = &mut leading {
            if rx.wait_for(|l| *l).await.is_err() {
                return; // the election ended: the process is stopping
            }
        }
        let messages = match queue.receive().await {
            Ok(m) => {
                if failures > 0 {
                    info!("the events queue answers again");
                }
                failures = 0;
                m
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = Duration::from_secs(1 << failures.min(5)).min(Duration::from_secs(30));
                warn!(error = %e, retry_in = ?wait, "cannot receive from the events queue");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        for message in messages {
            let queue = queue.clone();
            let inbox = inbox.clone();
            let observer = observer.clone();
            tokio::spawn(async move { handle(queue, inbox, observer, message).await });
        }
    }
}

async fn handle(
    queue: Arc<dyn Queue>,
    inbox: mpsc::Sender<Inbound>,
    observer: Arc<dyn Observer>,
    message: Message,
) {
    let delete = match parse(&message.body) {
        Parsed::Invalid(why) => {
            debug!(message = %message.id, %why, "an events-queue message that is not an event: dropped");
            observer.received("invalid");
            true
        }
        Parsed::Ignored => {
            observer.received("ignored");
            true
        }
        Parsed::Touched(touched) => {
            let (reply, handled) = oneshot::channel();
            if inbox.send(Inbound { touched, reply }).await.is_err() {
                return; // the run loop has stopped: SQS delivers it again
            }
            match tokio::time::timeout(HANDLING_TIMEOUT, handled).await {
                Ok(Ok(Handled::Ignored)) => {
                    observer.received("ignored");
                    true
                }
                Ok(Ok(Handled::Reconciled(ok))) => {
                    observer.received("matched");
                    ok
                }
                Ok(Ok(Handled::NotLeading)) | Ok(Err(_)) | Err(_) => false,
            }
        }
    };
    if delete {
        if let Err(e) = queue.delete(std::slice::from_ref(&message.receipt)).await {
            warn!(error = %e, message = %message.id, "cannot delete an events-queue message: it will be handled again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloudtrail_event(source: &str, name: &str, params: Value) -> String {
        serde_json::json!({
            "version": "0",
            "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
            "detail-type": "AWS API Call via CloudTrail",
            "source": source.replace(".amazonaws.com", "").replace("monitoring", "aws.cloudwatch"),
            "account": "123456789012",
            "time": "2026-12-07T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.08",
                "eventSource": source,
                "eventName": name,
                "awsRegion": "us-east-1",
                "requestParameters": params,
            }
        })
        .to_string()
    }

    fn targets(body: &str) -> Vec<Target> {
        match parse(body) {
            Parsed::Touched(t) => t.targets,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_write_of_the_contract_names_its_resource() {
        use serde_json::json;
        const CLOUDWATCH: &str = "monitoring.amazonaws.com";
        const SNS: &str = "sns.amazonaws.com";
        const SECRETS: &str = "secretsmanager.amazonaws.com";
        const ECS: &str = "ecs.amazonaws.com";
        const AUTOSCALING: &str = "application-autoscaling.amazonaws.com";
        let alarm = |n: &str| Target::Alarm(n.into());
        let dashboard = || vec![Target::Dashboard("ops".into())];
        let topic = || vec![Target::Topic("alerts".into())];
        let secret = || vec![Target::Secret("app/db".into())];
        let worker = || {
            vec![Target::EcsService {
                cluster: "shop".into(),
                service: "worker".into(),
            }]
        };
        // Each call of a row, with the row's parameters, names its targets.
        let table: Vec<(&str, &[&str], Value, Vec<Target>)> = vec![
            (
                CLOUDWATCH,
                &["PutMetricAlarm"],
                json!({"alarmName": "cpu"}),
                vec![alarm("cpu")],
            ),
            (
                CLOUDWATCH,
                &["DeleteAlarms"],
                json!({"alarmNames": ["a", "b"]}),
                vec![alarm("a"), alarm("b")],
            ),
            (
                CLOUDWATCH,
                &["DisableAlarmActions", "EnableAlarmActions"],
                json!({"alarmNames": ["a"]}),
                vec![alarm("a")],
            ),
            (
                CLOUDWATCH,
                &["PutDashboard"],
                json!({"dashboardName": "ops"}),
                dashboard(),
            ),
            (
                CLOUDWATCH,
                &["DeleteDashboards"],
                json!({"dashboardNames": ["ops"]}),
                dashboard(),
            ),
            (
                CLOUDWATCH,
                &["TagResource"],
                json!({"resourceARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu"}),
                vec![alarm("cpu")],
            ),
            (
                CLOUDWATCH,
                &["UntagResource"],
                json!({"resourceARN": "arn:aws:cloudwatch::123456789012:dashboard/ops"}),
                dashboard(),
            ),
            (
                SNS,
                &["SetTopicAttributes"],
                json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "attributeName": "DisplayName"}),
                topic(),
            ),
            (
                SNS,
                &["Subscribe", "DeleteTopic"],
                json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:alerts"}),
                topic(),
            ),
            (
                SNS,
                &["Unsubscribe"],
                json!({"subscriptionArn": "arn:aws:sns:us-east-1:123456789012:alerts:7f1a"}),
                topic(),
            ),
            (
                SECRETS,
                &[
                    "PutSecretValue",
                    "UpdateSecret",
                    "DeleteSecret",
                    "RestoreSecret",
                ],
                json!({"secretId": "app/db"}),
                secret(),
            ),
            (
                ECS,
                &["UpdateService"],
                json!({"cluster": "shop", "service": "worker", "desiredCount": 3}),
                worker(),
            ),
            (
                AUTOSCALING,
                &["RegisterScalableTarget", "DeregisterScalableTarget"],
                json!({"resourceId": "service/shop/worker"}),
                worker(),
            ),
        ];
        for (source, names, params, expected) in table {
            for name in names {
                assert_eq!(
                    targets(&cloudtrail_event(source, name, params.clone())),
                    expected,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn alarm_configuration_changes_are_understood_and_the_rest_ignored_or_invalid() {
        let change = serde_json::json!({
            "version": "0",
            "detail-type": "CloudWatch Alarm Configuration Change",
            "source": "aws.cloudwatch",
            "account": "123456789012",
            "time": "2026-12-07T10:00:00Z",
            "region": "us-east-1",
            "detail": {"alarmName": "cpu", "operation": "update"}
        })
        .to_string();
        assert_eq!(targets(&change), [Target::Alarm("cpu".into())]);
        let read = cloudtrail_event(
            "monitoring.amazonaws.com",
            "DescribeAlarms",
            serde_json::json!({}),
        );
        assert_eq!(parse(&read), Parsed::Ignored);
        let mut refused: Value = serde_json::from_str(&cloudtrail_event(
            "monitoring.amazonaws.com",
            "PutMetricAlarm",
            serde_json::json!({"alarmName": "cpu"}),
        ))
        .unwrap();
        refused["detail"]["errorCode"] = "AccessDenied".into();
        assert_eq!(parse(&refused.to_string()), Parsed::Ignored);
        assert!(matches!(parse("{not json"), Parsed::Invalid(_)));
        assert!(matches!(parse("{\"hello\": 1}"), Parsed::Invalid(_)));
    }

    #[test]
    fn only_calls_that_cannot_change_tags_keep_them() {
        let keeps = |source: &str, name: &str, params: Value| match parse(&cloudtrail_event(
            source, name, params,
        )) {
            Parsed::Touched(t) => t.tags == TagEffect::None,
            other => panic!("{other:?}"),
        };
        let alarm = || serde_json::json!({"alarmName": "cpu", "alarmNames": ["cpu"]});
        let arn = serde_json::json!({"resourceARN": "arn:aws:cloudwatch:us-east-1:1:alarm:cpu"});
        assert!(keeps("monitoring.amazonaws.com", "PutMetricAlarm", alarm()));
        assert!(keeps(
            "monitoring.amazonaws.com",
            "DisableAlarmActions",
            alarm()
        ));
        assert!(!keeps("monitoring.amazonaws.com", "DeleteAlarms", alarm()));
        let effect = |name: &str, params: Value| match parse(&cloudtrail_event(
            "monitoring.amazonaws.com",
            name,
            params,
        )) {
            Parsed::Touched(t) => t.tags,
            other => panic!("{other:?}"),
        };
        let mut tag = arn.clone();
        tag["tags"] = serde_json::json!([{"key": "driftd:owner", "value": "driftd"}]);
        assert_eq!(
            effect("TagResource", tag),
            TagEffect::Set(Tags::from([("driftd:owner".into(), "driftd".into())]))
        );
        let mut untag = arn.clone();
        untag["tagKeys"] = serde_json::json!(["team"]);
        assert_eq!(
            effect("UntagResource", untag),
            TagEffect::Remove(vec!["team".into()])
        );
        assert_eq!(
            effect("TagResource", arn.clone()),
            TagEffect::Unknown,
            "no tags given"
        );
        assert_eq!(effect("UntagResource", arn), TagEffect::Unknown);
        let topic = || serde_json::json!({"topicArn": "arn:aws:sns:us-east-1:1:alerts"});
        assert!(keeps("sns.amazonaws.com", "SetTopicAttributes", topic()));
        assert!(keeps("sns.amazonaws.com", "Subscribe", topic()));
        assert!(!keeps("sns.amazonaws.com", "DeleteTopic", topic()));
        let secret = || serde_json::json!({"secretId": "app/db"});
        assert!(keeps(
            "secretsmanager.amazonaws.com",
            "PutSecretValue",
            secret()
        ));
        assert!(!keeps(
            "secretsmanager.amazonaws.com",
            "RestoreSecret",
            secret()
        ));

        let change = |operation: &str| {
            serde_json::json!({
                "detail-type": "CloudWatch Alarm Configuration Change",
                "detail": {"alarmName": "cpu", "operation": operation}
            })
            .to_string()
        };
        let keeps_change =
            |op| matches!(parse(&change(op)), Parsed::Touched(t) if t.tags == TagEffect::None);
        assert!(keeps_change("update"));
        assert!(
            !keeps_change("create"),
            "a new alarm's tags were never read"
        );
        assert!(!keeps_change("delete"));
    }

    #[test]
    fn a_secret_arn_is_its_name_and_six_random_characters() {
        assert!(is_secret("app/db", "app/db"));
        assert!(is_secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf",
            "app/db"
        ));
        assert!(!is_secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-old-AbCdEf",
            "app/db"
        ));
        assert!(!is_secret("app/db2", "app/db"));
    }
}
