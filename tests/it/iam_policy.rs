//! driftd's least-privilege IAM policy holds what the binary really calls:
//! every AWS call recorded on the wire during applies and plans of every kind
//! (but Secret) must be an action the policy grants, and the checked-in policy
//! file must be exactly what `driftd iam-policy` prints.

use crate::common;

use std::collections::BTreeSet;
use std::process::Command;

use aws_sdk_cloudwatch::types::ComparisonOperator;
use common::cloudwatch::errors_alarm;
use common::proxy::Proxy;
use common::{desired_dir, repo_root, run, run_with_dir, Moto, Run};
use serde_json::Value;

/// Every kind but Secret: a new Topic with subscriptions, a Topic and an
/// Alarm made by hand beforehand (adopted), a new Alarm, a Dashboard, and two
/// ECS services (a fixed count and a range).
const STACK: &str = r#"
apiVersion: driftd/v1
kind: Topic
metadata: {name: alerts}
spec:
  displayName: Shop alerts
  subscriptions:
    - {protocol: email, endpoint: oncall@example.com}
    - {protocol: sqs, endpoint: arn:aws:sqs:us-east-1:123456789012:alerts-archive}
  tags: {team: shop}
---
apiVersion: driftd/v1
kind: Topic
metadata: {name: legacy-alerts}
spec:
  displayName: Legacy alerts
---
apiVersion: driftd/v1
kind: Alarm
metadata: {name: api-errors}
spec:
  namespace: Shop
  metricName: Errors
  dimensions: {Service: api}
  statistic: Sum
  period: 60
  evaluationPeriods: 1
  threshold: 5
  comparisonOperator: GreaterThanThreshold
  alarmActions: [topic:alerts]
  okActions: [topic:legacy-alerts]
  tags: {team: shop}
---
apiVersion: driftd/v1
kind: Alarm
metadata: {name: legacy-latency}
spec:
  namespace: Shop
  metricName: Latency
  extendedStatistic: p99
  period: 60
  evaluationPeriods: 3
  threshold: 2
  comparisonOperator: GreaterThanThreshold
  alarmActions: [topic:alerts]
---
apiVersion: driftd/v1
kind: Dashboard
metadata: {name: shop}
spec:
  body:
    widgets:
      - {type: metric, x: 0, y: 0, width: 12, height: 6,
         properties: {title: Errors, region: us-east-1, stat: Sum, period: 60,
                      metrics: [[Shop, Errors, Service, api]]}}
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: shop-api}
spec:
  cluster: shop
  minCount: 1
  maxCount: 2
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: shop-worker}
spec:
  cluster: shop
  desiredCount: 0
"#;

/// What the desired state expects to exist already: the ECS services (driftd
/// never creates them), plus a topic and an alarm made by hand, untagged.
async fn seed(moto: &Moto) {
    let config = moto.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let task_definition = common::ecs::cluster(&ecs, "shop", "shop").await;
    // Both outside what the files allow, so that both are corrected.
    for (name, count) in [("shop-api", 3), ("shop-worker", 1)] {
        common::ecs::create_service(&ecs, "shop", name, &task_definition, count).await;
    }

    let sns = aws_sdk_sns::Client::new(&config);
    common::sns::create(
        sns.create_topic()
            .name("legacy-alerts")
            .attributes("DisplayName", "Old"),
    )
    .await;
    aws_sdk_cloudwatch::Client::new(&config)
        .put_metric_alarm()
        .alarm_name("legacy-latency")
        .namespace("Shop")
        .metric_name("Latency")
        .extended_statistic("p99")
        .period(60)
        .evaluation_periods(3)
        .threshold(4.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("create alarm");
}

/// Changes made outside driftd after its first apply, one per kind.
async fn drift(moto: &Moto) {
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topics = sns.list_topics().send().await.expect("list topics");
    let alerts = topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .find(|arn| arn.ends_with(":alerts"))
        .expect("alerts topic")
        .to_string();
    sns.set_topic_attributes()
        .topic_arn(&alerts)
        .attribute_name("DisplayName")
        .attribute_value("Renamed")
        .send()
        .await
        .expect("rename topic");
    let email = common::sns::subscription_arn(&sns, &alerts, "email").await;
    sns.unsubscribe()
        .subscription_arn(email)
        .send()
        .await
        .expect("unsubscribe");

    errors_alarm(
        &aws_sdk_cloudwatch::Client::new(&config),
        "api-errors",
        "Shop",
        50.0,
    )
    .send()
    .await
    .expect("edit alarm");
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    common::cloudwatch::put_dashboard(&cloudwatch, "shop", r#"{"widgets":[]}"#).await;
    aws_sdk_ecs::Client::new(&config)
        .update_service()
        .cluster("shop")
        .service("shop-worker")
        .desired_count(4)
        .send()
        .await
        .expect("scale worker");
}

#[tokio::test]
async fn every_call_of_apply_and_plan_is_granted_by_the_policy() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    seed(&moto).await;
    let dir = desired_dir(&[("stack.yaml", STACK)]);

    let first = run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    first.assert_stdout_contains("Apply: 3 created, 4 corrected, 0 observed, 0 errors, 0 in sync.");
    drift(&moto).await;
    let second = run_with_dir(proxy.driftd(&moto), &["apply"], dir.path()).expect_code(0);
    second
        .assert_stdout_contains("Apply: 0 created, 4 corrected, 0 observed, 0 errors, 3 in sync.");
    for args in [
        &["plan", "--detailed-exitcode"][..],
        &["plan", "--output", "json"],
    ] {
        let plan = run_with_dir(proxy.driftd(&moto), args, dir.path());
        assert_eq!(plan.code, 0, "{args:?}: {plan:?}");
    }

    // The adoption really tagged (the alarm's TagResource succeeded).
    let cw = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
    let tags = common::cloudwatch::tags_of(
        &cw,
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:legacy-latency",
    )
    .await;
    assert_eq!(
        tags.get("driftd:owner").map(String::as_str),
        Some("driftd"),
        "{tags:?}"
    );

    let calls = proxy.calls();
    // moto cannot tag dashboards: it answers cloudwatch:TagResource on one
    // with ResourceNotFound (real CloudWatch tags them), which driftd
    // tolerates (the body marker records ownership). Any other failure is a bug.
    let failed: Vec<String> = calls
        .iter()
        .filter(|c| c.status >= 400)
        .filter(|c| {
            !(c.op() == "TagResource"
                && c.service.as_deref() == Some("monitoring")
                && c.status == 404)
        })
        .map(ToString::to_string)
        .collect();
    assert!(failed.is_empty(), "calls that failed: {failed:?}");
    let actions: BTreeSet<String> = calls
        .iter()
        .map(|c| {
            let (Some(service), Some(operation)) = (&c.service, &c.operation) else {
                panic!("the proxy could not name a call: {c}");
            };
            driftd::iam::action_of(service, operation)
        })
        .collect();
    let denied: Vec<&String> = actions.iter().filter(|a| !driftd::iam::allows(a)).collect();
    assert!(
        denied.is_empty(),
        "driftd called {denied:?}, which its policy does not grant \
         (add them to PERMISSIONS in src/iam.rs and regenerate the policy file); \
         all calls: {actions:?}"
    );

    // The passes above went through the create, adopt and correct paths of
    // every kind: the check is only as good as the calls it saw.
    for expected in [
        "tag:GetResources",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:TagResource",
        "cloudwatch:ListDashboards",
        "cloudwatch:GetDashboard",
        "cloudwatch:PutDashboard",
        "sns:ListTopics",
        "sns:CreateTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:TagResource",
        "sns:ListSubscriptionsByTopic",
        "sns:Subscribe",
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "application-autoscaling:DescribeScalableTargets",
    ] {
        assert!(
            actions.contains(expected),
            "{expected} was never called: {actions:?}"
        );
    }
}

/// `driftd iam-policy` with nothing in the environment that could change it.
fn iam_policy(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("iam-policy")
        .args(args);
    run(&mut cmd)
}

/// Every action of a policy document (a statement's `Action` is a string or a list).
fn actions(policy: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for statement in policy["Statement"].as_array().expect("statements") {
        let sid = statement["Sid"].as_str().unwrap_or_default().to_string();
        match &statement["Action"] {
            Value::String(a) => out.push((sid, a.clone())),
            Value::Array(list) => out.extend(
                list.iter()
                    .map(|a| (sid.clone(), a.as_str().expect("action").to_string())),
            ),
            other => panic!("statement {sid}: Action is {other}"),
        }
    }
    out
}

#[test]
fn the_checked_in_policy_is_the_generated_one() {
    let out = iam_policy(&[]).expect_code(0);
    let path = repo_root().join("deploy/iam/driftd-policy.json");
    let checked_in = std::fs::read_to_string(&path).expect("read deploy/iam/driftd-policy.json");
    assert!(
        out.stdout == checked_in,
        "deploy/iam/driftd-policy.json is out of date: regenerate it with \
         `driftd iam-policy > deploy/iam/driftd-policy.json`"
    );

    let policy: Value = serde_json::from_str(&out.stdout).expect("the policy is JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let actions = actions(&policy);
    assert!(!actions.is_empty());
    for (sid, action) in &actions {
        assert!(
            !action.contains('*'),
            "statement {sid} grants a wildcard action {action}"
        );
        assert!(driftd::iam::allows(action), "{action}");
    }
    for statement in policy["Statement"].as_array().expect("statements") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
    }
    // Every permission of the code is in the document.
    for p in driftd::iam::PERMISSIONS {
        assert!(
            actions.iter().any(|(_, a)| a == p.action),
            "{} missing from the policy",
            p.action
        );
    }
}

#[test]
fn a_policy_for_one_account_names_it_in_every_scoped_resource() {
    let out = iam_policy(&["--account-id", "123456789012", "--region", "eu-west-1"]).expect_code(0);
    let policy: Value = serde_json::from_str(&out.stdout).expect("the policy is JSON");
    for statement in policy["Statement"].as_array().expect("statements") {
        let resources: Vec<&str> = match &statement["Resource"] {
            Value::String(r) => vec![r.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => panic!("Resource is {other}"),
        };
        for r in resources {
            assert!(
                r == "*" || r.contains(":123456789012:"),
                "{r} in {statement}"
            );
            if r.starts_with("arn:aws:cloudwatch::") {
                // Dashboards are global: no region in their ARN.
                assert!(r.contains(":dashboard/"), "{r}");
            } else {
                assert!(r == "*" || r.contains(":eu-west-1:"), "{r}");
            }
        }
    }
}
