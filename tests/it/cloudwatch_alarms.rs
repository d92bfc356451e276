//! The Alarm kind and its CloudWatch seam against a private moto: what driftd
//! writes reads back in sync through real AWS shapes, a change made outside
//! driftd is named field by field, untagged alarms are adopted, and reads are
//! batched.
//!
//! Where moto differs from real CloudWatch (noted at each use):
//! * `DescribeAlarms` ignores `AlarmTypes` and `MaxRecords` and never returns a
//!   `NextToken`; real CloudWatch pages at `MaxRecords` (we ask for 100, the
//!   most a call may name, so one page per call there too).
//! * `PutMetricAlarm` on an existing alarm merges its `Tags` in; real
//!   CloudWatch ignores them. driftd sends tags only on create, so both agree.
//! * moto validates almost nothing (action ARNs, `DatapointsToAlarm` against
//!   `EvaluationPeriods`, `Period` against `Metrics`).

use crate::common;
use common::kinds::{ctx, resource};

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_cloudwatch::types::ComparisonOperator;
use common::cloudwatch::{cpu_alarm, dimension, AlarmDoc, Requests};
use driftd::aws::cloudwatch::SdkCloudWatch;
use driftd::aws::Aws;
use driftd::engine::{Action, Diff, Reconciler, Refs};
use driftd::kinds::alarm::{self, Alarm};
use driftd::kinds::{Resource, Spec, OWNER_TAG};

const TOPIC: &str = "tiktimer-dev-alerts";

/// A moto, driftd's AWS layer over it, a raw CloudWatch client for changes
/// made "outside driftd", and a topic for alarm actions.
struct Env {
    _moto: common::Moto,
    aws: Aws,
    raw: aws_sdk_cloudwatch::Client,
    /// The requests of driftd's CloudWatch client.
    requests: Requests,
    refs: Refs,
    topic_arn: String,
}

impl Env {
    async fn start() -> Env {
        let moto = common::Moto::start();
        let config = moto.sdk_config().await;
        let requests = Requests::default();
        let counted = common::cloudwatch::intercepted(&config, requests.interceptor());
        let mut aws = Aws::from_sdk_config(&config);
        aws.cloudwatch = Arc::new(SdkCloudWatch::from_client(counted));
        let topic_arn =
            common::sns::create(aws_sdk_sns::Client::new(&config).create_topic().name(TOPIC)).await;
        Env {
            _moto: moto,
            aws,
            raw: aws_sdk_cloudwatch::Client::new(&config),
            requests,
            refs: Refs {
                topic_arns: HashMap::from([(TOPIC.to_string(), topic_arn.clone())]),
            },
            topic_arn,
        }
    }

    fn diff(&self, name: &str, spec: &alarm::Spec, live: Option<&alarm::Live>) -> Diff<alarm::Ops> {
        Alarm::diff(
            &alarm(name, spec),
            spec,
            live,
            &driftd::kinds::Inputs::default(),
            &self.refs,
            &ctx(),
        )
    }

    async fn observe(&self, name: &str, spec: &alarm::Spec) -> Option<alarm::Live> {
        let r = alarm(name, spec);
        let mut observed = Alarm::observe(&self.aws, &[(&r, spec)])
            .await
            .expect("observe");
        observed
            .remove(name)
            .expect("an entry per resource")
            .expect("no error for this alarm")
    }

    async fn apply(&self, name: &str, spec: &alarm::Spec, ops: &alarm::Ops) {
        let mut refs = self.refs.clone();
        Alarm::apply(&self.aws, &alarm(name, spec), spec, ops, &mut refs, &ctx())
            .await
            .expect("apply");
    }

    /// Observes, diffs and applies once; returns the diff that was applied.
    async fn reconcile(&self, name: &str, spec: &alarm::Spec) -> Diff<alarm::Ops> {
        let live = self.observe(name, spec).await;
        let diff = self.diff(name, spec, live.as_ref());
        self.apply(name, spec, &diff.ops).await;
        diff
    }

    /// Creates the alarm `name` in one reconcile, then asserts that it reads
    /// back in sync; gives what it read.
    async fn create_in_sync(&self, name: &str, spec: &alarm::Spec) -> alarm::Live {
        let created = self.reconcile(name, spec).await;
        assert_eq!(
            created.action,
            Action::Create,
            "{name}: {:?}",
            created.changes
        );
        self.assert_in_sync(name, spec).await
    }

    /// Asserts that what AWS now holds is what the spec asks for.
    async fn assert_in_sync(&self, name: &str, spec: &alarm::Spec) -> alarm::Live {
        let live = self.observe(name, spec).await.expect("the alarm exists");
        let diff = self.diff(name, spec, Some(&live));
        assert_eq!(diff.action, Action::InSync, "{name}: {:?}", diff.changes);
        assert!(diff.ops == alarm::Ops::default(), "{name}: no writes");
        live
    }
}

fn alarm(name: &str, spec: &alarm::Spec) -> Resource {
    resource("alarms.yaml", name, Spec::Alarm(spec.clone()))
}

fn spec(yaml: &str) -> alarm::Spec {
    serde_yaml::from_str(yaml).expect("alarm spec")
}

/// Only what the contract requires: every default left to AWS.
fn minimal() -> AlarmDoc {
    AlarmDoc::cpu("cpu", 85).set("period", 300)
}

fn changed_fields(diff: &Diff<alarm::Ops>) -> Vec<&str> {
    diff.changes.iter().map(|c| c.field.as_str()).collect()
}

#[tokio::test]
async fn the_contract_example_reads_back_in_sync() {
    let env = Env::start().await;
    // Every field written out, CloudWatch's defaults too.
    let spec = spec(
        &AlarmDoc::cpu_high("cpu-high", "tiktimer-dev", "tiktimer-dev-app")
            .set("treatMissingData", "missing")
            .set("actionsEnabled", true)
            .set("alarmActions", "[topic:tiktimer-dev-alerts]")
            .set("okActions", "[]")
            .set("insufficientDataActions", "[]")
            .set("tags", "{team: platform}")
            .spec_yaml(),
    );

    let live = env.create_in_sync("cpu-high", &spec).await;
    assert_eq!(
        live.definition.alarm_actions,
        std::slice::from_ref(&env.topic_arn)
    );
    assert_eq!(live.tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(live.tags.get(OWNER_TAG).map(String::as_str), Some("driftd"));
}

#[tokio::test]
async fn a_minimal_alarm_with_every_default_left_to_aws_reads_back_in_sync() {
    let env = Env::start().await;
    let spec = spec(&minimal().spec_yaml());
    env.create_in_sync("minimal", &spec).await;
}

#[tokio::test]
async fn an_extended_statistic_alarm_reads_back_in_sync() {
    let env = Env::start().await;
    let spec = spec(
        r#"
namespace: AWS/ApplicationELB
metricName: TargetResponseTime
dimensions: {LoadBalancer: app/tiktimer-dev/50dc6c495c0c9188}
extendedStatistic: p99
unit: Seconds
period: 60
evaluationPeriods: 5
datapointsToAlarm: 3
threshold: 1.5
comparisonOperator: GreaterThanOrEqualToThreshold
treatMissingData: notBreaching
okActions: [topic:tiktimer-dev-alerts]
"#,
    );
    let live = env.create_in_sync("latency-p99", &spec).await.definition;
    // The extended statistic, and no plain one beside it.
    assert_eq!(
        (live.extended_statistic.as_deref(), live.statistic),
        (Some("p99"), None)
    );
}

#[tokio::test]
async fn a_metric_math_alarm_reads_back_in_sync() {
    let env = Env::start().await;
    // e1 leaves returnData to its default (true); the inputs turn it off.
    let spec = spec(
        r#"
description: CPU used as a share of CPU reserved
evaluationPeriods: 2
threshold: 90
comparisonOperator: GreaterThanThreshold
alarmActions: [topic:tiktimer-dev-alerts]
metrics:
  - {id: e1, expression: "m1 / m2 * 100", label: CPU share}
  - id: m1
    returnData: false
    metricStat:
      namespace: AWS/ECS
      metricName: CPUUtilization
      dimensions: {ServiceName: tiktimer-dev-app, ClusterName: tiktimer-dev}
      period: 300
      stat: Average
      unit: Percent
  - id: m2
    returnData: false
    metricStat:
      namespace: AWS/ECS
      metricName: CPUReservation
      dimensions: {ClusterName: tiktimer-dev}
      period: 300
      stat: Average
"#,
    );
    let live = env.create_in_sync("cpu-share", &spec).await;
    assert_eq!(live.definition.metrics.len(), 3);
    assert_eq!(live.definition.namespace, None);
}

/// PutMetricAlarm by hand, as an operator in the console would: the minimal
/// spec's definition with another threshold, no tags.
async fn put_minimal_by_hand(env: &Env, name: &str, threshold: f64) {
    cpu_alarm(&env.raw, name, 300, threshold)
        .send()
        .await
        .expect("put alarm by hand");
}

#[tokio::test]
async fn a_threshold_changed_outside_driftd_is_named_and_corrected() {
    let env = Env::start().await;
    let spec = spec(&minimal().spec_yaml());
    env.reconcile("cpu", &spec).await;

    put_minimal_by_hand(&env, "cpu", 90.0).await;

    let live = env.observe("cpu", &spec).await;
    let diff = env.diff("cpu", &spec, live.as_ref());
    assert_eq!(diff.action, Action::Update);
    assert_eq!(changed_fields(&diff), ["threshold"]);
    assert_eq!(diff.changes[0].from.as_deref(), Some("90"));
    assert_eq!(diff.changes[0].to.as_deref(), Some("85"));
    assert_eq!(
        diff.ops.put,
        Some(alarm::Put::Update {
            kept: alarm::Kept::default()
        })
    );
    assert_eq!(diff.ops.tag, None, "the tags survived the hand-made put");

    env.apply("cpu", &spec, &diff.ops).await;
    env.assert_in_sync("cpu", &spec).await;
}

#[tokio::test]
async fn a_low_sample_setting_the_spec_leaves_out_survives_a_correction() {
    let env = Env::start().await;
    let latency = |threshold: &str| {
        format!(
            "namespace: AWS/ApplicationELB\nmetricName: TargetResponseTime\n\
             extendedStatistic: p99\nperiod: 60\nevaluationPeriods: 1\n\
             threshold: {threshold}\ncomparisonOperator: GreaterThanThreshold\n"
        )
    };
    // Set in the console, in a spec that does not mention it.
    env.raw
        .put_metric_alarm()
        .alarm_name("latency")
        .namespace("AWS/ApplicationELB")
        .metric_name("TargetResponseTime")
        .extended_statistic("p99")
        .period(60)
        .evaluation_periods(1)
        .threshold(3.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .evaluate_low_sample_count_percentile("ignore")
        .send()
        .await
        .expect("put alarm by hand");
    let undeclared = spec(&latency("1.5"));

    let corrected = env.reconcile("latency", &undeclared).await;
    assert_eq!(
        changed_fields(&corrected),
        ["threshold", "tags.driftd:owner"]
    );
    let live = env.assert_in_sync("latency", &undeclared).await;
    assert_eq!(live.definition.threshold, Some(1.5));
    assert_eq!(
        live.definition
            .evaluate_low_sample_count_percentile
            .as_deref(),
        Some("ignore"),
        "kept by the rewrite"
    );

    // Declared, it is enforced.
    let declared = spec(&format!(
        "{}evaluateLowSampleCountPercentile: evaluate\n",
        latency("1.5")
    ));
    let enforced = env.reconcile("latency", &declared).await;
    assert_eq!(
        changed_fields(&enforced),
        ["evaluateLowSampleCountPercentile"]
    );
    let live = env.assert_in_sync("latency", &declared).await;
    assert_eq!(
        live.definition
            .evaluate_low_sample_count_percentile
            .as_deref(),
        Some("evaluate")
    );
}

#[tokio::test]
async fn an_anomaly_band_alarm_reads_back_in_sync() {
    let env = Env::start().await;
    let spec = spec(
        r#"
evaluationPeriods: 3
thresholdMetricId: ad1
comparisonOperator: LessThanLowerOrGreaterThanUpperThreshold
metrics:
  - id: m1
    metricStat: {namespace: AWS/ECS, metricName: CPUUtilization, period: 300, stat: Average,
                 dimensions: {ClusterName: tiktimer-dev}}
  - {id: ad1, expression: "ANOMALY_DETECTION_BAND(m1, 2)", label: CPU band}
"#,
    );
    let live = env.create_in_sync("cpu-band", &spec).await;
    assert_eq!(live.definition.threshold_metric_id.as_deref(), Some("ad1"));
    assert_eq!(live.definition.threshold, None);
}

#[tokio::test]
async fn actions_disabled_outside_driftd_are_named_and_corrected() {
    let env = Env::start().await;
    let spec = spec(&minimal().spec_yaml());
    env.reconcile("cpu", &spec).await;

    env.raw
        .disable_alarm_actions()
        .alarm_names("cpu")
        .send()
        .await
        .expect("disable alarm actions");

    let diff = env.reconcile("cpu", &spec).await;
    assert_eq!(changed_fields(&diff), ["actionsEnabled"]);
    env.assert_in_sync("cpu", &spec).await;
}

#[tokio::test]
async fn dimensions_put_in_another_order_are_not_drift() {
    let env = Env::start().await;
    let spec = spec(
        &minimal()
            .set(
                "dimensions",
                "{ClusterName: tiktimer-dev, ServiceName: tiktimer-dev-app}",
            )
            .spec_yaml(),
    );
    cpu_alarm(&env.raw, "cpu", 300, 85.0)
        .dimensions(dimension("ServiceName", "tiktimer-dev-app"))
        .dimensions(dimension("ClusterName", "tiktimer-dev"))
        .send()
        .await
        .expect("put alarm by hand");

    let live = env.observe("cpu", &spec).await;
    let diff = env.diff("cpu", &spec, live.as_ref());
    // Only the ownership tag is missing; the definition matches.
    assert_eq!(changed_fields(&diff), ["tags.driftd:owner"]);
}

#[tokio::test]
async fn an_untagged_alarm_is_adopted_by_tagging_it_and_nothing_else() {
    let env = Env::start().await;
    let spec = spec(&minimal().set("tags", "{team: platform}").spec_yaml());
    put_minimal_by_hand(&env, "cpu", 85.0).await;

    let diff = env.reconcile("cpu", &spec).await;

    assert_eq!(diff.action, Action::Update);
    assert_eq!(changed_fields(&diff), ["tags.driftd:owner", "tags.team"]);
    assert_eq!(diff.ops.put, None, "the definition is left as it is");
    let live = env.assert_in_sync("cpu", &spec).await;
    assert_eq!(live.tags.get(OWNER_TAG).map(String::as_str), Some("driftd"));
}

#[tokio::test]
async fn one_hundred_and_fifty_alarms_are_read_with_two_describe_calls() {
    let env = Env::start().await;
    let spec = spec(&minimal().spec_yaml());
    let names: Vec<String> = (0..150).map(|i| format!("cpu-{i:03}")).collect();
    for name in &names {
        put_minimal_by_hand(&env, name, 85.0).await;
    }
    // One name that has no alarm: 151 names are still two calls of at most 100.
    let mut resources: Vec<Resource> = names.iter().map(|n| alarm(n, &spec)).collect();
    resources.push(alarm("absent", &spec));
    let pairs: Vec<(&Resource, &alarm::Spec)> = resources.iter().map(|r| (r, &spec)).collect();
    env.requests.reset();

    let observed = Alarm::observe(&env.aws, &pairs).await.expect("observe");

    assert_eq!(env.requests.succeeded("DescribeAlarms"), 2);
    assert_eq!(observed.len(), 151);
    for name in &names {
        let live = observed[name].as_ref().expect("no error");
        assert_eq!(
            live.as_ref().map(|l| l.definition.name.as_str()),
            Some(name.as_str())
        );
    }
    assert!(matches!(observed["absent"], Ok(None)));
}
