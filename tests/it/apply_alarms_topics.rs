//! The real `driftd` binary against a private moto, end to end, for Topics and
//! Alarms: create from nothing, a second apply that writes nothing, drift made
//! with the SDK planned field by field and corrected, adoption, observe mode,
//! subscriptions never doubled, foreign owners, and one failing resource that
//! does not stop the others.
//!
//! Every test starts its own moto (and, where calls are counted, a recording
//! proxy in front of it); both are stopped when the test ends, pass or fail.
//!
//! Where moto differs from real AWS (noted at each use):
//! * moto confirms every SNS subscription at once, email included; real SNS
//!   lists an email subscription as `PendingConfirmation` until someone clicks
//!   the link. The pending case is covered by the fake (src/kinds/topic.rs).
//! * moto's `Subscribe` of an existing (protocol, endpoint) returns the
//!   existing subscription, so a doubled subscription could never show in its
//!   listing; the tests therefore also count `Subscribe` calls on the wire.
//! * moto's `DescribeAlarms` never pages; real CloudWatch pages at
//!   `MaxRecords`, which driftd sets to the 100 names it asks for per call.

use crate::common;

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder as PutAlarm;
use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, Statistic};
use common::cloudwatch::{alarm_names, dimension, errors_alarm, errors_alarm_yaml, tag, AlarmDoc};
use common::proxy::Proxy;
use common::sns::topic_yaml;
use common::{desired_dir, run_with_dir, Clients, Moto, Run};

const OWNER_TAG: &str = "driftd:owner";
const SQS_ARCHIVE: &str = "arn:aws:sqs:us-east-1:123456789012:alerts-archive";
const ONCALL: &str = "oncall@example.com";

/// The topic `alerts`, shown as `Platform alerts`, with these (protocol,
/// endpoint) subscriptions, then the spec lines `more`.
fn alerts_topic(subscriptions: &[(&str, &str)], more: &str) -> String {
    let subscriptions: String = subscriptions
        .iter()
        .map(|(protocol, endpoint)| {
            format!("    - {{protocol: {protocol}, endpoint: {endpoint}}}\n")
        })
        .collect();
    format!(
        "{}  subscriptions:\n{subscriptions}{more}",
        topic_yaml("alerts", "Platform alerts")
    )
}

/// A Topic with an email and an SQS subscription, and three alarms that
/// notify it: a simple one with dimensions, a p99 one, and a metric-math one.
fn stack() -> String {
    let topic = alerts_topic(
        &[("email", ONCALL), ("sqs", SQS_ARCHIVE)],
        "  tags: {team: platform}\n",
    );
    let cpu = AlarmDoc::cpu_high("cpu-high", "shop", "shop-api")
        .set("alarmActions", "[topic:alerts]")
        .set("okActions", "[topic:alerts]")
        .set("tags", "{team: platform}");
    format!("{topic}---\n{cpu}{OTHER_ALARMS}")
}

/// The other two alarms of [`stack`].
const OTHER_ALARMS: &str = r#"---
apiVersion: driftd/v1
kind: Alarm
metadata:
  name: latency-p99
spec:
  description: ALB p99 latency above 2 seconds for 3 minutes
  namespace: AWS/ApplicationELB
  metricName: TargetResponseTime
  dimensions: {LoadBalancer: app/shop/0123456789abcdef}
  extendedStatistic: p99
  period: 60
  evaluationPeriods: 3
  datapointsToAlarm: 2
  threshold: 2
  comparisonOperator: GreaterThanThreshold
  treatMissingData: notBreaching
  alarmActions: [topic:alerts]
---
apiVersion: driftd/v1
kind: Alarm
metadata:
  name: errors-5xx
spec:
  description: 5xx above 10 per minute
  evaluationPeriods: 3
  datapointsToAlarm: 3
  threshold: 10
  comparisonOperator: GreaterThanThreshold
  treatMissingData: notBreaching
  metrics:
    - id: errors
      label: 5xx per minute
      expression: FILL(elb, 0) + FILL(target, 0)
    - id: elb
      returnData: false
      metricStat:
        namespace: AWS/ApplicationELB
        metricName: HTTPCode_ELB_5XX_Count
        dimensions: {LoadBalancer: app/shop/0123456789abcdef}
        period: 60
        stat: Sum
    - id: target
      returnData: false
      metricStat:
        namespace: AWS/ApplicationELB
        metricName: HTTPCode_Target_5XX_Count
        dimensions: {LoadBalancer: app/shop/0123456789abcdef}
        period: 60
        stat: Sum
  alarmActions: [topic:alerts]
"#;

const ALARMS: [&str; 3] = ["cpu-high", "latency-p99", "errors-5xx"];

/// Raw SDK clients on moto, to inject drift and to look at the result.
struct Sdk(Clients);

impl Sdk {
    async fn new(moto: &Moto) -> Sdk {
        Sdk(Clients::of(moto).await)
    }

    async fn alarm(&self, name: &str) -> MetricAlarm {
        common::cloudwatch::alarm(&self.cloudwatch, name).await
    }

    async fn alarm_names(&self) -> Vec<String> {
        let mut names = alarm_names(&self.cloudwatch).await;
        names.sort();
        names
    }

    async fn alarm_tags(&self, name: &str) -> BTreeMap<String, String> {
        let arn = self
            .alarm(name)
            .await
            .alarm_arn()
            .expect("alarm ARN")
            .to_string();
        common::cloudwatch::tags_of(&self.cloudwatch, &arn).await
    }

    /// The ARN of the topic of this name, if it exists.
    async fn topic_arn(&self, name: &str) -> Option<String> {
        let resp = self.sns.list_topics().send().await.expect("list topics");
        assert!(resp.next_token().is_none(), "tests hold few topics");
        resp.topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|arn| arn.rsplit(':').next() == Some(name))
            .map(str::to_string)
    }

    async fn topic_attribute(&self, arn: &str, attribute: &str) -> Option<String> {
        common::sns::topic_attribute(&self.sns, arn, attribute).await
    }

    async fn topic_tags(&self, arn: &str) -> BTreeMap<String, String> {
        common::sns::topic_tags(&self.sns, arn).await
    }

    /// (protocol, endpoint, subscription ARN) of every subscription, sorted.
    async fn subscriptions(&self, arn: &str) -> Vec<(String, String, String)> {
        common::sns::subscriptions(&self.sns, arn).await
    }

    /// The ARN of every subscription, in the order of [`Sdk::subscriptions`].
    async fn subscription_arns(&self, arn: &str) -> Vec<String> {
        let subscriptions = self.subscriptions(arn).await;
        subscriptions.into_iter().map(|(_, _, arn)| arn).collect()
    }

    /// (protocol, endpoint) of every subscription, sorted.
    async fn subscribed(&self, arn: &str) -> Vec<(String, String)> {
        common::sns::subscribed(&self.sns, arn).await
    }

    /// Asserts that the topic `arn` is as [`stack`] declares it: its display
    /// name and its two subscriptions.
    async fn assert_declared_topic(&self, arn: &str) {
        assert_eq!(
            self.topic_attribute(arn, "DisplayName").await.as_deref(),
            Some("Platform alerts")
        );
        assert_eq!(
            self.subscribed(arn).await,
            [
                ("email".to_string(), ONCALL.to_string()),
                ("sqs".to_string(), SQS_ARCHIVE.to_string()),
            ]
        );
    }

    /// Renames the topic `arn` at the console: display name `Renamed by hand`.
    async fn rename_topic(&self, arn: &str) {
        self.sns
            .set_topic_attributes()
            .topic_arn(arn)
            .attribute_name("DisplayName")
            .attribute_value("Renamed by hand")
            .send()
            .await
            .expect("set display name");
    }

    /// Re-puts an alarm as it is, with these changes made by `edit`, the way
    /// someone at the console would (PutMetricAlarm replaces the definition).
    async fn edit_alarm(&self, name: &str, edit: impl FnOnce(PutAlarm) -> PutAlarm) {
        let a = self.alarm(name).await;
        let put = self
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .set_alarm_description(a.alarm_description().map(str::to_string))
            .set_namespace(a.namespace().map(str::to_string))
            .set_metric_name(a.metric_name().map(str::to_string))
            .set_dimensions(Some(a.dimensions().to_vec()))
            .set_statistic(a.statistic().cloned())
            .set_extended_statistic(a.extended_statistic().map(str::to_string))
            .set_unit(a.unit().cloned())
            .set_period(a.period())
            .set_evaluation_periods(a.evaluation_periods())
            .set_datapoints_to_alarm(a.datapoints_to_alarm())
            .set_threshold(a.threshold())
            .set_comparison_operator(a.comparison_operator().cloned())
            .set_treat_missing_data(a.treat_missing_data().map(str::to_string))
            .set_actions_enabled(a.actions_enabled())
            .set_alarm_actions(Some(a.alarm_actions().to_vec()))
            .set_ok_actions(Some(a.ok_actions().to_vec()))
            .set_insufficient_data_actions(Some(a.insufficient_data_actions().to_vec()));
        edit(put).send().await.expect("put metric alarm");
    }
}

// The shared clients' fields (`self.cloudwatch`, `self.sns`, ...) read through.
impl std::ops::Deref for Sdk {
    type Target = Clients;
    fn deref(&self) -> &Clients {
        &self.0
    }
}

/// The lines of an output that belong to this resource's block (its header
/// line and the indented lines under it).
fn block<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(header));
    let Some(first) = lines.next() else {
        panic!("no block starting with {header:?} in\n{stdout}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("    ")))
        .collect()
}

/// Asserts that the block of an output that starts with the first line of
/// `expected` is `expected`, line for line.
#[track_caller]
fn assert_block(out: &Run, expected: &str) {
    let header = expected.lines().next().expect("a header line");
    assert_eq!(block(&out.stdout, header).join("\n"), expected, "{out:?}");
}

/// Asserts that the resource under `header` failed alone: its block is the
/// header marked `error` and one line of the error of this `class`, naming `what`.
#[track_caller]
fn assert_error(out: &Run, header: &str, class: &str, what: &str) {
    let lines = block(&out.stdout, header);
    assert_eq!(lines[0], format!("{header}: error"), "{out:?}");
    assert!(
        lines.len() == 2
            && lines[1].starts_with(&format!("    error ({class}): "))
            && lines[1].contains(what),
        "{out:?}"
    );
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn dimensions(alarm: &MetricAlarm) -> BTreeMap<String, String> {
    alarm
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
        .collect()
}

#[tokio::test]
async fn apply_creates_a_topic_and_its_alarms_from_nothing() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto).await;
    let dir = desired_dir(&[("stack.yaml", &stack())]);

    let out = run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(0);
    // The topic is created before the alarms that notify it.
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with('+'))
            .collect::<Vec<_>>(),
        [
            "+ Topic alerts: created",
            "+ Alarm cpu-high: created",
            "+ Alarm latency-p99: created",
            "+ Alarm errors-5xx: created",
        ],
        "{out:?}"
    );
    out.assert_stdout_contains("Apply: 4 created, 0 corrected, 0 observed, 0 errors, 0 in sync.");

    let topic = sdk.topic_arn("alerts").await.expect("topic created");
    sdk.assert_declared_topic(&topic).await;
    assert_eq!(
        sdk.topic_tags(&topic).await,
        tags(&[(OWNER_TAG, "driftd"), ("team", "platform")])
    );

    let cpu = sdk.alarm("cpu-high").await;
    assert_eq!(
        cpu.alarm_description(),
        Some("ECS CPU above 85% for 5 minutes")
    );
    assert_eq!(cpu.namespace(), Some("AWS/ECS"));
    assert_eq!(cpu.metric_name(), Some("CPUUtilization"));
    assert_eq!(
        dimensions(&cpu),
        tags(&[("ClusterName", "shop"), ("ServiceName", "shop-api")])
    );
    assert_eq!(cpu.statistic(), Some(&Statistic::Average));
    assert_eq!(cpu.extended_statistic(), None);
    assert_eq!(cpu.unit().map(|u| u.as_str()), Some("Percent"));
    assert_eq!(cpu.period(), Some(300));
    assert_eq!(cpu.evaluation_periods(), Some(1));
    assert_eq!(cpu.datapoints_to_alarm(), Some(1));
    assert_eq!(cpu.threshold(), Some(85.0));
    assert_eq!(
        cpu.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanThreshold)
    );
    // Not declared: CloudWatch's default, which it reports as absent or `missing`.
    assert_eq!(cpu.treat_missing_data().unwrap_or("missing"), "missing");
    assert_eq!(cpu.actions_enabled(), Some(true));
    assert_eq!(cpu.alarm_actions(), [topic.as_str()]);
    assert_eq!(cpu.ok_actions(), [topic.as_str()]);
    assert!(cpu.insufficient_data_actions().is_empty());

    let p99 = sdk.alarm("latency-p99").await;
    assert_eq!(p99.statistic(), None);
    assert_eq!(p99.extended_statistic(), Some("p99"));
    assert_eq!(p99.namespace(), Some("AWS/ApplicationELB"));
    assert_eq!(p99.metric_name(), Some("TargetResponseTime"));
    assert_eq!(
        dimensions(&p99),
        tags(&[("LoadBalancer", "app/shop/0123456789abcdef")])
    );
    assert_eq!(p99.period(), Some(60));
    assert_eq!(p99.evaluation_periods(), Some(3));
    assert_eq!(p99.datapoints_to_alarm(), Some(2));
    assert_eq!(p99.threshold(), Some(2.0));
    assert_eq!(p99.treat_missing_data(), Some("notBreaching"));
    assert_eq!(p99.alarm_actions(), [topic.as_str()]);
    assert!(p99.ok_actions().is_empty());

    let math = sdk.alarm("errors-5xx").await;
    assert_eq!(math.namespace(), None);
    assert_eq!(math.metric_name(), None);
    assert_eq!(math.statistic(), None);
    assert_eq!(math.evaluation_periods(), Some(3));
    assert_eq!(math.datapoints_to_alarm(), Some(3));
    assert_eq!(math.threshold(), Some(10.0));
    assert_eq!(math.treat_missing_data(), Some("notBreaching"));
    assert_eq!(math.alarm_actions(), [topic.as_str()]);
    let queries = math.metrics();
    let ids: Vec<_> = queries.iter().filter_map(|q| q.id()).collect();
    assert_eq!(ids, ["errors", "elb", "target"]);
    assert_eq!(
        queries[0].expression(),
        Some("FILL(elb, 0) + FILL(target, 0)")
    );
    assert_eq!(queries[0].label(), Some("5xx per minute"));
    // CloudWatch's default for ReturnData is true: absent means true.
    assert!(queries[0].return_data().unwrap_or(true));
    for (query, metric) in queries[1..]
        .iter()
        .zip(["HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"])
    {
        assert_eq!(query.return_data(), Some(false), "{query:?}");
        let stat = query.metric_stat().expect("metricStat");
        assert_eq!(stat.period(), Some(60));
        assert_eq!(stat.stat(), Some("Sum"));
        let m = stat.metric().expect("metric");
        assert_eq!(m.namespace(), Some("AWS/ApplicationELB"));
        assert_eq!(m.metric_name(), Some(metric));
        let dims: Vec<_> = m
            .dimensions()
            .iter()
            .map(|d| (d.name(), d.value()))
            .collect();
        assert_eq!(
            dims,
            [(Some("LoadBalancer"), Some("app/shop/0123456789abcdef"))]
        );
    }

    for name in ALARMS {
        let expected = if name == "cpu-high" {
            tags(&[(OWNER_TAG, "driftd"), ("team", "platform")])
        } else {
            tags(&[(OWNER_TAG, "driftd")])
        };
        assert_eq!(sdk.alarm_tags(name).await, expected, "tags of {name}");
    }
}

/// 150 alarms without actions, named `bulk-000` to `bulk-149`.
fn bulk_alarms(n: usize) -> String {
    (0..n)
        .map(|i| errors_alarm_yaml(&format!("bulk-{i:03}"), "Shop", i))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test]
async fn a_second_apply_writes_nothing_and_reads_are_batched() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let dir = desired_dir(&[("stack.yaml", &stack())]);

    run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    assert!(!proxy.writes().is_empty(), "the first apply creates");

    proxy.reset();
    let second = run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    proxy.assert_no_writes("the second apply");
    second
        .assert_stdout_contains("Apply: 0 created, 0 corrected, 0 observed, 0 errors, 4 in sync.");

    let plan = run_with_dir(
        proxy.driftd(&moto),
        &["plan", "--detailed-exitcode"],
        dir.path(),
    )
    .expect_code(0);
    assert_eq!(
        plan.stdout,
        "Plan: 0 to create, 0 to update, 0 to delete, 0 errors.\n"
    );
    proxy.assert_no_writes("the plan");

    // Reads are batched: 100 alarm names per DescribeAlarms, 100 ARNs per
    // tag:GetResources, whatever the number of alarms.
    let bulk = desired_dir(&[("bulk.yaml", &bulk_alarms(150))]);
    let created = run_with_dir(proxy.driftd(&moto), &["apply"], bulk.path()).expect_code(0);
    created.assert_stdout_contains("Apply: 150 created,");
    proxy.reset();
    run_with_dir(
        proxy.driftd(&moto),
        &["plan", "--detailed-exitcode"],
        bulk.path(),
    )
    .expect_code(0);
    let calls: Vec<String> = proxy.calls().iter().map(ToString::to_string).collect();
    assert_eq!(proxy.count("DescribeAlarms"), 2, "{calls:?}");
    // Real AWS answers a GetResources with a ResourceARNList in one page (it
    // rejects pagination parameters alongside one), so 2 calls for 150 ARNs.
    // moto pages it at 50 resources nonetheless: 100 ARNs in 2 pages, the last
    // 50 in 1, which driftd follows. Then the prune step lists what this
    // driftd owns, pruning or not (docs/pruning.md): GetResources with a tag
    // filter (150 alarms: 2 pages of 100), one ListSecrets, one ListDashboards.
    assert_eq!(proxy.count("GetResources"), 3 + 2, "{calls:?}");
    assert_eq!(proxy.count("ListSecrets"), 1, "{calls:?}");
    assert_eq!(proxy.count("ListDashboards"), 1, "{calls:?}");
    assert_eq!(calls.len(), 5 + 4, "nothing else is read: {calls:?}");
    assert!(
        proxy
            .calls()
            .iter()
            .filter(|c| c.op() == "GetResources")
            .all(|c| c.service.as_deref() == Some("tagging")),
        "{calls:?}"
    );
    // With every GetResources answered in one page, as real AWS does (the
    // proxy's `drop` answers `{}`: a last page, here without tags), the calls
    // count the batches themselves.
    proxy.faults(serde_json::json!([{"operation": "GetResources", "action": "drop"}]));
    proxy.reset();
    run_with_dir(proxy.driftd(&moto), &["plan"], bulk.path()).expect_code(0);
    let calls: Vec<String> = proxy.calls().iter().map(ToString::to_string).collect();
    assert_eq!(proxy.count("DescribeAlarms"), 2, "{calls:?}");
    // 2 batches of tags, and the prune step's listing in one page.
    assert_eq!(proxy.count("GetResources"), 2 + 1, "{calls:?}");
    assert_eq!(calls.len(), 4 + 3, "{calls:?}");
}

#[tokio::test]
async fn drift_made_outside_is_planned_field_by_field_and_corrected() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto).await;
    let dir = desired_dir(&[("stack.yaml", &stack())]);
    run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(0);
    let topic = sdk.topic_arn("alerts").await.expect("topic");

    // Someone edits the alarm at the console and disables its actions...
    sdk.edit_alarm("cpu-high", |put| put.threshold(90.0).evaluation_periods(2))
        .await;
    sdk.cloudwatch
        .disable_alarm_actions()
        .alarm_names("cpu-high")
        .send()
        .await
        .expect("disable alarm actions");
    // ...renames the topic and removes its SQS subscription.
    sdk.rename_topic(&topic).await;
    let sqs = sdk
        .subscriptions(&topic)
        .await
        .into_iter()
        .find(|(p, _, _)| p == "sqs")
        .expect("sqs subscription")
        .2;
    sdk.sns
        .unsubscribe()
        .subscription_arn(sqs)
        .send()
        .await
        .expect("unsubscribe");

    let plan = run_with_dir(moto.driftd(), &["plan"], dir.path());
    assert_eq!(plan.code, 0, "plain plan exits 0 on drift: {plan:?}");
    // A missing subscription is shown with its desired value only.
    assert_block(
        &plan,
        &format!(
            "\
~ Topic alerts
    displayName: Renamed by hand → Platform alerts
    subscriptions: (none) → sqs:{SQS_ARCHIVE}"
        ),
    );
    assert_block(
        &plan,
        "\
~ Alarm cpu-high
    evaluationPeriods: 2 → 1
    threshold: 90 → 85
    actionsEnabled: false → true",
    );
    // The other alarms are in sync and not shown without -v.
    plan.assert_stdout_lacks("latency-p99");
    plan.assert_stdout_lacks("errors-5xx");
    assert!(
        plan.stdout
            .ends_with("\nPlan: 0 to create, 2 to update, 0 to delete, 0 errors.\n"),
        "{plan:?}"
    );

    run_with_dir(moto.driftd(), &["plan", "--detailed-exitcode"], dir.path()).expect_code(2);

    // The JSON plan: {"version": 1, "summary": {"create", "update", "delete",
    // "error", "in_sync", "orphaned"}, "drift": bool, "resources": [{"kind",
    // "name", "mode", "action", "state", "changes": [{"field", "from"?, "to"?}]
    // (absent when empty), ...}]}.
    let json =
        run_with_dir(moto.driftd(), &["plan", "--output", "json"], dir.path()).expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("plan is JSON");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["drift"], true);
    assert_eq!(
        doc["summary"],
        serde_json::json!({"create": 0, "update": 2, "delete": 0, "error": 0,
                           "in_sync": 2, "orphaned": 0})
    );
    let resources = doc["resources"].as_array().expect("resources");
    let find = |kind: &str, name: &str| {
        resources
            .iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} in {doc:#}"))
            .clone()
    };
    let alarm = find("Alarm", "cpu-high");
    assert_eq!(alarm["action"], "update");
    assert_eq!(alarm["state"], "drifted");
    assert_eq!(alarm["mode"], "enforce");
    assert_eq!(
        alarm["changes"],
        serde_json::json!([
            {"field": "evaluationPeriods", "from": "2", "to": "1"},
            {"field": "threshold", "from": "90", "to": "85"},
            {"field": "actionsEnabled", "from": "false", "to": "true"},
        ])
    );
    let topic_json = find("Topic", "alerts");
    assert_eq!(topic_json["action"], "update");
    assert_eq!(
        topic_json["changes"],
        serde_json::json!([
            {"field": "displayName", "from": "Renamed by hand", "to": "Platform alerts"},
            {"field": "subscriptions", "to": format!("sqs:{SQS_ARCHIVE}")},
        ])
    );
    let in_sync = find("Alarm", "latency-p99");
    assert_eq!(in_sync["action"], "in_sync");
    assert!(in_sync.get("changes").is_none(), "{in_sync}");

    let apply = run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(0);
    assert_block(
        &apply,
        "\
~ Alarm cpu-high: corrected
    evaluationPeriods: 2 → 1
    threshold: 90 → 85
    actionsEnabled: false → true",
    );
    apply.assert_stdout_contains("~ Topic alerts: corrected");
    apply.assert_stdout_contains("Apply: 0 created, 2 corrected, 0 observed, 0 errors, 2 in sync.");

    let cpu = sdk.alarm("cpu-high").await;
    assert_eq!(cpu.threshold(), Some(85.0));
    assert_eq!(cpu.evaluation_periods(), Some(1));
    assert_eq!(cpu.datapoints_to_alarm(), Some(1));
    assert_eq!(cpu.actions_enabled(), Some(true));
    assert_eq!(cpu.alarm_actions(), [topic.as_str()]);
    assert_eq!(
        sdk.alarm_tags("cpu-high").await,
        tags(&[(OWNER_TAG, "driftd"), ("team", "platform")])
    );
    sdk.assert_declared_topic(&topic).await;

    let clean =
        run_with_dir(moto.driftd(), &["plan", "--detailed-exitcode"], dir.path()).expect_code(0);
    assert_eq!(
        clean.stdout,
        "Plan: 0 to create, 0 to update, 0 to delete, 0 errors.\n"
    );
}

const ADOPTED: &str = r#"
apiVersion: driftd/v1
kind: Topic
metadata:
  name: legacy-alerts
spec:
  displayName: Legacy alerts
  tags: {team: platform}
---
apiVersion: driftd/v1
kind: Alarm
metadata:
  name: legacy-errors
spec:
  namespace: Shop
  metricName: Errors
  statistic: Sum
  period: 60
  evaluationPeriods: 1
  threshold: 5
  comparisonOperator: GreaterThanThreshold
  alarmActions: [topic:legacy-alerts]
  tags: {team: platform}
"#;

#[tokio::test]
async fn resources_created_by_hand_are_adopted_and_their_other_tags_kept() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto).await;
    // Made by hand before driftd: no owner tag, a tag of someone else's, and
    // values that differ from the files.
    let topic = common::sns::create(
        sdk.sns
            .create_topic()
            .name("legacy-alerts")
            .attributes("DisplayName", "Old name")
            .tags(common::sns::tag("cost-center", "42")),
    )
    .await;
    errors_alarm(&sdk.cloudwatch, "legacy-errors", "Shop", 50.0)
        .alarm_actions(&topic)
        .tags(tag("cost-center", "42"))
        .send()
        .await
        .expect("create alarm");
    let dir = desired_dir(&[("legacy.yaml", ADOPTED)]);

    let plan = run_with_dir(moto.driftd(), &["plan"], dir.path()).expect_code(0);
    assert_block(
        &plan,
        "\
~ Topic legacy-alerts
    displayName: Old name → Legacy alerts
    tags.driftd:owner: (none) → driftd
    tags.team: (none) → platform",
    );
    assert_block(
        &plan,
        "\
~ Alarm legacy-errors
    threshold: 50 → 5
    tags.driftd:owner: (none) → driftd
    tags.team: (none) → platform",
    );

    let apply = run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(0);
    apply.assert_stdout_contains("Apply: 0 created, 2 corrected, 0 observed, 0 errors, 0 in sync.");
    // Adopted, not recreated: the same topic, and no second one.
    assert_eq!(
        sdk.topic_arn("legacy-alerts").await.as_deref(),
        Some(&*topic)
    );
    let all_topics = sdk.sns.list_topics().send().await.expect("list topics");
    assert_eq!(all_topics.topics().len(), 1);
    assert_eq!(
        sdk.topic_tags(&topic).await,
        tags(&[
            ("cost-center", "42"),
            (OWNER_TAG, "driftd"),
            ("team", "platform")
        ])
    );
    assert_eq!(
        sdk.topic_attribute(&topic, "DisplayName").await.as_deref(),
        Some("Legacy alerts")
    );
    let alarm = sdk.alarm("legacy-errors").await;
    assert_eq!(alarm.threshold(), Some(5.0));
    assert_eq!(alarm.alarm_actions(), [topic.as_str()]);
    assert_eq!(
        sdk.alarm_tags("legacy-errors").await,
        tags(&[
            ("cost-center", "42"),
            (OWNER_TAG, "driftd"),
            ("team", "platform")
        ])
    );

    run_with_dir(moto.driftd(), &["plan", "--detailed-exitcode"], dir.path()).expect_code(0);
}

#[tokio::test]
async fn observe_mode_reports_drift_and_writes_nothing() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sdk = Sdk::new(&moto).await;
    let dir = desired_dir(&[("stack.yaml", &stack())]);
    run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(0);
    let topic = sdk.topic_arn("alerts").await.expect("topic");

    sdk.edit_alarm("cpu-high", |put| put.threshold(95.0)).await;
    sdk.edit_alarm("latency-p99", |put| put.threshold(4.0))
        .await;
    sdk.rename_topic(&topic).await;

    // The global switch: nothing is written, whatever the files say.
    proxy.reset();
    let observed = run_with_dir(
        proxy.driftd(&moto),
        &["apply", "--mode", "observe"],
        dir.path(),
    );
    assert_eq!(
        observed.code, 0,
        "observed drift is not a failure: {observed:?}"
    );
    proxy.assert_no_writes("--mode observe");
    assert_block(
        &observed,
        "\
~ Alarm cpu-high: drifted (observe: not changed)
    threshold: 95 → 85",
    );
    observed.assert_stdout_contains("~ Topic alerts: drifted (observe: not changed)");
    observed
        .assert_stdout_contains("Apply: 0 created, 0 corrected, 3 observed, 0 errors, 1 in sync.");
    assert_eq!(sdk.alarm("cpu-high").await.threshold(), Some(95.0));
    assert_eq!(sdk.alarm("latency-p99").await.threshold(), Some(4.0));
    assert_eq!(
        sdk.topic_attribute(&topic, "DisplayName").await.as_deref(),
        Some("Renamed by hand")
    );

    // One alarm opts out with `metadata.mode: observe`: it stays drifted while
    // the rest is corrected.
    let observe_one = stack().replacen(
        "  name: cpu-high\n",
        "  name: cpu-high\n  mode: observe\n",
        1,
    );
    assert_ne!(observe_one, stack());
    let dir = desired_dir(&[("stack.yaml", &observe_one)]);
    let plan = run_with_dir(moto.driftd(), &["plan"], dir.path());
    plan.assert_stdout_contains("~ Alarm cpu-high (observe: will not be changed)\n");
    proxy.reset();
    let apply = run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    apply.assert_stdout_contains("~ Alarm cpu-high: drifted (observe: not changed)");
    apply.assert_stdout_contains("~ Alarm latency-p99: corrected");
    apply.assert_stdout_contains("~ Topic alerts: corrected");
    apply.assert_stdout_contains("Apply: 0 created, 2 corrected, 1 observed, 0 errors, 1 in sync.");
    assert_eq!(
        proxy.count("PutMetricAlarm"),
        1,
        "only latency-p99 is put: {:?}",
        proxy.writes()
    );
    assert_eq!(sdk.alarm("cpu-high").await.threshold(), Some(95.0));
    assert_eq!(sdk.alarm("latency-p99").await.threshold(), Some(2.0));
    assert_eq!(
        sdk.topic_attribute(&topic, "DisplayName").await.as_deref(),
        Some("Platform alerts")
    );
}

#[tokio::test]
async fn subscriptions_are_never_doubled() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let sdk = Sdk::new(&moto).await;
    let subscribed = alerts_topic(
        &[
            ("email", ONCALL),
            ("email", "lead@example.com"),
            ("sqs", SQS_ARCHIVE),
        ],
        "",
    );
    let dir = desired_dir(&[("topic.yaml", &subscribed)]);
    let expected = [
        ("email".to_string(), "lead@example.com".to_string()),
        ("email".to_string(), ONCALL.to_string()),
        ("sqs".to_string(), SQS_ARCHIVE.to_string()),
    ];

    run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    assert_eq!(proxy.count("Subscribe"), 3, "{:?}", proxy.writes());
    let topic = sdk.topic_arn("alerts").await.expect("topic");
    // moto confirms email subscriptions at once (real SNS keeps them pending
    // until the link in the mail is clicked; the fake covers that case).
    let arns = sdk.subscription_arns(&topic).await;

    for pass in 2..=3 {
        proxy.reset();
        run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
        assert_eq!(
            proxy.count("Subscribe"),
            0,
            "apply #{pass} subscribed again: {:?}",
            proxy.writes()
        );
        proxy.assert_no_writes(&format!("apply #{pass}"));
        assert_eq!(
            sdk.subscribed(&topic).await,
            expected,
            "after apply #{pass}"
        );
        let now = sdk.subscription_arns(&topic).await;
        assert_eq!(now, arns, "the same subscriptions after apply #{pass}");
    }
}

#[tokio::test]
async fn a_resource_of_another_owner_is_an_error_and_left_untouched() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto).await;
    errors_alarm(&sdk.cloudwatch, "theirs", "Shop", 50.0)
        .dimensions(dimension("Env", "prod"))
        .tags(tag(OWNER_TAG, "someone-else"))
        .send()
        .await
        .expect("create their alarm");
    let before = sdk.alarm("theirs").await;
    let alarms = [
        errors_alarm_yaml("theirs", "Shop", 5),
        errors_alarm_yaml("ours", "Shop", 5),
    ];
    let dir = desired_dir(&[("alarms.yaml", &alarms.join("---\n"))]);

    let plan =
        run_with_dir(moto.driftd(), &["plan", "--detailed-exitcode"], dir.path()).expect_code(1);
    plan.assert_stdout_contains("! Alarm theirs\n");
    assert!(
        plan.stdout
            .ends_with("Plan: 1 to create, 0 to update, 0 to delete, 1 error.\n"),
        "{plan:?}"
    );

    let apply = run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(1);
    assert_error(
        &apply,
        "! Alarm theirs",
        "foreign_owner",
        "\"someone-else\"",
    );
    apply.assert_stdout_contains("+ Alarm ours: created");

    // Untouched: the same definition and the same tags.
    let after = sdk.alarm("theirs").await;
    assert_eq!(after.threshold(), Some(50.0));
    assert_eq!(
        after.alarm_configuration_updated_timestamp(),
        before.alarm_configuration_updated_timestamp()
    );
    assert_eq!(
        sdk.alarm_tags("theirs").await,
        tags(&[(OWNER_TAG, "someone-else")])
    );
    assert_eq!(sdk.alarm("ours").await.threshold(), Some(5.0));
}

#[tokio::test]
async fn a_missing_ecs_service_fails_alone() {
    let moto = Moto::start();
    let sdk = Sdk::new(&moto).await;
    common::ecs::create_cluster(&sdk.ecs, "shop").await;
    let services = r#"
apiVersion: driftd/v1
kind: EcsService
metadata: {name: shop-worker}
spec:
  cluster: shop
  desiredCount: 1
"#;
    let dir = desired_dir(&[("stack.yaml", &stack()), ("services.yaml", services)]);

    let apply = run_with_dir(moto.driftd(), &["apply"], dir.path()).expect_code(1);
    assert_error(
        &apply,
        "! EcsService shop-worker",
        "not_found",
        "shop-worker not found in cluster shop",
    );
    apply.assert_stdout_contains("Apply: 4 created, 0 corrected, 0 observed, 1 error, 0 in sync.");
    assert_eq!(
        sdk.alarm_names().await,
        ["cpu-high", "errors-5xx", "latency-p99"]
    );
    assert!(sdk.topic_arn("alerts").await.is_some());
}
