//! The recording, fault-injecting proxy itself, driven by raw SDK clients:
//! what it records, and what its injected faults look like to the SDK.

use crate::common;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use common::cloudwatch::{alarm_names, errors_alarm};
use common::proxy::{Call, Proxy};
use common::Moto;
use driftd::aws::ErrorClass;
use serde_json::json;

/// Clients that talk to moto through the proxy, without SDK retries, so that
/// every injected fault reaches the caller.
struct Clients {
    cloudwatch: aws_sdk_cloudwatch::Client,
    sns: aws_sdk_sns::Client,
    secrets: aws_sdk_secretsmanager::Client,
    ecs: aws_sdk_ecs::Client,
    autoscaling: aws_sdk_applicationautoscaling::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl Clients {
    fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(config),
        }
    }

    async fn without_retries(proxy: &Proxy) -> Clients {
        Clients::new(&proxy.sdk_config_with(RetryConfig::disabled()).await)
    }
}

/// A moto, the proxy in front of it, and clients on the proxy that never
/// retry (so that each injected fault shows).
async fn start() -> (Moto, Proxy, Clients) {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let aws = Clients::without_retries(&proxy).await;
    (moto, proxy, aws)
}

fn put_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    errors_alarm(cloudwatch, name, "App", 5.0)
}

/// The alarm names moto holds, asked of moto directly (not through the proxy).
async fn alarms_in_moto(moto: &Moto) -> Vec<String> {
    alarm_names(&aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await)).await
}

/// (service, operation, status, fault) of each call, for whole-log comparisons.
fn summary(calls: &[Call]) -> Vec<(String, String, u16, Option<String>)> {
    calls
        .iter()
        .map(|c| {
            (
                c.service.clone().unwrap_or_default(),
                c.op().to_string(),
                c.status,
                c.fault.clone(),
            )
        })
        .collect()
}

fn row(
    service: &str,
    op: &str,
    status: u16,
    fault: Option<&str>,
) -> (String, String, u16, Option<String>) {
    (service.into(), op.into(), status, fault.map(str::to_string))
}

#[tokio::test]
async fn records_each_call_with_its_service_and_operation() {
    let (_moto, proxy, aws) = start().await;

    put_alarm(&aws.cloudwatch, "high-errors")
        .send()
        .await
        .expect("put alarm");
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .send()
        .await
        .expect("describe alarms");
    assert_eq!(
        alarms.metric_alarms().len(),
        1,
        "moto answers through the proxy"
    );
    aws.sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .expect("create topic");
    aws.secrets
        .create_secret()
        .name("db")
        .secret_string("hunter2")
        .send()
        .await
        .expect("create secret");
    aws.ecs.list_clusters().send().await.expect("list clusters");
    aws.autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .expect("describe scalable targets");
    aws.tagging
        .get_resources()
        .send()
        .await
        .expect("get resources");

    let calls = proxy.calls();
    assert_eq!(
        summary(&calls),
        vec![
            row("monitoring", "PutMetricAlarm", 200, None),
            row("monitoring", "DescribeAlarms", 200, None),
            row("sns", "CreateTopic", 200, None),
            row("secretsmanager", "CreateSecret", 200, None),
            row("ecs", "ListClusters", 200, None),
            row(
                "application-autoscaling",
                "DescribeScalableTargets",
                200,
                None
            ),
            row("tagging", "GetResources", 200, None),
        ]
    );
    assert!(calls.iter().all(|c| !c.injected));
    let writes: Vec<String> = proxy.writes().iter().map(|c| c.op().to_string()).collect();
    assert_eq!(writes, ["PutMetricAlarm", "CreateTopic", "CreateSecret"]);
    assert_eq!(proxy.count("DescribeAlarms"), 1);
    assert_eq!(proxy.count("DeleteAlarms"), 0);

    proxy.reset();
    assert!(proxy.calls().is_empty(), "reset forgets the calls");
    aws.ecs.list_clusters().send().await.expect("list clusters");
    assert_eq!(
        proxy.count("ListClusters"),
        1,
        "recording goes on after a reset"
    );
}

/// A fault rule for each of `names` (of an `operation` or a `service`): `action`.
fn on_each(field: &str, names: &[&str], action: &str) -> Vec<serde_json::Value> {
    names
        .iter()
        .map(|name| json!({field: name, "action": action}))
        .collect()
}

/// Asserts that `err`, of `service`'s `operation`, is a 400 with the
/// throttling `code` that service spells, and that driftd classifies it as
/// throttling.
#[track_caller]
fn assert_throttling<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
    code: &str,
) where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    assert_eq!(err.code(), Some(code), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let class = driftd::aws::Error::from_sdk(service, operation, err).class;
    assert_eq!(
        class,
        ErrorClass::Throttling,
        "driftd classifies it as throttling"
    );
}

#[tokio::test]
async fn an_injected_throttle_is_each_services_real_throttling_error() {
    let (moto, proxy, aws) = start().await;
    let operations = [
        "PutMetricAlarm",
        "CreateTopic",
        "CreateSecret",
        "ListClusters",
    ];
    let mut rules = on_each("operation", &operations, "throttle");
    rules.extend(on_each(
        "service",
        &["application-autoscaling", "tagging"],
        "throttle",
    ));
    proxy.faults(json!(rules));

    // Query protocol services answer `Throttling`, JSON ones `ThrottlingException`.
    let err = put_alarm(&aws.cloudwatch, "a").send().await.unwrap_err();
    assert_eq!(err.message(), Some("Rate exceeded"));
    assert_throttling("cloudwatch", "PutMetricAlarm", err, "Throttling");

    let err = aws.sns.create_topic().name("t").send().await.unwrap_err();
    assert_throttling("sns", "CreateTopic", err, "Throttling");

    let err = aws
        .secrets
        .create_secret()
        .name("s")
        .secret_string("v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.message(), Some("Rate exceeded"));
    assert_throttling("secretsmanager", "CreateSecret", err, "ThrottlingException");

    let err = aws.ecs.list_clusters().send().await.unwrap_err();
    assert_throttling("ecs", "ListClusters", err, "ThrottlingException");

    let err = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap_err();
    assert_throttling(
        "application-autoscaling",
        "DescribeScalableTargets",
        err,
        "ThrottlingException",
    );

    // The Resource Groups Tagging API models its own `ThrottledException`.
    let err = aws.tagging.get_resources().send().await.unwrap_err();
    assert_throttling("tagging", "GetResources", err, "ThrottledException");

    assert_eq!(
        summary(&proxy.calls()),
        vec![
            row("monitoring", "PutMetricAlarm", 400, Some("throttle")),
            row("sns", "CreateTopic", 400, Some("throttle")),
            row("secretsmanager", "CreateSecret", 400, Some("throttle")),
            row("ecs", "ListClusters", 400, Some("throttle")),
            row(
                "application-autoscaling",
                "DescribeScalableTargets",
                400,
                Some("throttle")
            ),
            row("tagging", "GetResources", 400, Some("throttle")),
        ]
    );
    assert_eq!(proxy.injected().len(), 6);
    assert!(
        alarms_in_moto(&moto).await.is_empty(),
        "a throttled write never reaches moto"
    );
}

#[tokio::test]
async fn every_nth_matching_call_is_throttled_until_the_count_runs_out() {
    let (_moto, proxy, aws) = start().await;
    proxy.faults(json!([
        {"service": "monitoring", "operation": "DescribeAlarms", "action": "throttle", "every": 2, "count": 2},
    ]));

    let mut outcomes = Vec::new();
    for _ in 0..7 {
        outcomes.push(aws.cloudwatch.describe_alarms().send().await.is_ok());
        // Another operation and another service: the rule does not match them.
        aws.sns
            .list_topics()
            .send()
            .await
            .expect("sns is not throttled");
    }
    assert_eq!(outcomes, [true, false, true, false, true, true, true]);

    let injected = proxy.injected();
    assert_eq!(injected.len(), 2);
    assert!(injected
        .iter()
        .all(|c| c.op() == "DescribeAlarms" && c.status == 400));
    assert_eq!(proxy.count("DescribeAlarms"), 7);
    assert_eq!(proxy.rules()[0]["fired"], 2);
}

#[tokio::test]
async fn concurrent_calls_are_all_forwarded_and_counted() {
    let (moto, proxy, aws) = start().await;
    proxy.faults(json!([{"operation": "PutMetricAlarm", "action": "throttle", "every": 3}]));

    // Each task reports the error code its call ended in, if any.
    let puts = (0..30).map(|i| {
        let cloudwatch = aws.cloudwatch.clone();
        tokio::spawn(async move {
            let result = put_alarm(&cloudwatch, &format!("alarm-{i}")).send().await;
            result.err().map(|e| e.code().unwrap_or("?").to_string())
        })
    });
    let codes: Vec<Option<String>> = futures::future::join_all(puts)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let throttled = codes
        .iter()
        .flatten()
        .filter(|c| *c == "Throttling")
        .count();
    assert_eq!(codes.iter().flatten().count(), throttled, "{codes:?}");
    assert_eq!(throttled, 10, "every third of 30 calls");
    assert_eq!(proxy.count("PutMetricAlarm"), 30);
    assert_eq!(proxy.injected().len(), throttled);
    assert_eq!(
        alarms_in_moto(&moto).await.len(),
        20,
        "the others all landed"
    );
}

#[tokio::test]
async fn standard_sdk_retries_ride_out_injected_throttles() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    // The SDK's standard mode: three attempts; a short backoff keeps the test quick.
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10));
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&proxy.sdk_config_with(retry).await);
    proxy.faults(json!([{"operation": "PutMetricAlarm", "action": "throttle", "count": 2}]));

    put_alarm(&cloudwatch, "retried")
        .send()
        .await
        .expect("the third attempt gets through");

    assert_eq!(
        summary(&proxy.calls()),
        vec![
            row("monitoring", "PutMetricAlarm", 400, Some("throttle")),
            row("monitoring", "PutMetricAlarm", 400, Some("throttle")),
            row("monitoring", "PutMetricAlarm", 200, None),
        ]
    );
    assert_eq!(alarms_in_moto(&moto).await, ["retried"]);
}

#[tokio::test]
async fn a_dropped_write_succeeds_but_never_reaches_moto() {
    let (moto, proxy, aws) = start().await;

    // What the dropped writes would have changed, created for real first.
    let topic = aws
        .sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .expect("create topic");
    let topic_arn = topic.topic_arn().expect("topic arn").to_string();
    aws.secrets
        .create_secret()
        .name("db")
        .secret_string("old")
        .send()
        .await
        .expect("create secret");
    let task_definition = common::ecs::cluster(&aws.ecs, "prod", "web").await;
    common::ecs::create_service(&aws.ecs, "prod", "web", &task_definition, 1).await;

    proxy.reset();
    let writes = [
        "PutMetricAlarm",
        "PutDashboard",
        "SetTopicAttributes",
        "PutSecretValue",
        "UpdateService",
    ];
    proxy.faults(json!(on_each("operation", &writes, "drop")));

    put_alarm(&aws.cloudwatch, "ignored")
        .send()
        .await
        .expect("a dropped PutMetricAlarm reports success");
    // A dropped PutDashboard reports success.
    common::cloudwatch::put_dashboard(&aws.cloudwatch, "ops", r#"{"widgets": []}"#).await;
    aws.sns
        .set_topic_attributes()
        .topic_arn(&topic_arn)
        .attribute_name("DisplayName")
        .attribute_value("Alerts")
        .send()
        .await
        .expect("a dropped SetTopicAttributes reports success");
    aws.secrets
        .put_secret_value()
        .secret_id("db")
        .secret_string("new")
        .send()
        .await
        .expect("a dropped PutSecretValue reports success");
    aws.ecs
        .update_service()
        .cluster("prod")
        .service("web")
        .desired_count(3)
        .send()
        .await
        .expect("a dropped UpdateService reports success");

    let calls = proxy.calls();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.injected && c.status == 200 && c.fault.as_deref() == Some("drop")),
        "{calls:?}"
    );

    // Nothing of it reached moto.
    proxy.clear_faults();
    assert!(alarms_in_moto(&moto).await.is_empty());
    let dashboards = aws
        .cloudwatch
        .list_dashboards()
        .send()
        .await
        .expect("list dashboards");
    assert!(dashboards.dashboard_entries().is_empty());
    let attributes = aws
        .sns
        .get_topic_attributes()
        .topic_arn(&topic_arn)
        .send()
        .await
        .expect("get topic attributes");
    let display_name = attributes.attributes().and_then(|a| a.get("DisplayName"));
    assert_ne!(display_name.map(String::as_str), Some("Alerts"));
    assert_eq!(
        common::secrets::value(&aws.secrets, "db").await.as_deref(),
        Some("old")
    );
    let services = aws
        .ecs
        .describe_services()
        .cluster("prod")
        .services("web")
        .send()
        .await
        .expect("describe services");
    let desired: Vec<i32> = services
        .services()
        .iter()
        .map(|s| s.desired_count())
        .collect();
    assert_eq!(desired, [1]);
}

#[tokio::test]
async fn invalid_fault_rules_are_rejected_with_a_reason() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);

    let err = proxy
        .try_faults(&json!([{"operation": "PutMetricAlarm", "action": "explode"}]))
        .unwrap_err();
    assert!(err.contains("action must be one of"), "{err}");
    let err = proxy
        .try_faults(&json!([{"action": "throttle", "every": 0}]))
        .unwrap_err();
    assert!(err.contains("every must be an integer >= 1"), "{err}");
    let err = proxy
        .try_faults(&json!([{"action": "drop", "opration": "PutMetricAlarm"}]))
        .unwrap_err();
    assert!(err.contains("unknown rule keys ['opration']"), "{err}");
    let err = proxy.try_faults(&json!({"action": "drop"})).unwrap_err();
    assert!(err.contains("JSON list"), "{err}");

    assert_eq!(
        proxy.rules(),
        json!([]),
        "a rejected list leaves the rules as they were"
    );
}
